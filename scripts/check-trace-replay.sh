#!/usr/bin/env bash
# A check of bench/trace_replay (ctest bench.trace_replay): on a generated trace, a cache
# that holds everything misses only on first requests (its object miss ratio is the unique
# ids over the requests, counted here with awk from the trace itself) and writes each unique
# byte about once; a cache of a tenth of the footprint misses more; there, admission
# probation misses no more and writes at most half as much. Both trace formats.
#   scripts/check-trace-replay.sh BUILD/bench/trace_replay
set -euo pipefail
BIN=$1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "check-trace-replay: $*" >&2; exit 1; }
field() { tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

"$BIN" --generate "$WORK/t.csv" --format csv --requests 20000 --objects 2000 --alpha 0.9 \
  --one-hit-share 0.3 --mean-size 16384 --scan 500 >/dev/null
"$BIN" --generate "$WORK/t.bin" --format oracleGeneral --requests 20000 --objects 2000 \
  --alpha 0.9 --one-hit-share 0.3 --mean-size 16384 --scan 500 >/dev/null
requests=$(awk -F, 'NR > 1' "$WORK/t.csv" | wc -l)
unique=$(awk -F, 'NR > 1 { print $2 }' "$WORK/t.csv" | sort -u | wc -l)
unique_bytes=$(awk -F, 'NR > 1 && !seen[$2]++ { s += $3 } END { print s }' "$WORK/t.csv")
expected=$(awk -v u="$unique" -v r="$requests" 'BEGIN { printf "%.4f", u / r }')

for trace in "$WORK/t.csv csv" "$WORK/t.bin oracleGeneral"; do
  set -- $trace
  out=$("$BIN" --trace "$1" --format "$2" --cache-size 1GiB)
  echo "$out" | tail -1
  [ "$(echo "$out" | field requests)" = "$requests" ] || fail "$2: requests"
  [ "$(echo "$out" | field object_miss_ratio)" = "$expected" ] ||
    fail "$2: an ample cache should miss $expected (unique/requests)"
  written=$(echo "$out" | field bytes_written)
  awk -v w="$written" -v u="$unique_bytes" 'BEGIN { exit !(w >= u && w < 1.1 * u) }' ||
    fail "$2: wrote $written bytes for $unique_bytes unique"
done
small=$("$BIN" --trace "$WORK/t.csv" --format csv --cache-size "$((unique_bytes / 10))")
echo "$small" | tail -1
awk -v s="$(echo "$small" | field object_miss_ratio)" -v e="$expected" 'BEGIN { exit !(s > e) }' ||
  fail "a cache of a tenth of the footprint should miss more than $expected"
# Admission: at a tenth of the footprint, probation misses no more than all (within 1%)
# and writes at most half as many bytes.
probation=$("$BIN" --trace "$WORK/t.csv" --format csv --cache-size "$((unique_bytes / 10))" \
  --admission probation)
echo "$probation" | tail -1
awk -v a="$(echo "$small" | field object_miss_ratio)" \
  -v p="$(echo "$probation" | field object_miss_ratio)" 'BEGIN { exit !(p <= a + 0.01) }' ||
  fail "probation should miss no more than all"
awk -v a="$(echo "$small" | field bytes_written)" \
  -v p="$(echo "$probation" | field bytes_written)" 'BEGIN { exit !(p <= 0.5 * a) }' ||
  fail "probation should write at most half of what all writes"
echo "check-trace-replay: ok"
