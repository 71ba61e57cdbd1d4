#!/usr/bin/env bash
# Configures and builds one flavour of edgecache into build-<flavour>/:
#   release  optimised, for running and benchmarking (default)
#   asan     Debug + AddressSanitizer + UndefinedBehaviorSanitizer, for the tests
#   fuzz     clang-16 + libFuzzer + ASan/UBSan, only the fuzz targets (scripts/fuzz.sh runs them)
# release and asan also build the epoll twins, server/edgecache-epoll and cli/edgecachectl-epoll
# (a second configuration in build-<flavour>/epoll; server/src/util/event_loop.h).
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-release}"
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) args=(-DCMAKE_BUILD_TYPE=Debug -DEDGECACHE_SANITIZE=ON) ;;
  fuzz) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGECACHE_FUZZ=ON -DEDGECACHE_TESTS=OFF
              -DEDGECACHE_BENCH=OFF -DCMAKE_CXX_COMPILER=clang++-16) ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
targets=()
[ "$flavour" = fuzz ] && targets=(--target fuzzers)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "build-$flavour" -G Ninja "${args[@]}" "${launcher[@]}" >/dev/null
cmake --build "build-$flavour" -j "${JOBS:-2}" "${targets[@]}"
