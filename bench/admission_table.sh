#!/usr/bin/env bash
# Admission policies side by side (docs/performance.md): three synthetic traces (Zipf 0.8
# and 1.0 with 30% one-hit wonders; Zipf 1.0 with a scan burst) replayed by
# bench/trace_replay at 1%, 10% and 30% of each trace's footprint (its unique bytes), with
# --admission all and probation, one after the other in one run. Prints a Markdown table:
# miss ratios, bytes written per unique byte, and probation's ratios to all.
#   bench/admission_table.sh BUILD/bench/trace_replay [REQUESTS] [OBJECTS]
set -euo pipefail
BIN=$1
REQUESTS=${2:-400000}
OBJECTS=${3:-40000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
field() { tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

traces=(
  "zipf0.8 --alpha 0.8 --one-hit-share 0.3"
  "zipf1.0 --alpha 1.0 --one-hit-share 0.3"
  "scan --alpha 1.0 --one-hit-share 0.1 --scan $((REQUESTS / 4))"
)
echo "| trace | cache | object miss all | probation | byte miss all | probation |" \
  "written/unique all | probation | written ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in "${traces[@]}"; do
  set -- $t
  name=$1
  shift
  "$BIN" --generate "$WORK/$name.csv" --format csv --requests "$REQUESTS" --objects "$OBJECTS" \
    "$@" >/dev/null
  unique=$(awk -F, 'NR > 1 && !seen[$2]++ { s += $3 } END { printf "%d", s }' "$WORK/$name.csv")
  for pct in 1 10 30; do
    size=$((unique * pct / 100))
    declare -A om bm wr
    for policy in all probation; do
      out=$("$BIN" --trace "$WORK/$name.csv" --format csv --cache-size "$size" \
        --admission "$policy" --store "$WORK/store")
      rm -rf "$WORK/store"
      om[$policy]=$(echo "$out" | field object_miss_ratio)
      bm[$policy]=$(echo "$out" | field byte_miss_ratio)
      wr[$policy]=$(echo "$out" | field bytes_written)
    done
    awk -v n="$name" -v p="$pct" -v u="$unique" -v oa="${om[all]}" -v op="${om[probation]}" \
      -v ba="${bm[all]}" -v bp="${bm[probation]}" -v wa="${wr[all]}" -v wp="${wr[probation]}" \
      'BEGIN { printf "| %s | %d%% | %.4f | %.4f | %.4f | %.4f | %.3f | %.3f | %.3f× |\n",
               n, p, oa, op, ba, bp, wa / u, wp / u, wa ? wp / wa : 0 }'
  done
done
