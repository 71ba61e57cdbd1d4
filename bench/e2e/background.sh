#!/usr/bin/env bash
# Hits while the store grows and while a tag purge's cleanup runs: background work must
# not halve the hit rate.
#
#   bench/e2e/background.sh [seconds per run, default 10]   env: FILL_SECONDS (default 20)
#
# One node (`--threads 1`, pinned to CPU 0) in front of origin-sim; wrk -t1 -c64 and the
# origin on CPU 1 (as bench/e2e/run.sh). Three measurements of hits on 100 hot 1 KiB
# objects:
#   fresh     a store holding only the hot objects
#   grown     after FILL_SECONDS of misses added as many other objects as they could, all
#             under the surrogate tag "bulk" (their index entries have left the memtable)
#   purging   right after `edgecachectl purge tag bulk` returned, while the node removes
#             those objects' index entries in the background
# and their ratios to "fresh".
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
fill_secs="${FILL_SECONDS:-20}"
for p in wrk curl taskset; do
  command -v "$p" >/dev/null || { echo "bench/e2e: needs $p" >&2; exit 1; }
done
[ -x build-release/server/edgecache ] || scripts/build.sh release >/dev/null
load_cpu=1
[ "$(nproc)" -ge 2 ] || load_cpu=0

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

taskset -c "$load_cpu" build-release/tools/origin-sim --listen 127.0.0.1:0 >"$work/origin.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/origin.out" 2>/dev/null && break; sleep 0.05; done
origin_port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/origin.out")
taskset -c 0 build-release/server/edgecache --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
  --origin "http://127.0.0.1:$origin_port" --store "$work/store" --capacity 8GiB \
  --ram-cache 1GiB --threads 1 --log-level error >"$work/node.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "admin on" "$work/node.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/node.out")
admin=$(sed -n 's/.*admin on .*:\([0-9]*\)$/\1/p' "$work/node.out")
objects() { curl -s "http://127.0.0.1:$admin/metrics" | awk '$1 == "edgecache_store_objects" { print $2 }'; }

cat >"$work/hot.lua" <<'LUA'
math.randomseed(42)
request = function()
  return wrk.format("GET", "/hot/" .. math.random(0, 99) .. "?cc=max-age%3D3600&size=1024")
end
LUA
cat >"$work/fill.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/bulk/" .. n .. "?cc=max-age%3D3600&size=1024&skey=bulk")
end
LUA
curl -s --no-progress-meter "http://127.0.0.1:$port/hot/[0-99]?cc=max-age%3D3600&size=1024" >/dev/null

hits() {  # label: one wrk run of hot hits; prints and records req/s
  local out rps
  out=$(taskset -c "$load_cpu" wrk -t1 -c64 -d"${secs}s" --latency -s "$work/hot.lua" "http://127.0.0.1:$port")
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  echo "$1 $rps $(echo "$out" | awk '$1 == "99%" { print $2 }') $(objects)" >>"$work/results"
}

hits fresh
taskset -c "$load_cpu" wrk -t1 -c64 -d"${fill_secs}s" -s "$work/fill.lua" "http://127.0.0.1:$port" >/dev/null
sleep 2
hits grown
purge_out=$(build-release/cli/edgecachectl --node "http://127.0.0.1:$admin" purge tag bulk)
hits purging
sleep 1

fresh=$(awk '$1 == "fresh" { print $2 }' "$work/results")
echo "hits on 100 hot 1 KiB objects, wrk -t1 -c64 -d${secs}s; node --threads 1 on CPU 0"
echo "purge tag bulk: $purge_out"
printf '%-10s %12s %10s %14s %10s\n' phase req/s p99 objects-after ratio
while read -r phase rps p99 objs; do
  printf '%-10s %12s %10s %14s %10s\n' "$phase" "$rps" "$p99" "$objs" \
    "$(awk -v a="$rps" -v b="$fresh" 'BEGIN { printf "%.2f", a / b }')"
done <"$work/results"
