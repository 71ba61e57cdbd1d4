#!/usr/bin/env bash
# Scenario: tls-front — HTTPS and HTTP/2 clients through HAProxy, edgecache behind it.
#
# The node speaks HTTP/1.1; HAProxy (Debian's haproxy) terminates TLS and HTTP/2 in front
# of it with the shipped deploy/haproxy/tls-front.cfg, unchanged, and a certificate from a
# CA made here. An HTTP/2 client and an HTTP/1.1 client over TLS get the node's responses
# (Cache-Status included) and share its cache; the origin is asked once.
#   scripts/scenarios/tls-front.sh
SCENARIO=tls-front
source "$(dirname "$0")/lib.sh"
command -v haproxy >/dev/null || { echo "scenario: needs haproxy (scripts/setup-debian.sh)" >&2; exit 2; }

# A CA and a certificate for localhost, made here; HAProxy wants chain and key in one file.
(
  cd "$WORK"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=edgecache-scenario-ca -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -keyout front.key -out front.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost\n' >san.cnf
  openssl x509 -req -in front.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.cnf -out front.crt 2>/dev/null
  cat front.crt front.key >front.pem
)

start_origin ORIGIN
start_node NODE --origin "http://127.0.0.1:$ORIGIN_PORT"
FRONT_PORT=$(free_port)
EDGECACHE_FRONT_BIND="127.0.0.1:$FRONT_PORT" EDGECACHE_FRONT_CERT="$WORK/front.pem" \
  EDGECACHE_NODE="127.0.0.1:$NODE_PORT" haproxy -db -f deploy/haproxy/tls-front.cfg \
  >"$WORK/haproxy.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$FRONT_PORT") 2>/dev/null && break
  sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$FRONT_PORT") 2>/dev/null || {
  echo "scenario: HAProxy did not start:" >&2
  cat "$WORK/haproxy.out" >&2
  exit 2
}
front="https://localhost:$FRONT_PORT"
tls=(--cacert "$WORK/ca.pem" --resolve "localhost:$FRONT_PORT:127.0.0.1")

echo "== an HTTP/2 client over TLS"
fetch "$front/app.js?cc=max-age%3D600&size=20000" --http2 "${tls[@]}"
version=$(head -1 "$WORK/last.headers" | tr -d '\r')
printf '  %-44s %s  %s\n' "GET /app.js (HTTP/2, first)" "$version" "$CACHE_STATUS"
check "the client spoke HTTP/2 with HAProxy" starts "$version" "HTTP/2 200"
check "the node's Cache-Status came through: a miss, stored" contains "$CACHE_STATUS" "fwd=miss"
check "the whole body arrived" eq "$BYTES" 20000
fetch "$front/app.js?cc=max-age%3D600&size=20000" --http2 "${tls[@]}"
printf '  %-44s %s  %s\n' "GET /app.js (HTTP/2, again)" "$STATUS" "$CACHE_STATUS"
check "again: a hit" contains "$CACHE_STATUS" "hit"

echo "== an HTTP/1.1 client over TLS shares the cache"
fetch "$front/app.js?cc=max-age%3D600&size=20000" --http1.1 "${tls[@]}"
version=$(head -1 "$WORK/last.headers" | tr -d '\r')
printf '  %-44s %s  %s\n' "GET /app.js (HTTP/1.1)" "$version" "$CACHE_STATUS"
check "HTTP/1.1 over TLS" starts "$version" "HTTP/1.1 200"
check "a hit, from the same cache" contains "$CACHE_STATUS" "hit"
check "the origin was asked once for the three" eq "$(origin_stat "$ORIGIN_PORT" /app.js requests)" 1

echo "== a client that does not trust the certificate is refused by HAProxy"
code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "localhost:$FRONT_PORT:127.0.0.1" \
  "$front/app.js" || true)
check "no response without the CA (curl: $code)" eq "$code" 000
finish
