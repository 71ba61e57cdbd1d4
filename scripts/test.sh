#!/usr/bin/env bash
# Installs dependencies, builds with ASan + UBSan, runs every test with ctest, then builds
# the libFuzzer targets and runs each for FUZZ_SECONDS (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/build.sh asan
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
(cd build-asan && ctest --output-on-failure -j 2 --timeout 900)
scripts/build.sh fuzz
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
