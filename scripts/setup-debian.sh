#!/usr/bin/env bash
# Installs every Debian 12 package edgecache needs to build, test and benchmark.
# Run as root (or with sudo). Safe to run again: apt skips what is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  librocksdb-dev liburing-dev
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libcli11-dev libspdlog-dev libtomlplusplus-dev libxxhash-dev
  libgtest-dev libbenchmark-dev libjemalloc-dev
  clang-16 libfuzzer-16-dev libclang-rt-16-dev
  libssl-dev libhiredis-dev haproxy redis-server
  curl openssl tmux dpkg-dev systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
