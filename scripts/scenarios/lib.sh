# Shared by the scenario scripts (sourced, not run): builds what is missing, starts
# origin-sim, edgecache nodes and HAProxy on loopback ports picked free, makes requests and
# checks what came back, and stops everything it started when the script exits.
#
# EDGECACHE_BUILD names the build directory to use (default build-release, built with
# scripts/build.sh release when a binary is missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${EDGECACHE_BUILD:-build-release}
if [ ! -x "$BUILD/server/edgecache" ] || [ ! -x "$BUILD/tools/origin-sim" ] ||
   [ ! -x "$BUILD/cli/edgecachectl" ]; then
  [ "$BUILD" = build-release ] || { echo "scenario: $BUILD has no binaries" >&2; exit 2; }
  scripts/build.sh release >/dev/null
fi
WORK=$(mktemp -d)
PIDS=()
FAILURES=0
CHECKS=0

scenario_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap scenario_cleanup EXIT
trap 'exit 130' INT TERM

# wait_line FILE PATTERN: until FILE has a line matching PATTERN (10 s), else fail.
wait_line() {
  local i
  for i in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "scenario: timed out waiting for '$2' in $1:" >&2
  cat "$1" >&2
  exit 2
}
# port_of FILE PATTERN: the port of the first "PATTERN ... :PORT" line of FILE.
port_of() { sed -n "s/.*$2 .*:\([0-9][0-9]*\)$/\1/p" "$1" | head -1; }

# start_origin NAME [origin-sim flags...]: sets NAME_PORT (e.g. ORIGIN_PORT for ORIGIN).
start_origin() {
  local name=$1 out
  shift
  out="$WORK/$name.out"
  "$BUILD/tools/origin-sim" --listen 127.0.0.1:0 "$@" >"$out" 2>&1 &
  PIDS+=($!)
  wait_line "$out" "listening on"
  printf -v "${name}_PORT" '%s' "$(port_of "$out" "listening on")"
}

# start_node NAME [edgecache flags...]: a node with its own store and an admin listener;
# sets NAME_PORT and NAME_ADMIN. --origin, --parent and anything else come from the caller.
start_node() {
  local name=$1 out
  shift
  out="$WORK/$name.out"
  "$BUILD/server/edgecache" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --store "$WORK/$name-store" \
    --threads 1 --log-level error --name "$(echo "$name" | tr 'A-Z' 'a-z')" "$@" >"$out" 2>&1 &
  PIDS+=($!)
  wait_line "$out" "admin on"
  printf -v "${name}_PORT" '%s' "$(port_of "$out" "listening on")"
  printf -v "${name}_ADMIN" '%s' "$(port_of "$out" "admin on")"
}

# free_port: a loopback port nobody listens on and not handed out before (for programs
# that cannot pick their own, or nodes that restart on theirs), below the ephemeral ports
# (32768-60999) so no outgoing connection takes it meanwhile.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 12000))
    grep -qx "$p" "$WORK/ports" 2>/dev/null && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p" >>"$WORK/ports"; echo "$p"; return 0; }
  done
  echo "scenario: no free port found" >&2
  exit 2
}

# start_haproxy NAME PORT BACKEND_PORT...: HAProxy (Debian's haproxy) on 127.0.0.1:PORT,
# round robin over the backends, keep-alive on both sides; sets NAME_PORT.
start_haproxy() {
  local name=$1 port=$2 cfg i=0 b
  shift 2
  command -v haproxy >/dev/null || { echo "scenario: needs haproxy (scripts/setup-debian.sh)" >&2; exit 2; }
  cfg="$WORK/$name.cfg"
  {
    printf 'global\n  maxconn 1000\ndefaults\n  mode http\n  option http-keep-alive\n'
    printf '  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n'
    printf 'frontend fe\n  bind 127.0.0.1:%s\n  default_backend replicas\n' "$port"
    printf 'backend replicas\n  balance roundrobin\n'
    for b in "$@"; do i=$((i + 1)); printf '  server replica%s 127.0.0.1:%s\n' "$i" "$b"; done
  } >"$cfg"
  haproxy -db -f "$cfg" >"$WORK/$name.out" 2>&1 &
  PIDS+=($!)
  for i in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  printf -v "${name}_PORT" '%s' "$port"
}

