#!/usr/bin/env bash
# Scenario: pop — a point of presence: three nodes behind HAProxy, one purge log in Redis.
#
# HAProxy (the shipped deploy/haproxy/edgecache.cfg, unchanged) sends each URL to one node
# by consistent hashing; a purge is appended once to a Redis stream with
# `edgecachectl purge --cluster` and every node applies it, a node that was down too,
# before it serves again. Then: a node killed the moment it applied a purge applies it
# exactly once; a node that was away longer than the log kept its entries serves nothing
# from its store until an operator decides; a Redis outage stops no request.
#   scripts/scenarios/pop.sh
SCENARIO=pop
source "$(dirname "$0")/lib.sh"
for tool in haproxy redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "scenario: needs $tool (scripts/setup-debian.sh)" >&2; exit 2; }
done

REDIS_PORT=$(free_port)
start_redis
LOG="redis://127.0.0.1:$REDIS_PORT/purges"
CTL="$BUILD/cli/edgecachectl"

start_origin ORIGIN
# Nodes keep their ports across restarts: HAProxy knows them by address.
declare -A NODE_PID
for n in 1 2 3; do
  printf -v "NODE${n}_PORT" '%s' "$(free_port)"
  printf -v "NODE${n}_ADMIN" '%s' "$(free_port)"
  port_var="NODE${n}_PORT" admin_var="NODE${n}_ADMIN"
  pop_node_config "$n" "${!port_var}" "${!admin_var}" "$ORIGIN_PORT" "$LOG" >"$WORK/node$n.toml"
done
# start_pop_node N [env...]: node N on its ports; waits until it serves.
start_pop_node() {
  local n=$1 out="$WORK/node$1.out"
  shift
  : >"$out"
  env "$@" "$BUILD/server/edgecache" --config "$WORK/node$n.toml" >"$out" 2>&1 &
  NODE_PID[$n]=$!
  PIDS+=(${NODE_PID[$n]})
  wait_line "$out" "listening on"
}
stop_pop_node() { kill "${NODE_PID[$1]}"; wait "${NODE_PID[$1]}" 2>/dev/null || true; }
node_url() { local v="NODE$1_PORT"; echo "http://127.0.0.1:${!v}"; }
admin_of() { local v="NODE$1_ADMIN"; echo "${!v}"; }
# cluster_field N FIELD: a field of node N's GET /api/v1/cluster.
cluster_field() {
  curl -s "http://127.0.0.1:$(admin_of "$1")/api/v1/cluster" |
    sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}
# wait_applied ID N...: until each node N's position is ID (5 s).
wait_applied() {
  local id=$1 n
  shift
  for n in "$@"; do
    for _ in $(seq 100); do
      [ "$(cluster_field "$n" applied)" = "$id" ] && break
      sleep 0.05
    done
    [ "$(cluster_field "$n" applied)" = "$id" ] || return 1
  done
}
# cluster_purge KIND VALUE: edgecachectl purge --cluster; sets ID to the entry it appended.
cluster_purge() {
  ID=$("$CTL" --cluster "$LOG" --json purge "$1" "$2" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  printf '  edgecachectl --cluster %s purge %s %s: entry %s\n' "$LOG" "$1" "$2" "$ID"
}
for n in 1 2 3; do start_pop_node $n; done

FRONT_PORT=$(free_port)
EDGECACHE_POP_BIND="127.0.0.1:$FRONT_PORT" \
  EDGECACHE_NODE1="127.0.0.1:$NODE1_PORT" EDGECACHE_NODE1_ADMIN_PORT="$NODE1_ADMIN" \
  EDGECACHE_NODE2="127.0.0.1:$NODE2_PORT" EDGECACHE_NODE2_ADMIN_PORT="$NODE2_ADMIN" \
  EDGECACHE_NODE3="127.0.0.1:$NODE3_PORT" EDGECACHE_NODE3_ADMIN_PORT="$NODE3_ADMIN" \
  haproxy -db -f deploy/haproxy/edgecache.cfg >"$WORK/haproxy.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$FRONT_PORT") 2>/dev/null && break
  sleep 0.05
done
sleep 2.5 # two health checks one second apart mark every node up
front="http://127.0.0.1:$FRONT_PORT"

echo "== 60 URLs through HAProxy: each goes to one node, the same one every time"
declare -A OWNER
for i in $(seq 30); do
  for kind in t o; do
    path="/$kind/$i?cc=max-age%3D600&size=2000"
    [ $kind = t ] && path="$path&skey=T"
    fetch "$front$path"
    OWNER[$kind$i]=${CACHE_STATUS%%;*}
  done
done
declare -A SHARE
for k in "${!OWNER[@]}"; do SHARE[${OWNER[$k]}]=$((${SHARE[${OWNER[$k]}]:-0} + 1)); done
for n in node1 node2 node3; do printf '  %-6s holds %s of the 60 URLs\n' "$n" "${SHARE[$n]:-0}"; done
check "every node got a share" eq "${#SHARE[@]}" 3
again=0
for i in $(seq 30); do
  fetch "$front/o/$i?cc=max-age%3D600&size=2000"
  [ "${CACHE_STATUS%%;*}" = "${OWNER[o$i]}" ] && contains "$CACHE_STATUS" hit && again=$((again + 1))
done
check "asked again, each URL is a hit on the node that holds it (30 of 30)" eq "$again" 30
"$CTL" --cluster "$LOG" inspect "http://127.0.0.1/o/1?cc=max-age%3D600&size=2000" >"$WORK/where"
sed 's/^/  /' "$WORK/where"
check "edgecachectl --cluster inspect finds /o/1 on ${OWNER[o1]} only" eq \
  "$(awk '$3 == "yes" { print $1 }' "$WORK/where" | tr '\n' ' ')" "${OWNER[o1]} "
