#!/usr/bin/env bash
# Scenario: etag-lab — ETags behind a load balancer.
#
# Three origin replicas behind HAProxy (round robin) serve the same bytes, each with a
# node-local ETag (as servers that mix an inode or a mtime into it do: origin-sim
# --replica-id). A client polls one URL through the node, sending back the ETag it was
# given; the object is max-age=0, so every poll makes the node revalidate with the balancer,
# which sends it to the next replica. The node's If-None-Match never matches the replica
# that answers it, so every revalidation is a 200 with the full body: the all-200s
# regression. The node keeps its stored body when such a 200 brings the same bytes
# (edgecache_revalidations_total{outcome="same_bytes"}; nothing rewritten on disk), but with
# cache.content_etag off the client's If-None-Match fails the same way and every poll
# downloads the body again. With content_etag = "always" clients get an ETag derived from
# the bytes, and their polls get 304s. The origin-to-node bytes stay: only the origin can
# save those (runbook.md). Then: a sub-second double update that fools If-Modified-Since
# into a stale 304 while If-None-Match stays right.
#   scripts/scenarios/etag-lab.sh [polls, default 30]
SCENARIO=etag-lab
source "$(dirname "$0")/lib.sh"
polls=${1:-30}

start_origin R1 --replica-id 1
start_origin R2 --replica-id 2
start_origin R3 --replica-id 3
start_haproxy LB "$(free_port)" "$R1_PORT" "$R2_PORT" "$R3_PORT"
printf '[cache]\ncontent_etag = false\n' >"$WORK/off.toml"
printf '[cache]\ncontent_etag = "always"\n' >"$WORK/on.toml"
start_node BEFORE --config "$WORK/off.toml" --origin "http://127.0.0.1:$LB_PORT"
start_node AFTER --config "$WORK/on.toml" --origin "http://127.0.0.1:$LB_PORT"
path="/api/dashboard.json?cc=max-age%3D0&size=32768"

echo "== on the wire: the same URL from each replica"
printf '  %-9s %-30s %-32s %s\n' replica ETag Last-Modified "body sha256"
etags=() shas=()
for p in "$R1_PORT" "$R2_PORT" "$R3_PORT"; do
  fetch "http://127.0.0.1:$p$path"
  printf '  %-9s %-30s %-32s %s\n' "$(header X-Replica)" "$ETAG" "$LAST_MODIFIED" "$BODY_SHA"
  etags+=("$ETAG")
  shas+=("$BODY_SHA")
done
check "three replicas, three ETags" eq "$(printf '%s\n' "${etags[@]}" | sort -u | wc -l)" 3
check "for the same bytes" eq "$(printf '%s\n' "${shas[@]}" | sort -u | wc -l)" 1
echo
echo "  the one-command check (docs/runbook.md):"
echo "  \$ edgecachectl etag-check http://www.example.com$path --via R1 --via R2 --via R3"
set +e
"$BUILD/cli/edgecachectl" etag-check "http://www.example.com$path" --via "127.0.0.1:$R1_PORT" \
  --via "127.0.0.1:$R2_PORT" --via "127.0.0.1:$R3_PORT" >"$WORK/etag-check.out" 2>&1
rc=$?
set -e
sed 's/^/  /' "$WORK/etag-check.out"
check "etag-check says INCONSISTENT and exits 6" \
  eq "$rc $(grep -c INCONSISTENT "$WORK/etag-check.out")" "6 1"

metric() { node_metric "$1" "$2"; }
poll() {  # NAME PORT ADMIN: polls through one node; sets NAME_* results
  local name=$1 port=$2 admin=$3 etag="" i n304=0 bytes=0 o0 w0 o1 w1
  o0=$(metric "$admin" edgecache_origin_bytes_total)
  w0=$(metric "$admin" edgecache_store_written_bytes_total)
  for i in $(seq "$polls"); do
    if [ -n "$etag" ]; then
      fetch "http://127.0.0.1:$port$path" -H "If-None-Match: $etag"
    else
      fetch "http://127.0.0.1:$port$path"
    fi
    [ "$STATUS" = 304 ] && n304=$((n304 + 1))
    bytes=$((bytes + BYTES))
    [ -n "$ETAG" ] && etag=$ETAG
  done
  o1=$(metric "$admin" edgecache_origin_bytes_total)
  w1=$(metric "$admin" edgecache_store_written_bytes_total)
  printf -v "${name}_304" '%s' "$n304"
  printf -v "${name}_BYTES" '%s' "$bytes"
  printf -v "${name}_ORIGIN" '%s' "$((o1 - o0))"
  printf -v "${name}_WRITTEN" '%s' "$((w1 - w0))"
  printf -v "${name}_REVAL" '%s' "$(for o in not_modified same_bytes replaced; do
    printf '%s=%s ' "$o" "$(metric "$admin" "edgecache_revalidations_total{outcome=\"$o\"}")"
  done)"
}

