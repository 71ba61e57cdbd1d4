#!/usr/bin/env bash
# Configures and builds one flavour of edgecache into build-<flavour>/:
#   release  optimised, for running and benchmarking (default)
#   asan     Debug + AddressSanitizer + UndefinedBehaviorSanitizer, for the tests
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-release}"
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) args=(-DCMAKE_BUILD_TYPE=Debug -DEDGECACHE_SANITIZE=ON) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "build-$flavour" -G Ninja "${args[@]}" "${launcher[@]}" >/dev/null
cmake --build "build-$flavour" -j "${JOBS:-2}"
