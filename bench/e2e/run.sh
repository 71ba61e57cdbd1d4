#!/usr/bin/env bash
# End-to-end benchmark: edgecache side by side with nginx proxy_cache (with open_file_cache)
# and Apache Traffic Server, each when installed, in front of the same origin-sim on loopback.
#
#   bench/e2e/run.sh [seconds per run, default 10]
#   env: REPS (default 3), CONNS (default 64), TARGETS (default "edgecache nginx ats"),
#        TLS=1: clients over TLS (keep-alive) to edgecache and nginx with the same certificate
#        (a P-256 one made here), hit scenarios only; Traffic Server is left out
#
# Method (the same as the peers' side-by-side harness): every proxy runs one worker pinned to
# CPU 0; wrk (-t1, CONNS keep-alive connections) and the origin share CPU 1; objects are warmed
# first; every repetition runs every scenario on every target in turn (interleaved, so a
# drift of the machine's speed hits all targets alike); the table gives medians and the ratio
# edgecache / peer. The origin's request counter is read around every run: "origin" is the
# number of requests that reached it (0 on a hit run means every request was a hit).
# Also prints the figures of every run on stderr as it goes.
# Scenarios: 1 KiB hot hit, 128 KiB hot hit, a 10k-URL working set (4 KiB objects, uniform),
# and the miss path (every request a new 1 KiB URL: fetched, streamed to the client, stored).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
reps="${REPS:-3}"
conns="${CONNS:-64}"
tls="${TLS:-0}"
if [ "$tls" = 1 ]; then targets="${TARGETS:-edgecache nginx}"; else targets="${TARGETS:-edgecache nginx ats}"; fi

for p in wrk curl taskset; do
  command -v "$p" >/dev/null || { echo "bench/e2e: needs $p (apt-get install wrk curl util-linux)" >&2; exit 1; }
done
[ -x build-release/server/edgecache ] || scripts/build.sh release >/dev/null
proxy_cpu=0 load_cpu=1
if [ "$(nproc)" -lt 2 ]; then
  echo "bench/e2e: one CPU only: proxy, wrk and origin share it (figures are not comparable)" >&2
  load_cpu=0
fi

work=$(mktemp -d)
chmod 755 "$work"  # Traffic Server drops to its own user and must reach its directories
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start() {  # name command... : runs the command in its own process group, output in $work/name.out
  local name=$1; shift
  setsid "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
}
wait_port() {  # port
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done
  echo "bench/e2e: nothing answers on port $1" >&2
  return 1
}
free_port() {  # a loopback port nobody listens on
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

if [ "$tls" = 1 ]; then  # one certificate for every TLS listener
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -keyout "$work/tls.key" -out "$work/tls.pem" 2>/dev/null
fi

start origin taskset -c "$load_cpu" build-release/tools/origin-sim --listen 127.0.0.1:0
for _ in $(seq 100); do grep -q listening "$work/origin.out" 2>/dev/null && break; sleep 0.05; done
origin_port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/origin.out")
origin_count() { curl -s "http://127.0.0.1:$origin_port/__stats" | sed 's/.*"requests":\([0-9]*\).*/\1/'; }

declare -A port tls_port
for t in $targets; do
  case $t in
    edgecache)
      port[$t]=$(free_port)
      tls_flags=()
      if [ "$tls" = 1 ]; then
        tls_port[$t]=$(free_port)
        tls_flags=(--tls-listen "127.0.0.1:${tls_port[$t]}" --tls-cert "$work/tls.pem" --tls-key "$work/tls.key")
      fi
      start edgecache taskset -c "$proxy_cpu" build-release/server/edgecache "${tls_flags[@]}" \
        --listen "127.0.0.1:${port[$t]}" --origin "http://127.0.0.1:$origin_port" \
        --store "$work/edgecache-store" --capacity 8GiB --ram-cache 1GiB --threads 1 --log-level error
      ;;
    nginx)
      command -v nginx >/dev/null || { echo "bench/e2e: nginx not installed, skipped (apt-get install nginx-light)" >&2; continue; }
      port[$t]=$(free_port)
      tls_listen=""
      if [ "$tls" = 1 ]; then
        tls_port[$t]=$(free_port)
        tls_listen="listen 127.0.0.1:${tls_port[$t]} ssl backlog=4096;
    ssl_certificate $work/tls.pem; ssl_certificate_key $work/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:tls:10m;"
      fi
      mkdir -p "$work/nginx/cache" "$work/nginx/logs"
      cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $work/nginx/logs/error.log error;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  open_file_cache max=12000 inactive=300s;
  open_file_cache_valid 300s;
  proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=edge:256m max_size=8g inactive=1d use_temp_path=off;
  upstream origin { server 127.0.0.1:$origin_port; keepalive 64; }
  server {
    listen 127.0.0.1:${port[$t]} backlog=4096;
    $tls_listen
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
      proxy_cache_key \$host\$request_uri;
    }
  }
}
CONF
      start nginx taskset -c "$proxy_cpu" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"
      ;;
    ats)
      command -v traffic_server >/dev/null || { echo "bench/e2e: traffic_server not installed, skipped (apt-get install trafficserver)" >&2; continue; }
      port[$t]=$(free_port)
      a=$work/ats
      mkdir -p "$a/etc" "$a/cache" "$a/var" "$a/run" "$a/log"
      cat >"$a/etc/records.config" <<CONF