echo
echo "== a client polls $path $polls times, sending back the ETag it got"
poll BEFORE "$BEFORE_PORT" "$BEFORE_ADMIN"
poll AFTER "$AFTER_PORT" "$AFTER_ADMIN"
printf '  %-22s %12s %14s %12s %14s %14s\n' node "client 304s" "client bytes" "bytes/poll" \
  "origin bytes" "disk written"
for n in BEFORE AFTER; do
  v304=${n}_304 vbytes=${n}_BYTES vorigin=${n}_ORIGIN vwritten=${n}_WRITTEN
  label="content_etag off"
  [ "$n" = AFTER ] && label="content_etag always"
  printf '  %-22s %9s/%-2s %14s %12s %14s %14s\n' "$label" "${!v304}" "$polls" "${!vbytes}" \
    "$((${!vbytes} / polls))" "${!vorigin}" "${!vwritten}"
done
echo "  node revalidations, off:    $BEFORE_REVAL"
echo "  node revalidations, always: $AFTER_REVAL"
echo "  \$ curl -s ADMIN/metrics | grep edgecache_revalidations_total   (the content_etag off node)"
curl -s "http://127.0.0.1:$BEFORE_ADMIN/metrics" | grep '^edgecache_revalidations_total' | sed 's/^/  /'
set +e
"$BUILD/cli/edgecachectl" etag-check "http://127.0.0.1$path" --via "127.0.0.1:$AFTER_PORT" \
  --via "127.0.0.1:$AFTER_PORT" >"$WORK/etag-check-nodes.out" 2>&1
rc=$?
set -e
echo "  \$ edgecachectl etag-check ... --via NODE --via NODE   (the content_etag always node, twice)"
sed 's/^/  /' "$WORK/etag-check-nodes.out"
check "through the always node the validators are consistent" eq "$rc" 0
check "off: most polls download the body again (fewer than half are 304)" \
  le "$((BEFORE_304 * 2))" "$polls"
check "always: every poll after the first two is a 304" ge "$AFTER_304" "$((polls - 2))"
check "always: the client downloads the body at most twice" le "$AFTER_BYTES" "$((2 * 32768))"
check "always: 200s with the same bytes keep the stored body" \
  contains "$AFTER_REVAL" "replaced=0"
check "always: the body was written once" le "$AFTER_WRITTEN" "$((32768 + 4096))"
check "off: the node's revalidations all got 200s (no 304 from another replica)" \
  contains "$BEFORE_REVAL" "not_modified=0"
check "off: the same bytes were not rewritten either" le "$BEFORE_WRITTEN" "$((32768 + 4096))"

echo
echo "== the one-second blind spot of Last-Modified (replica 1, directly)"
r1="http://127.0.0.1:$R1_PORT"
doc="/doc.html?cc=max-age%3D60&size=4096"
# Start just after a second boundary so that both updates fall in the same second.
while [ "$(date +%N | cut -c1)" != 0 ]; do sleep 0.02; done
curl -s -o /dev/null "$r1/__bump?path=/doc.html"
fetch "$r1$doc"
lm=$LAST_MODIFIED etag=$ETAG v2=$BODY_SHA
curl -s -o /dev/null "$r1/__bump?path=/doc.html"
echo "  version 2: ETag $etag, Last-Modified $lm; version 3 published in the same second"
fetch "$r1$doc" -H "If-Modified-Since: $lm"
echo "  If-Modified-Since: $lm  -> $STATUS"
ims_status=$STATUS
fetch "$r1$doc" -H "If-None-Match: $etag"
echo "  If-None-Match: $etag  -> $STATUS (body changed: $([ "$BODY_SHA" != "$v2" ] && echo yes || echo no))"
check "If-Modified-Since is fooled: 304 for a body that changed" eq "$ims_status" 304
check "If-None-Match sees the change: 200 with the new body" eq "$STATUS $([ "$BODY_SHA" != "$v2" ] && echo new)" "200 new"
finish
