#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs an edgecache node in front of
# origin-sim, with its store in ./demo-store (kept between runs: restart it and the
# objects are still there). Shows a miss, a hit and a revalidation, then serves until
# Ctrl-C.  PORT (8080), ADMIN_PORT (8081) and ORIGIN_PORT (9000) may be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/build.sh release

port="${PORT:-8080}" admin="${ADMIN_PORT:-8081}" origin="${ORIGIN_PORT:-9000}"
build-release/tools/origin-sim --listen "127.0.0.1:$origin" &
origin_pid=$!
build-release/server/edgecache --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" \
  --origin "http://127.0.0.1:$origin" --store demo-store --access-log demo-store.access.log &
node_pid=$!
trap 'kill $node_pid $origin_pid 2>/dev/null; wait $node_pid $origin_pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.1; done

show() {
  echo "\$ curl -si '$1' | grep -iE '^(HTTP|cache-status|age)'"
  curl -si "$1" | grep -iE '^(HTTP|cache-status|age)' | tr -d '\r'
  echo
}
base="http://127.0.0.1:$port"
echo "== a miss, stored (Cache-Control: max-age=60 from the origin) =="
show "$base/hello?cc=max-age=60&size=1024"
echo "== the same URL again: a hit from the store =="
show "$base/hello?cc=max-age=60&size=1024"
echo "== max-age=0: stored, then revalidated with If-None-Match (304 from origin, stored body served) =="
show "$base/reval?cc=max-age=0&size=2048"
show "$base/reval?cc=max-age=0&size=2048"
echo "origin-sim counted for /reval: $(curl -s "http://127.0.0.1:$origin/__stats?path=/reval")"
echo
ctl=(build-release/cli/edgecachectl --node "http://127.0.0.1:$admin")
echo "== edgecachectl: what the node holds for /hello, and its counters =="
echo "\$ edgecachectl inspect '$base/hello?cc=max-age=60&size=1024'"
"${ctl[@]}" inspect "$base/hello?cc=max-age=60&size=1024"
echo "\$ edgecachectl stats"
"${ctl[@]}" stats
echo
echo "edgecache serves on $base (admin: http://127.0.0.1:$admin, edgecachectl --help), store ./demo-store."
echo "origin-sim query parameters shape responses (see tools/origin_sim.cc). Ctrl-C stops."
wait $node_pid