# origin_stat PORT PATH FIELD: origin-sim's counter for PATH (requests, conditional,
# not_modified).
origin_stat() {
  curl -s "http://127.0.0.1:$1/__stats?path=$2" | sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p"
}
# node_metric ADMIN_PORT NAME{LABELS}: one value from the node's /metrics (0 when absent).
node_metric() {
  local v
  v=$(curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }')
  echo "${v:-0}"
}

# fetch URL [curl flags...]: one request; sets STATUS, CACHE_STATUS, ETAG, LAST_MODIFIED, AGE,
# BODY_SHA (first 12 hex digits), BYTES, T_WAIT (ms from request sent to first byte) and
# T_BODY (ms from first byte to last).
fetch() {
  local url=$1 timing
  shift
  timing=$(curl -s -D "$WORK/last.headers" -o "$WORK/last.body" \
    -w '%{http_code} %{time_pretransfer} %{time_starttransfer} %{time_total} %{size_download}' \
    "$@" "$url")
  read -r STATUS t_pre t_first t_total BYTES <<<"$timing"
  T_WAIT=$(awk -v a="$t_pre" -v b="$t_first" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
  T_BODY=$(awk -v a="$t_first" -v b="$t_total" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
  CACHE_STATUS=$(header Cache-Status)
  ETAG=$(header ETag)
  LAST_MODIFIED=$(header Last-Modified)
  AGE=$(header Age)
  BODY_SHA=$(sha256sum "$WORK/last.body" | cut -c1-12)
}
# header NAME: a field of the last fetch's response (empty when absent).
header() {
  tr -d '\r' <"$WORK/last.headers" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" '
    { split($0, kv, ":"); if (tolower(kv[1]) == n) { sub(/^[^:]*:[ \t]*/, ""); v = $0 } }
    END { print v }'
}
# cache_result: the last fetch's Cache-Status in short: hit, stale, or fwd=... with stored.
cache_result() {
  echo "$CACHE_STATUS" | awk -F', *' '{ print $NF }' | sed 's/^[^;]*; *//'
}

# check DESCRIPTION COMMAND...: runs COMMAND; prints ok or FAIL with the description.
check() {
  local what=$1
  shift
  CHECKS=$((CHECKS + 1))
  if "$@"; then
    printf '  ok    %s\n' "$what"
  else
    printf '  FAIL  %s\n' "$what"
    FAILURES=$((FAILURES + 1))
  fi
}
# Small predicates for check.
eq() { [ "$1" = "$2" ]; }
ne() { [ "$1" != "$2" ]; }
contains() { [[ "$1" == *"$2"* ]]; }
starts() { [[ "$1" == "$2"* ]]; }
lacks() { [[ "$1" != *"$2"* ]]; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# finish: the summary line; exit status 0 only when every check held.
finish() {
  echo
  if [ "$FAILURES" -eq 0 ]; then
    echo "$SCENARIO: all $CHECKS checks held"
    exit 0
  fi
  echo "$SCENARIO: $FAILURES of $CHECKS checks FAILED"
  exit 1
}

# pop_node_config N PORT ADMIN ORIGIN_PORT PURGE_LOG: the TOML of node N of a point of
# presence on loopback (scenario pop, bench/pop/run.sh).
pop_node_config() {
  cat <<EOF
listen = "127.0.0.1:$2"
admin = "127.0.0.1:$3"
name = "node$1"
threads = 1
log_level = "info"
[store]
dir = "$WORK/node$1-store"
[origins]
default = "http://127.0.0.1:$4"
[cluster]
purge_log = "$5"
node_id = "node$1"
EOF
}

# start_redis: Debian's redis-server on 127.0.0.1:$REDIS_PORT, its append-only file in the
# work directory (a restart keeps the data); sets REDIS_PID.
start_redis() {
  (cd "$WORK" && exec redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly yes --appendfsync always) >"$WORK/redis.out" 2>&1 &
  REDIS_PID=$!
  PIDS+=($REDIS_PID)
  wait_line "$WORK/redis.out" "Ready to accept connections"
}
