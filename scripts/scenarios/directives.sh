#!/usr/bin/env bash
# Scenario: directives — a shared cache's rules, one at a time.
#
# s-maxage over max-age (and private never stored), stale-while-revalidate answering at once
# while one background refresh runs, stale-if-error when the origin fails, must-revalidate
# beating it, immutable against a browser's reload, Vary: Accept-Encoding keeping br / gzip /
# identity variants of one URL, tracking parameters folded into one cache key, and a purge by
# Surrogate-Key during a deploy.
#   scripts/scenarios/directives.sh
SCENARIO=directives
source "$(dirname "$0")/lib.sh"

start_origin ORIGIN
cat >"$WORK/node.toml" <<'TOML'
[cache]
strip_query_params = ["utm_*", "fbclid", "gclid"]
sort_query = true
TOML
start_node EDGE --config "$WORK/node.toml" --origin "http://127.0.0.1:$ORIGIN_PORT"
node="http://127.0.0.1:$EDGE_PORT"
ctl=("$BUILD/cli/edgecachectl" --node "http://127.0.0.1:$EDGE_ADMIN")
origin() { origin_stat "$ORIGIN_PORT" "$1" requests; }
show() {  # label url [curl flags]: fetch and print one line
  local label=$1 url=$2
  shift 2
  fetch "$node$url" "$@"
  printf '  %-48s %s  %-58s origin=%s\n' "$label" "$STATUS" "$(cache_result)" "$(origin "${url%%\?*}")"
}

echo "== s-maxage is the shared cache's max-age; private is never stored"
show "max-age=0, s-maxage=60: first" "/smax?cc=max-age%3D0,s-maxage%3D60"
show "max-age=0, s-maxage=60: again" "/smax?cc=max-age%3D0,s-maxage%3D60"
check "s-maxage=60 makes the node keep it (max-age=0 is for browsers)" starts "$(cache_result)" hit
check "the browser still gets max-age=0 in Cache-Control" contains "$(header Cache-Control)" "max-age=0"
show "private, max-age=60: first" "/account?cc=private,max-age%3D60"
show "private, max-age=60: again" "/account?cc=private,max-age%3D60"
check "private: both requests went to the origin" eq "$(origin /account)" 2

echo
echo "== stale-while-revalidate: answered at once, refreshed once in the background"
swr="/feed?cc=max-age%3D8,stale-while-revalidate%3D30&delay_ms=1000"
show "max-age=8, swr=30, origin takes 1 s" "$swr"
sleep 8.2
curls=()
for i in 1 2 3 4 5; do
  curl -s -o /dev/null -w '%{time_total}\n' "$node$swr" >"$WORK/swr.$i" &
  curls+=($!)
done
wait "${curls[@]}"
slowest=$(cat "$WORK"/swr.* | sort -g | tail -1 | awk '{ printf "%.0f", $1 * 1000 }')
echo "  5 concurrent requests after expiry: slowest answered in ${slowest} ms"
check "stale-while-revalidate: no client waited for the 1 s origin" le "$slowest" 500
sleep 2.5
check "one background refresh for the five (origin: 2 requests in all)" eq "$(origin /feed)" 2
show "afterwards" "$swr"
check "after the refresh the object is fresh: a hit, not stale" eq "$(starts "$(cache_result)" hit && lacks "$CACHE_STATUS" stale && echo fresh-hit)" fresh-hit

echo
echo "== stale-if-error: the origin fails, the stored copy is served"
sie="/menu?cc=max-age%3D1,stale-if-error%3D600"
show "max-age=1, stale-if-error=600" "$sie"
good=$BODY_SHA
curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/__status?path=/menu&status=503"
sleep 1.2
show "expired, origin answers 503" "$sie"
check "stale-if-error: the client got the stored body with 200" eq "$STATUS $BODY_SHA" "200 $good"
check "Cache-Status says it was stale" contains "$CACHE_STATUS" "stale"

echo
echo "== must-revalidate beats stale-if-error"
mr="/balance?cc=max-age%3D1,must-revalidate,stale-if-error%3D600"
show "max-age=1, must-revalidate, stale-if-error=600" "$mr"
curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/__status?path=/balance&status=503"
sleep 1.2
show "expired, origin answers 503" "$mr"
check "must-revalidate: the origin's failure reaches the client, no stale body" starts "$STATUS" 5

echo
echo "== immutable: a browser's reload (Cache-Control: no-cache) does not reach the origin"
show "max-age=60, immutable" "/app.3f9c.js?cc=max-age%3D60,immutable"
show "reload (request no-cache)" "/app.3f9c.js?cc=max-age%3D60,immutable" -H 'Cache-Control: no-cache'
check "immutable and fresh: the reload is a hit" starts "$(cache_result)" hit
show "max-age=60, not immutable" "/app.js?cc=max-age%3D60"
show "reload (request no-cache)" "/app.js?cc=max-age%3D60" -H 'Cache-Control: no-cache'
check "without immutable the reload revalidates with the origin" eq "$(origin_stat "$ORIGIN_PORT" /app.js conditional)" 1

echo
echo "== Vary: Accept-Encoding: one URL, one variant per encoding"
v="/style.css?cc=max-age%3D60&vary=Accept-Encoding&echo=1"
for ae in "br" "gzip" "identity" "gzip, deflate, br" "br;q=1.0, gzip;q=0.8" "gzip"; do
  show "Accept-Encoding: $ae" "$v" -H "Accept-Encoding: $ae"
  seen=$(grep -i '^accept-encoding:' "$WORK/last.body" | tr -d '\r' | sed 's/^[^:]*: *//')
  echo "      origin saw Accept-Encoding: ${seen:-(none)}"
done
check "six requests, three variants fetched (br, gzip, identity)" eq "$(origin /style.css)" 3

echo
echo "== tracking parameters: one cache key"
for q in "a=1&b=2" "b=2&a=1&utm_source=mail" "a=1&fbclid=XyZ&b=2" "utm_campaign=x&gclid=1&b=2&a=1"; do
  show "?$q" "/landing?$q&cc=max-age%3D60"
done
check "four spellings, one origin request" eq "$(origin /landing)" 1

echo
echo "== a deploy: three objects change, their Surrogate-Key is purged"
for o in a b c; do show "/release/$o (Surrogate-Key: release-42)" "/release/$o?cc=max-age%3D3600&skey=release-42"; done
for o in d e; do show "/static/$o (Surrogate-Key: static)" "/static/$o?cc=max-age%3D3600&skey=static"; done
declare -A before
for o in a b c; do
  fetch "$node/release/$o?cc=max-age%3D3600&skey=release-42"
  before[$o]=$BODY_SHA
  curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/__bump?path=/release/$o"
done
echo "  origin bumped /release/a, /release/b, /release/c (new bodies)"
fetch "$node/release/a?cc=max-age%3D3600&skey=release-42"
check "before the purge the old version is still served (fresh for an hour)" eq "$BODY_SHA" "${before[a]}"
echo "  \$ edgecachectl purge tag release-42"
"${ctl[@]}" purge tag release-42 | sed 's/^/  /'
for o in a b c; do
  show "/release/$o after the purge" "/release/$o?cc=max-age%3D3600&skey=release-42"
  check "/release/$o: the new version, fetched from the origin" \
    eq "$(starts "$(cache_result)" fwd=miss && echo miss) $([ "$BODY_SHA" != "${before[$o]}" ] && echo new)" "miss new"
done
for o in d e; do
  show "/static/$o after the purge" "/static/$o?cc=max-age%3D3600&skey=static"
  check "/static/$o: untouched, still a hit" starts "$(cache_result)" hit
done
finish
