#!/usr/bin/env bash
# Scenario: smart-revalidation — origins that forget validators.
#
# The origin sends neither ETag nor Last-Modified, so a browser has nothing to revalidate
# with and downloads the whole body again on every refresh. The node gives what it stores a
# Last-Modified of when it stored it (cache.synthesize_last_modified, on by default) and,
# with cache.content_etag, a strong ETag derived from the bytes; a browser's
# If-Modified-Since / If-None-Match then gets a 304 from the edge, with no origin call. The
# same browser (first load, then 20 refreshes that send whatever validators it was given)
# runs against a node with the feature off and one with it on.
#   scripts/scenarios/smart-revalidation.sh
SCENARIO=smart-revalidation
source "$(dirname "$0")/lib.sh"

start_origin ORIGIN
printf '[cache]\nsynthesize_last_modified = false\ncontent_etag = false\n' >"$WORK/off.toml"
printf '[cache]\nsynthesize_last_modified = true\ncontent_etag = true\n' >"$WORK/on.toml"
start_node OFF --config "$WORK/off.toml" --origin "http://127.0.0.1:$ORIGIN_PORT"
start_node ON --config "$WORK/on.toml" --origin "http://127.0.0.1:$ORIGIN_PORT"
path="/catalog.json?cc=max-age%3D600&etag=none&lm=none&size=65536"

echo "== the origin's own answer: no validators"
curl -s -D - -o /dev/null "http://127.0.0.1:$ORIGIN_PORT$path" | tr -d '\r' |
  grep -iE '^(HTTP|etag|last-modified|cache-control)' | sed 's/^/  /'

browse() {  # NAME PORT: a first load, then 20 refreshes with the validators it got
  local name=$1 port=$2 i lm etag n304=0 bytes=0 flags
  fetch "http://127.0.0.1:$port$path"
  fetch "http://127.0.0.1:$port$path"  # the browser's first load: a hit on the node
  lm=$LAST_MODIFIED etag=$ETAG
  echo "  first load from $name: ETag: ${etag:-(none)}  Last-Modified: ${lm:-(none)}"
  for i in $(seq 20); do
    flags=()
    [ -n "$etag" ] && flags+=(-H "If-None-Match: $etag")
    [ -n "$lm" ] && flags+=(-H "If-Modified-Since: $lm")
    fetch "http://127.0.0.1:$port$path" "${flags[@]}"
    [ "$STATUS" = 304 ] && n304=$((n304 + 1))
    bytes=$((bytes + BYTES))
  done
  printf -v "${name}_304" '%s' "$n304"
  printf -v "${name}_BYTES" '%s' "$bytes"
}

echo
echo "== a browser against each node: first load, then 20 refreshes"
origin_before=$(origin_stat "$ORIGIN_PORT" /catalog.json requests)
browse OFF "$OFF_PORT"
origin_mid=$(origin_stat "$ORIGIN_PORT" /catalog.json requests)
browse ON "$ON_PORT"
origin_after=$(origin_stat "$ORIGIN_PORT" /catalog.json requests)

echo
printf '  %-30s %18s %18s %16s\n' node "refreshes 304" "body bytes sent" "origin requests"
printf '  %-30s %15s/20 %18s %16s\n' "validators off" "$OFF_304" "$OFF_BYTES" "$((origin_mid - origin_before))"
printf '  %-30s %15s/20 %18s %16s\n' "synthesised validators on" "$ON_304" "$ON_BYTES" "$((origin_after - origin_mid))"
echo "  share of refreshes answered 304: off $((OFF_304 * 100 / 20))%, on $((ON_304 * 100 / 20))%"
echo

check "off: the browser got no validators, every refresh downloads the body" eq "$OFF_304" 0
check "on: every refresh is a 304 from the edge" eq "$ON_304" 20
check "on: no body bytes on refreshes" eq "$ON_BYTES" 0
check "on: the origin saw only the first fetch" eq "$((origin_after - origin_mid))" 1
fetch "http://127.0.0.1:$ON_PORT$path"
check "on: the ETag is a content ETag (\"ec-...\")" starts "$ETAG" '"ec-'
etag_on=$ETAG
fetch "http://127.0.0.1:$OFF_PORT$path" -H "If-None-Match: $etag_on"
check "off: the same If-None-Match gets the full body" eq "$STATUS" 200
finish
