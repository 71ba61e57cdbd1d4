#!/usr/bin/env bash
# End-to-end benchmark: edgecache and nginx proxy_cache, each with one worker, in front of
# the same origin-sim, measured with wrk on loopback in the same run.
#   bench/e2e/run.sh [seconds per scenario, default 5]
# Scenarios: 1 KiB hot hit, 128 KiB hot hit, a 10k-URL working set (4 KiB objects, warmed
# first), and the miss path (every request a new URL: fetched, streamed and stored).
# Prints req/s and p99 latency per server and the ratio edgecache/nginx.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
missing=()
for p in wrk nginx curl; do command -v "$p" >/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x build-release/server/edgecache ] || scripts/build.sh release >/dev/null

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

build-release/tools/origin-sim --listen 127.0.0.1:0 >"$work/origin.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/origin.out" 2>/dev/null && break; sleep 0.05; done
origin_port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/origin.out")

build-release/server/edgecache --listen 127.0.0.1:0 --origin "http://127.0.0.1:$origin_port" \
  --store "$work/edgecache-store" --capacity 8GiB --ram-cache 256MiB --threads 1 --log-level error \
  >"$work/edgecache.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/edgecache.out" 2>/dev/null && break; sleep 0.05; done
ec_port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/edgecache.out")

ng_port=$((20000 + RANDOM % 20000))
mkdir -p "$work/nginx/cache" "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
error_log $work/nginx/logs/error.log error;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=edge:64m max_size=8g inactive=1d use_temp_path=off;
  upstream origin { server 127.0.0.1:$origin_port; keepalive 64; }
  server {
    listen 127.0.0.1:$ng_port;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
      proxy_cache_key \$host\$request_uri;
      add_header X-Cache \$upstream_cache_status;
    }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
sleep 0.5

cat >"$work/working_set.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/ws/" .. math.random(0, 9999) .. "?cc=max-age=3600&size=4096")
end
LUA
cat >"$work/miss.lua" <<'LUA'
local n = 0
local tag = tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  return wrk.format("GET", "/miss/" .. tag .. "/" .. n .. "?cc=max-age=3600&size=1024")
end
LUA

run() {  # server-name port scenario url-or-script
  local out
  if [[ "$4" == *.lua ]]; then
    out=$(wrk -t1 -c16 -d"${secs}s" --latency -s "$4" "http://127.0.0.1:$2")
  else
    out=$(wrk -t1 -c16 -d"${secs}s" --latency "http://127.0.0.1:$2$4")
  fi
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  echo "$1 $3 $rps $p99" >>"$work/results"
}

warm() {  # port: fetch the hot objects and the whole working set once
  curl -s -o /dev/null "http://127.0.0.1:$1/hot1k?cc=max-age=3600&size=1024"
  curl -s -o /dev/null "http://127.0.0.1:$1/hot128k?cc=max-age=3600&size=131072"
  curl -s --no-progress-meter --parallel --parallel-max 16 "http://127.0.0.1:$1/ws/[0-9999]?cc=max-age=3600&size=4096" >/dev/null
}

for server in edgecache:$ec_port nginx:$ng_port; do
  name=${server%%:*} port=${server##*:}
  warm "$port"
  run "$name" "$port" hit-1KiB "/hot1k?cc=max-age=3600&size=1024"
  run "$name" "$port" hit-128KiB "/hot128k?cc=max-age=3600&size=131072"
  run "$name" "$port" working-set-10k "$work/working_set.lua"
  run "$name" "$port" miss "$work/miss.lua"
done

echo "wrk -t1 -c16 -d${secs}s on loopback; each server has one worker; $(nproc) cores"
printf '%-16s %14s %12s %14s %12s %10s\n' scenario edgecache-rps p99 nginx-rps p99 rps-ratio
for scenario in hit-1KiB hit-128KiB working-set-10k miss; do
  read -r _ _ ec_rps ec_p99 < <(grep "^edgecache $scenario " "$work/results")
  read -r _ _ ng_rps ng_p99 < <(grep "^nginx $scenario " "$work/results")
  ratio=$(awk -v a="$ec_rps" -v b="$ng_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf '%-16s %14s %12s %14s %12s %10s\n' "$scenario" "$ec_rps" "$ec_p99" "$ng_rps" "$ng_p99" "$ratio"
done