CONFIG proxy.config.http.server_ports STRING ${port[$t]}:ip-in=127.0.0.1
CONFIG proxy.config.exec_thread.autoconfig INT 0
CONFIG proxy.config.exec_thread.limit INT 1
CONFIG proxy.config.exec_thread.affinity INT 0
CONFIG proxy.config.accept_threads INT 1
CONFIG proxy.config.admin.user_id STRING trafficserver
CONFIG proxy.config.reverse_proxy.enabled INT 1
CONFIG proxy.config.url_remap.remap_required INT 1
CONFIG proxy.config.http.cache.http INT 1
CONFIG proxy.config.http.wait_for_cache INT 1
CONFIG proxy.config.cache.ram_cache.size INT 1073741824
CONFIG proxy.config.cache.min_average_object_size INT 8000
CONFIG proxy.config.log.logging_enabled INT 0
CONFIG proxy.config.http.negative_caching_enabled INT 0
CONF
      echo "map http://127.0.0.1:${port[$t]}/ http://127.0.0.1:$origin_port/" >"$a/etc/remap.config"
      echo "$a/cache 8192M" >"$a/etc/storage.config"
      printf 'ip_allow:\n  - apply: in\n    ip_addrs: 127.0.0.1\n    action: allow\n    methods: ALL\n  - apply: out\n    ip_addrs: 127.0.0.1\n    action: allow\n    methods: ALL\n' >"$a/etc/ip_allow.yaml"
      printf 'logging:\n  formats: []\n  logs: []\n' >"$a/etc/logging.yaml"
      printf 'sni: []\n' >"$a/etc/sni.yaml"
      printf 'strategies: []\n' >"$a/etc/strategies.yaml"
      for f in plugin.config cache.config hosting.config parent.config volume.config splitdns.config \
               socks.config ssl_multicert.config; do : >"$a/etc/$f"; done
      cat >"$a/etc/runroot.yaml" <<CONF
prefix: /usr
exec_prefix: /usr
bindir: /usr/bin
sbindir: /usr/sbin
sysconfdir: $a/etc
datadir: /usr/share/trafficserver
includedir: /usr/include
libdir: /usr/lib/trafficserver
libexecdir: /usr/lib/trafficserver/modules
localstatedir: $a/var
runtimedir: $a/run
logdir: $a/log
cachedir: $a/cache
CONF
      chmod -R a+rX "$a"
      chown -R trafficserver "$a" 2>/dev/null || true
      start ats taskset -c "$proxy_cpu" traffic_server --run-root="$a/etc/runroot.yaml"
      ;;
    *) echo "bench/e2e: unknown target $t" >&2; exit 2 ;;
  esac
done
running=()
for t in $targets; do
  [ -n "${port[$t]:-}" ] || continue
  wait_port "${port[$t]}" || { echo "bench/e2e: $t did not start (see below)" >&2; tail -5 "$work/$t.out" >&2; exit 1; }
  running+=("$t")
done

