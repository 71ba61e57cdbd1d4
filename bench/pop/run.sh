#!/usr/bin/env bash
# The figures of a point of presence (docs/performance.md), on loopback: Redis, four
# edgecache nodes (release build), an origin-sim, and HAProxy with the shipped
# deploy/haproxy/edgecache.cfg.
#
#   1. keys moved: URLS distinct URLs through HAProxy with nodes 1-3, then with a fourth
#      node added, then with node 3 removed; how many URLs changed node
#   2. purge latency: from `purge --cluster` returning to every node having applied it
#      (p50/p99 over PURGES purges; bench/pop/purge_latency.cc)
#   3. catch-up: node 3 stopped, MISSED purges appended, node 3 started: how long it takes
#      to apply them and open its listener
#
#   bench/pop/run.sh            (URLS=3000 PURGES=100 MISSED=10000; EDGECACHE_BUILD=DIR)
URLS=${URLS:-3000}
PURGES=${PURGES:-100}
MISSED=${MISSED:-10000}
# Work directory, cleanup, free ports, origin-sim: the scenarios' helpers.
source "$(dirname "$0")/../../scripts/scenarios/lib.sh"
[ -x "$BUILD/bench/pop_purge_latency" ] || { echo "needs $BUILD/bench/pop_purge_latency" >&2; exit 2; }
for tool in haproxy redis-server curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (scripts/setup-debian.sh)" >&2; exit 2; }
done

REDIS_PORT=$(free_port)
start_redis
LOG="redis://127.0.0.1:$REDIS_PORT/purges"
start_origin ORIGIN

declare -A PORT ADMIN PID
start_node() {
  local n=$1
  "$BUILD/server/edgecache" --config "$WORK/node$n.toml" >"$WORK/node$n.out" 2>&1 &
  PID[$n]=$!
  PIDS+=(${PID[$n]})
  wait_line "$WORK/node$n.out" "listening on"
}
for n in 1 2 3 4; do
  PORT[$n]=$(free_port)
  ADMIN[$n]=$(free_port)
  pop_node_config "$n" "${PORT[$n]}" "${ADMIN[$n]}" "$ORIGIN_PORT" "$LOG" >"$WORK/node$n.toml"
  start_node $n
done

# through CONFIG: the node that answers each of the URLs, one per line.
through() {
  local cfg=$1 front
  front=$(free_port)
  EDGECACHE_POP_BIND="127.0.0.1:$front" \
    EDGECACHE_NODE1="127.0.0.1:${PORT[1]}" EDGECACHE_NODE1_ADMIN_PORT="${ADMIN[1]}" \
    EDGECACHE_NODE2="127.0.0.1:${PORT[2]}" EDGECACHE_NODE2_ADMIN_PORT="${ADMIN[2]}" \
    EDGECACHE_NODE3="127.0.0.1:${PORT[3]}" EDGECACHE_NODE3_ADMIN_PORT="${ADMIN[3]}" \
    EDGECACHE_NODE4="127.0.0.1:${PORT[4]}" EDGECACHE_NODE4_ADMIN_PORT="${ADMIN[4]}" \
    haproxy -db -f "$cfg" >"$WORK/haproxy.out" 2>&1 &
  local hp=$!
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$front") 2>/dev/null && break
    sleep 0.05
  done
  for i in $(seq "$URLS"); do
    printf 'url = "http://127.0.0.1:%s/k/%s?cc=max-age%%3D600"\noutput = "/dev/null"\n' "$front" "$i"
  done >"$WORK/urls.cfg"
  curl -s -K "$WORK/urls.cfg" -w '%header{cache-status}\n' | cut -d';' -f1
  kill "$hp"
  wait "$hp" 2>/dev/null || true
}

echo "== keys moved ($URLS URLs, consistent hashing, deploy/haproxy/edgecache.cfg)"
SHIPPED=deploy/haproxy/edgecache.cfg
sed 's/^    server node3 .*/&\n    server node4 "${EDGECACHE_NODE4}" port "${EDGECACHE_NODE4_ADMIN_PORT}"/' \
  "$SHIPPED" >"$WORK/four.cfg"
grep -v '^    server node3 ' "$SHIPPED" >"$WORK/two.cfg"
through "$SHIPPED" >"$WORK/three.txt"
through "$WORK/four.cfg" >"$WORK/four.txt"
through "$WORK/two.cfg" >"$WORK/two.txt"
for n in node1 node2 node3; do
  printf '  three nodes: %s holds %s\n' "$n" "$(grep -cx "$n" "$WORK/three.txt" || true)"
done
moved_add=$(paste -d' ' "$WORK/three.txt" "$WORK/four.txt" | awk '$1 != $2' | wc -l)
to_new=$(grep -cx node4 "$WORK/four.txt" || true)
printf '  node4 added:   %s of %s URLs moved (%.1f%%; ideal 25%%), %s of them to node4\n' \
  "$moved_add" "$URLS" "$(awk -v m="$moved_add" -v u="$URLS" 'BEGIN { print 100 * m / u }')" \
  "$to_new"
moved_rm=$(paste -d' ' "$WORK/three.txt" "$WORK/two.txt" | awk '$1 != $2' | wc -l)
stray=$(paste -d' ' "$WORK/three.txt" "$WORK/two.txt" | awk '$1 != $2 && $1 != "node3"' | wc -l)
printf '  node3 removed: %s of %s URLs moved (%.1f%%), %s of them not node3'"'"'s\n' \
  "$moved_rm" "$URLS" "$(awk -v m="$moved_rm" -v u="$URLS" 'BEGIN { print 100 * m / u }')" "$stray"

echo "== purge latency ($PURGES purges, three nodes)"
"$BUILD/bench/pop_purge_latency" --cluster "$LOG" --purges "$PURGES" \
  --nodes "http://127.0.0.1:${ADMIN[1]}" "http://127.0.0.1:${ADMIN[2]}" \
  "http://127.0.0.1:${ADMIN[3]}" | sed 's/^/  /'

echo "== catch-up: node3 misses $MISSED purges"
kill "${PID[3]}"
wait "${PID[3]}" 2>/dev/null || true
"$BUILD/bench/pop_purge_latency" --cluster "$LOG" --append "$MISSED" | sed 's/^/  /'
started=$(date +%s%N)
start_node 3
ready=$(date +%s%N)
grep -o 'caught up at .*' "$WORK/node3.out" | sed 's/^/  node3: /'
printf '  from start to listening: %.0f ms\n' "$(awk -v a="$started" -v b="$ready" 'BEGIN { print (b - a) / 1e6 }')"
