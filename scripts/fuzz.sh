#!/usr/bin/env bash
# Runs every libFuzzer target of build-fuzz/ (scripts/build.sh fuzz) for SECONDS each
# (default 20), one after another, starting from the seed corpus in tests/fuzz/corpus/.
# New corpus entries go to a temporary directory, never into the repository. A crash
# stops the run with exit 1 and names the input that caused it (kept under $FUZZ_OUT,
# default a temporary directory); add it to the seed corpus with the fix.
#
#   scripts/fuzz.sh 20                    # what CI runs
#   scripts/fuzz.sh 3600                  # a long run (docs/security.md)
#   scripts/fuzz.sh 600 range_fuzz        # one target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(request_routing_fuzz cache_control_fuzz http_date_fuzz range_fuzz index_value_fuzz
           chunk_record_fuzz)
fi
out="${FUZZ_OUT:-$(mktemp -d)}"
mkdir -p "$out"
failed=0
passed=0
for t in "${targets[@]}"; do
  bin="build-fuzz/tests/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is missing: run scripts/build.sh fuzz" >&2; exit 2; }
  work="$out/$t-corpus"
  mkdir -p "$work"
  log="$out/$t.log"
  # One worker: the CI machine has two cores and runs nothing else meanwhile.
  if "$bin" "$work" "tests/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$out/$t-" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $t: $runs executions in ${seconds}s, no crash"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "fuzz: $t: FAILED; the input is $(ls "$out/$t-"* 2>/dev/null | grep -v corpus | head -1)" >&2
    grep -m5 -E 'ERROR|SUMMARY|==[0-9]+==' "$log" >&2 || tail -20 "$log" >&2
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
