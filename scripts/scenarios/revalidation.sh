#!/usr/bin/env bash
# Scenario: revalidation — the cheap question with the expensive wait.
#
# One object with an ETag behind an origin that takes 200 ms to answer and sends bodies
# slowly (256 KiB in 8 parts, 30 ms apart). Fresh, it is served by the node alone; expired,
# the node asks the origin with If-None-Match; a 304 lets it serve the stored body (and
# refresh the TTL) without writing it again; a changed object comes back as a 200 that
# replaces body and ETag. no-store goes to the origin every time, no-cache revalidates every
# time. Each request prints how long the client waited for the first byte and how long the
# body took: the 304 saves the bytes, not the round trip.
#   scripts/scenarios/revalidation.sh
SCENARIO=revalidation
source "$(dirname "$0")/lib.sh"

start_origin ORIGIN
start_node EDGE --origin "http://127.0.0.1:$ORIGIN_PORT"
node="http://127.0.0.1:$EDGE_PORT"
shape="size=262144&delay_ms=200&trickle_ms=30"

printf '%-34s %6s %-62s %7s %7s %6s\n' request status cache-status wait-ms body-ms origin
row() {  # label path: fetch through the node and print one waterfall row
  fetch "$node$2"
  printf '%-34s %6s %-62s %7s %7s %6s\n' "$1" "$STATUS" "$(cache_result)" "$T_WAIT" "$T_BODY" \
    "$(origin_stat "$ORIGIN_PORT" "${2%%\?*}" requests)"
}
written() { node_metric "$EDGE_ADMIN" edgecache_store_written_bytes_total; }

echo "== an object with an ETag, fresh for 2 s (Cache-Control: max-age=2)"
p="/article?cc=max-age=2&$shape"
row "1 first request" "$p"
first_etag=$ETAG first_sha=$BODY_SHA
check "a miss is fetched and stored" contains "$CACHE_STATUS" "stored"
check "the origin sent an ETag" ne "$first_etag" ""
row "2 again, fresh" "$p"
check "fresh: a hit, served without asking the origin" starts "$(cache_result)" "hit"
check "fresh: the origin saw one request" eq "$(origin_stat "$ORIGIN_PORT" /article requests)" 1
check "fresh: no wait for the origin (< 100 ms to the first byte)" le "$T_WAIT" 100
bytes_before=$(written)
sleep 2.2
row "3 expired: origin answers 304" "$p"
check "expired: the node sent a conditional GET" eq "$(origin_stat "$ORIGIN_PORT" /article conditional)" 1
check "expired: the origin answered 304" eq "$(origin_stat "$ORIGIN_PORT" /article not_modified)" 1
check "304: the client got 200 with the stored body" eq "$STATUS $BODY_SHA" "200 $first_sha"
check "304: same ETag" eq "$ETAG" "$first_etag"
check "304: the wait is the origin's round trip (>= 200 ms)" ge "$T_WAIT" 200
check "304: the body was not written again" eq "$(written)" "$bytes_before"
wait_304=$T_WAIT body_304=$T_BODY
row "4 again: TTL refreshed by the 304" "$p"
check "after the 304 the object is fresh again: a hit" starts "$(cache_result)" "hit"
check "Age restarted at the 304" le "${AGE:-0}" 1

echo
echo "== the object changes at the origin (new body, new ETag)"
curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/__bump?path=/article"
sleep 2.2
row "5 expired: origin answers 200" "$p"
check "changed: the client got the new body" ne "$BODY_SHA" "$first_sha"
check "changed: and the new ETag" ne "$ETAG" "$first_etag"
check "changed: the node asked conditionally, the origin said 200" \
  eq "$(origin_stat "$ORIGIN_PORT" /article conditional)/$(origin_stat "$ORIGIN_PORT" /article not_modified)" "2/1"
check "changed: the new body was stored (bytes written grew)" ge "$(written)" "$((bytes_before + 262144))"
new_sha=$BODY_SHA
row "6 again" "$p"
check "the new version is a hit" starts "$BODY_SHA $(cache_result)" "$new_sha hit"

echo
echo "== no-store: never kept, the origin answers every time"
for i in 1 2 3; do row "no-store request $i" "/private-report?cc=no-store&$shape"; done
check "no-store: three requests, three origin requests" \
  eq "$(origin_stat "$ORIGIN_PORT" /private-report requests)" 3
check "no-store: never a conditional request" \
  eq "$(origin_stat "$ORIGIN_PORT" /private-report conditional)" 0

echo
echo "== no-cache: kept, but revalidated before every use"
for i in 1 2 3; do row "no-cache request $i" "/prices?cc=no-cache&$shape"; done
check "no-cache: stored once, revalidated twice (both 304)" \
  eq "$(origin_stat "$ORIGIN_PORT" /prices requests)/$(origin_stat "$ORIGIN_PORT" /prices conditional)/$(origin_stat "$ORIGIN_PORT" /prices not_modified)" "3/2/2"

echo
echo "The 304 (request 3) waited ${wait_304} ms for the origin, like the 200 (request 5), but its"
echo "body took ${body_304} ms from the node's store instead of the origin's slow send."
finish