# Every node holds every T object too (asked directly), as after some failovers.
for n in 1 2 3; do
  for i in $(seq 30); do fetch "$(node_url $n)/t/$i?cc=max-age%3D600&size=2000&skey=T"; done
done
before_t=0
for i in $(seq 30); do before_t=$((before_t + $(origin_stat "$ORIGIN_PORT" "/t/$i" requests))); done

echo "== node3 stops; a deploy purges tag T with --cluster"
stop_pop_node 3
cluster_purge tag T
check "the two running nodes applied it at once" wait_applied "$ID" 1 2
"$CTL" --cluster "$LOG" stats | sed 's/^/  /'

echo "== node3 comes back: it applies what it missed before it serves"
start_pop_node 3
grep -o 'caught up at .*' "$WORK/node3.out" | sed 's/^/  node3: /'
check "node3's position is the log's end" eq "$(cluster_field 3 applied)" "$ID"
check "node3 applied the purge it missed" eq "$(cluster_field 3 applied_entries)" 1
misses=0 hits=0
for n in 1 2 3; do
  for i in $(seq 30); do
    fetch "$(node_url $n)/t/$i?cc=max-age%3D600&size=2000&skey=T"
    contains "$CACHE_STATUS" "fwd=miss" && misses=$((misses + 1))
  done
  for i in $(seq 30); do
    [ "${OWNER[o$i]}" = "node$n" ] || continue
    fetch "$(node_url $n)/o/$i?cc=max-age%3D600&size=2000"
    contains "$CACHE_STATUS" hit && hits=$((hits + 1))
  done
done
after_t=0
for i in $(seq 30); do after_t=$((after_t + $(origin_stat "$ORIGIN_PORT" "/t/$i" requests))); done
printf '  T objects: %s misses of 90 (3 nodes × 30); the origin was asked %s times more\n' \
  "$misses" "$((after_t - before_t))"
check "every T object on every node missed" eq "$misses" 90
check "the origin saw the 90 re-fetches" eq "$((after_t - before_t))" 90
check "every other object is still a hit where it was (30 of 30)" eq "$hits" 30

echo "== node3 is killed the moment it has applied a purge"
fetch "$(node_url 3)/u/1?cc=max-age%3D600&skey=U"
stop_pop_node 3
start_pop_node 3 EDGECACHE_TEST_KILL_AFTER_LOGGED_PURGE=1
fetch "$(node_url 3)/u/1?cc=max-age%3D600&skey=U"
check "before: U is a hit on node3" contains "$CACHE_STATUS" hit
cluster_purge tag U
status=0
wait "${NODE_PID[3]}" 2>/dev/null || status=$?
check "node3 died by SIGKILL (exit status $status)" eq "$status" 137
start_pop_node 3
check "after the restart its position is that purge" eq "$(cluster_field 3 applied)" "$ID"
check "and it applied nothing again" eq "$(cluster_field 3 applied_entries)" 0
fetch "$(node_url 3)/u/1?cc=max-age%3D600&skey=U"
check "the purge held: U misses once" contains "$CACHE_STATUS" "fwd=miss"
fetch "$(node_url 3)/u/1?cc=max-age%3D600&skey=U"
check "and is a hit again" contains "$CACHE_STATUS" hit

echo "== node3 is away longer than the log keeps its entries"
fetch "$(node_url 3)/v/1?cc=max-age%3D600&skey=V"
stop_pop_node 3
"$CTL" --cluster "$LOG" purge tag V >/dev/null
"$CTL" --cluster "$LOG" purge tag W >/dev/null
redis-cli -p "$REDIS_PORT" XTRIM purges MAXLEN 0 >/dev/null
start_pop_node 3
health=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$NODE3_ADMIN/healthz" | tr -d '\n')
printf '  node3 /healthz: %s\n' "$health"
check "its /healthz fails, so HAProxy sends it nothing" eq "$health" "purge log gap 503"
fetch "$(node_url 3)/v/1?cc=max-age%3D600&skey=V"
printf '  GET /v/1 on node3: %s\n' "$CACHE_STATUS"
check "asked directly, it serves from the origin, not its store" contains "$CACHE_STATUS" \
  'fwd=bypass; fwd-status=200; detail="purge log gap"'
"$CTL" --node "http://127.0.0.1:$NODE3_ADMIN" cluster | sed 's/^/  /'
"$CTL" --node "http://127.0.0.1:$NODE3_ADMIN" cluster resolve --purge >/dev/null
check "after 'cluster resolve --purge' it is healthy" eq \
  "$(curl -s "http://127.0.0.1:$NODE3_ADMIN/healthz")" ok
fetch "$(node_url 3)/o/1?cc=max-age%3D600&size=2000"
check "and its store was emptied: a miss" contains "$CACHE_STATUS" "fwd=miss"

echo "== Redis goes down: requests are still served, purges wait"
kill "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
fetch "$front/o/2?cc=max-age%3D600&size=2000"
check "a request through HAProxy is served ($STATUS, ${CACHE_STATUS%%;*})" eq "$STATUS" 200
rc=0
"$CTL" --cluster "$LOG" purge tag X >/dev/null 2>&1 || rc=$?
check "edgecachectl purge --cluster says Redis is unreachable (exit $rc)" eq "$rc" 3
for _ in $(seq 100); do
  [ "$(cluster_field 1 state)" = "purge log unreachable" ] && break
  sleep 0.05
done
printf '  node1 state: %s\n' "$(cluster_field 1 state)"
check "the nodes report it" eq "$(cluster_field 1 state)" "purge log unreachable"
start_redis
cluster_purge tag nothing-tagged
check "once Redis is back, a purge reaches every node again" wait_applied "$ID" 1 2 3
finish
