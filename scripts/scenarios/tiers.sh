#!/usr/bin/env bash
# Scenario: tiers — edge → gateway → origin.
#
# Two nodes: an edge whose misses and revalidations go to a gateway (`--parent`), and the
# gateway in front of the origin. Fresh, stale and not-cached paths through both tiers; many
# edge misses for one URL make one origin fetch; an origin 404 reaches the client as a 404;
# with the origin gone, stale copies are served unless they carry must-revalidate or
# proxy-revalidate (then 504), and past their stale-if-error window only within a client's
# max-stale. Cache-Status lists each tier, the one closest to the origin first.
#   scripts/scenarios/tiers.sh
SCENARIO=tiers
source "$(dirname "$0")/lib.sh"

start_origin ORIGIN
start_node GATEWAY --origin "http://127.0.0.1:$ORIGIN_PORT"
start_node EDGE --origin "http://127.0.0.1:$ORIGIN_PORT" --parent "http://127.0.0.1:$GATEWAY_PORT"
edge="http://127.0.0.1:$EDGE_PORT"
origin() { origin_stat "$ORIGIN_PORT" "$1" requests; }
show() {  # label url [curl flags]
  local label=$1 url=$2
  shift 2
  fetch "$edge$url" "$@"
  printf '  %-40s %s  %s\n' "$label" "$STATUS" "$CACHE_STATUS"
}
tier() {  # NAME: that tier's member of the last Cache-Status (without the name)
  echo "$CACHE_STATUS" | tr ',' '\n' | sed 's/^ *//' | awk -v n="$1" -F'; ' '$1 == n { sub(/^[^;]*; */, ""); print }'
}

echo "== fresh: the first request passes both tiers, then the edge answers alone"
show "GET /logo.png (first)" "/logo.png?cc=max-age%3D600"
check "the first request was a miss at the gateway and at the edge" \
  eq "$(starts "$(tier gateway)" fwd=miss && starts "$(tier edge)" fwd=miss && echo both)" both
show "GET /logo.png (again)" "/logo.png?cc=max-age%3D600"
check "again: a hit at the edge" starts "$(tier edge)" hit
"$BUILD/cli/edgecachectl" --node "http://127.0.0.1:$EDGE_ADMIN" purge url "$edge/logo.png?cc=max-age%3D600" >/dev/null
show "GET /logo.png (edge copy purged)" "/logo.png?cc=max-age%3D600"
check "with the edge's copy purged: a miss at the edge, a hit at the gateway" \
  eq "$(starts "$(tier edge)" fwd=miss && starts "$(tier gateway)" hit && echo yes)" yes
check "the origin answered once for the three" eq "$(origin /logo.png)" 1

echo
echo "== 20 clients miss the same URL at the edge at once (origin takes 300 ms)"
curls=()
for i in $(seq 20); do
  curl -s -o /dev/null "$edge/video/seg-1.ts?cc=max-age%3D600&delay_ms=300&size=200000" &
  curls+=($!)
done
wait "${curls[@]}"
echo "  origin requests for /video/seg-1.ts: $(origin /video/seg-1.ts)"
check "20 edge misses, one origin fetch" eq "$(origin /video/seg-1.ts)" 1

echo
echo "== stale: the edge revalidates through the gateway, which revalidates with the origin"
show "GET /news (max-age=1)" "/news?cc=max-age%3D1"
sleep 2.2
show "GET /news (2 s later)" "/news?cc=max-age%3D1"
check "the gateway's revalidation got a 304 from the origin" \
  eq "$(origin_stat "$ORIGIN_PORT" /news not_modified)" 1
check "the client got the stored body (200)" eq "$STATUS" 200

echo
echo "== not cached: no-store passes both tiers every time"
show "GET /cart (no-store)" "/cart?cc=no-store"
show "GET /cart (no-store)" "/cart?cc=no-store"
check "no-store: two requests, two origin requests" eq "$(origin /cart)" 2

echo
echo "== the origin answers 404"
show "GET /gone" "/gone?status=404&cc=max-age%3D600"
check "the client gets the origin's 404" eq "$STATUS" 404

echo
echo "== the origin goes away"
show "GET /home (plain, max-age=1)" "/home?cc=max-age%3D1"
show "GET /terms (must-revalidate)" "/terms?cc=max-age%3D1,must-revalidate"
show "GET /profile (proxy-revalidate)" "/profile?cc=max-age%3D1,proxy-revalidate"
show "GET /prices (stale-if-error=1)" "/prices?cc=max-age%3D1,stale-if-error%3D1"
home_sha=$BODY_SHA
fetch "$edge/home?cc=max-age%3D1"
home_sha=$BODY_SHA
kill "${PIDS[0]}"
wait "${PIDS[0]}" 2>/dev/null || true
echo "  (origin stopped)"
sleep 3.5
show "GET /home" "/home?cc=max-age%3D1"
check "a plain stale copy is served when the origin is unreachable" eq "$STATUS $BODY_SHA" "200 $home_sha"
check "and Cache-Status says stale" contains "$CACHE_STATUS" stale
show "GET /terms" "/terms?cc=max-age%3D1,must-revalidate"
check "must-revalidate: 504, never stale" eq "$STATUS" 504
show "GET /profile" "/profile?cc=max-age%3D1,proxy-revalidate"
check "proxy-revalidate: 504, never stale" eq "$STATUS" 504
show "GET /prices (2 s past stale-if-error)" "/prices?cc=max-age%3D1,stale-if-error%3D1"
check "past its stale-if-error window: no stale copy" ne "$STATUS" 200
show "GET /prices, client max-stale=60" "/prices?cc=max-age%3D1,stale-if-error%3D1" -H 'Cache-Control: max-stale=60'
check "within the client's max-stale: the stale copy is served" eq "$STATUS" 200
show "GET /prices, client max-stale=1" "/prices?cc=max-age%3D1,stale-if-error%3D1" -H 'Cache-Control: max-stale=1'
check "beyond the client's max-stale: no stale copy" ne "$STATUS" 200
finish