cat >"$work/working_set.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/ws/" .. math.random(0, 9999) .. "?cc=max-age=3600&size=4096")
end
LUA
cat >"$work/miss.lua" <<'LUA'
local n = 0
local tag = os.getenv("RUN_TAG")
request = function()
  n = n + 1
  return wrk.format("GET", "/miss/" .. tag .. "/" .. n .. "?cc=max-age=3600&size=1024")
end
LUA

scenarios=(hit-1KiB hit-128KiB working-set-10k miss)
[ "$tls" = 1 ] && scenarios=(hit-1KiB hit-128KiB)
base_url() {  # target: where wrk sends its requests
  if [ "$tls" = 1 ]; then echo "https://127.0.0.1:${tls_port[$1]}"; else echo "http://127.0.0.1:${port[$1]}"; fi
}
target_of() {
  case $1 in
    hit-1KiB) echo "/hot1k?cc=max-age=3600&size=1024" ;;
    hit-128KiB) echo "/hot128k?cc=max-age=3600&size=131072" ;;
    working-set-10k) echo "$work/working_set.lua" ;;
    miss) echo "$work/miss.lua" ;;
  esac
}

run() {  # target scenario: one wrk run, appends "target scenario rps p99 origin-requests"
  local t=$1 s=$2 what out o0 o1 rps p99
  what=$(target_of "$s")
  o0=$(origin_count)
  if [[ "$what" == *.lua ]]; then
    out=$(RUN_TAG="$t-$RANDOM$RANDOM" taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s \
            --latency -s "$what" "$(base_url "$t")")
  else
    out=$(taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s --latency "$(base_url "$t")$what")
  fi
  o1=$(origin_count)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" { v = $2 + 0; if ($2 ~ /us$/) v /= 1000; else if ($2 ~ /[0-9]s$/) v *= 1000; printf "%.2f", v }')
  echo "$t $s ${rps:-0} ${p99:-n/a} $((o1 - o0))" >>"$work/results"
  echo "  $t $s: ${rps:-0} req/s, p99 ${p99:-n/a} ms, origin $((o1 - o0))" >&2
}

warm() {  # target: fetch the hot objects (three times: some caches store on a later use) and the working set
  local p=${port[$1]} k
  for k in 1 2 3; do
    curl -s -o /dev/null "http://127.0.0.1:$p/hot1k?cc=max-age=3600&size=1024"
    curl -s -o /dev/null "http://127.0.0.1:$p/hot128k?cc=max-age=3600&size=131072"
  done
  curl -s --no-progress-meter --parallel --parallel-max 16 \
    "http://127.0.0.1:$p/ws/[0-9999]?cc=max-age=3600&size=4096" >/dev/null
}

for t in "${running[@]}"; do warm "$t"; done
for r in $(seq "$reps"); do
  echo "repetition $r of $reps" >&2
  for s in "${scenarios[@]}"; do
    for t in "${running[@]}"; do run "$t" "$s"; done
  done
done

median() {  # target scenario column(3 rps, 4 p99, 5 origin)
  awk -v t="$1" -v s="$2" -v c="$3" '$1 == t && $2 == s { print $c }' "$work/results" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'
}

[ "$tls" = 1 ] && echo "clients over TLS (keep-alive, one P-256 certificate for every target)"
echo "wrk -t1 -c$conns -d${secs}s, $reps interleaved repetitions, medians; proxies pinned to CPU $proxy_cpu" \
     "(one worker each), wrk and origin-sim to CPU $load_cpu"
header=$(printf '%-16s' scenario)
for t in "${running[@]}"; do header+=$(printf ' %12s %9s %7s' "$t-rps" p99-ms origin); done
for t in "${running[@]}"; do [ "$t" = edgecache ] || header+=$(printf ' %13s' "ec/$t"); done
echo "$header"
for s in "${scenarios[@]}"; do
  line=$(printf '%-16s' "$s")
  for t in "${running[@]}"; do
    line+=$(printf ' %12s %9s %7s' "$(median "$t" "$s" 3)" "$(median "$t" "$s" 4)" "$(median "$t" "$s" 5)")
  done
  ec=$(median edgecache "$s" 3)
  for t in "${running[@]}"; do
    [ "$t" = edgecache ] && continue
    line+=$(printf ' %13s' "$(awk -v a="$ec" -v b="$(median "$t" "$s" 3)" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')")
  done
  echo "$line"
done
