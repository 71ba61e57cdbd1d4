// NodeConfig: everything an edgecache node is configured with, from a TOML file
// (toml++) and/or command-line flags (CLI11); flags override the file.
// docs/configuration.md lists every key; `edgecache --help` every flag.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "edgecache/options.h"
#include "edgecache/status.h"
#include "util/event_loop.h"

namespace edgecache::config {

struct Endpoint {
  std::string host;  // numeric IPv4/IPv6 address or "localhost"
  uint16_t port = 0;
  std::string unix_path;  // set for a Unix socket ("unix:/run/edgecache/admin.sock")
  std::string ToString() const;
  // A loopback address (127.0.0.0/8, ::1, localhost) or a Unix socket: reachable only from
  // this machine.
  bool IsLocal() const;
  bool operator==(const Endpoint&) const = default;
};

// Where a host's misses go: http://HOST[:PORT] or https://HOST[:PORT] (TLS, the certificate
// verified against HOST).
struct OriginUrl {
  std::string host;
  uint16_t port = 80;
  bool tls = false;
  // TLS: the name sent as SNI and verified in the certificate, for an origin addressed by
  // IP address ("" = host).
  std::string sni;
  std::string ToString() const;
  bool operator==(const OriginUrl&) const = default;
};

struct NodeConfig {
  std::vector<Endpoint> listen;      // [] = 127.0.0.1:8080 (unless tls_listen is set)
  std::vector<Endpoint> tls_listen;  // TLS client listeners (tls_certs, tls_keys)
  // PEM certificate chains and their private keys, pairwise ([tls] cert, key): the first
  // is presented unless a client's SNI names a host only a later one is for.
  std::vector<std::string> tls_certs, tls_keys;
  std::optional<Endpoint> admin;  // admin listener (TCP or Unix socket)
  // Bearer token the admin API requires (every route but /healthz) when set; required
  // when the admin listener is reachable from other machines.
  std::string admin_token;
  std::string store_dir;  // required
  // Capacity, caches, segment size, sync, backend; a node batches concurrent small
  // commits for up to 1 ms (store.commit_window_us).
  StoreOptions store = [] {
    StoreOptions o;
    o.commit_window_us = 1000;
    return o;
  }();
  std::map<std::string, OriginUrl> origins;  // lower-case Host -> origin
  std::optional<OriginUrl> default_origin;   // for any other Host
  std::optional<OriginUrl> parent;           // a parent edgecache (shield) for every miss
  // CA certificates (PEM) https origins are verified against; "" = the system's store.
  std::string origin_ca_file;
  std::string name = "edgecache";  // identifies this node in Cache-Status and Via
  bool response_via = true;  // Via on responses to clients (requests to origins always have it)
  int threads = 0;           // network threads; 0 = number of cores
  // asio's event loop (util/event_loop.h): auto is io_uring where it can be set up.
  util::EventLoop event_loop = util::EventLoop::kAuto;

  int64_t connect_timeout_ms = 2000;
  int64_t origin_timeout_ms = 30000;  // origin response header and each body read
  int64_t client_timeout_ms = 15000;  // a request's header/body read
  int64_t idle_timeout_ms = 60000;    // keep-alive wait for the next request
  int64_t grace_ms = 10000;           // SIGTERM: finish in-flight responses this long

  uint32_t max_header_bytes = 16 * 1024;
  uint64_t max_request_body_bytes = 8ull << 20;
  uint32_t max_connections = 10000;
  uint64_t max_object_bytes = 1ull << 30;  // larger responses stream through unstored

  bool honour_client_no_cache = true;
  bool forward_surrogate_headers = false;  // Surrogate-Key / Cache-Tag to clients
  // Content ETags ("ec-<xxh3 of the body>", the same on every node): kMissing gives them to
  // responses stored without validators; kAlways to every stored full response, in place of
  // the origin's (which a client's If-None-Match still matches).
  enum class ContentEtag { kOff, kMissing, kAlways };
  ContentEtag content_etag = ContentEtag::kOff;
  bool synthesize_last_modified = true;  // ... and a Last-Modified of when they were stored
  bool range_miss_fetch_full = true;     // a Range miss fetches and stores the whole object
  int64_t collapse_wait_ms = 10000;      // request collapsing: how long followers wait; 0 = off
  uint32_t max_variants = 16;            // Vary variants stored per URL
  bool sort_query = false;               // cache key: sort query parameters
  bool key_scheme = false;               // cache key: TLS requests keyed apart ("https://")
  // Cache key: drop these query parameters ("utm_*" wildcards); forwarded without them.
  std::vector<std::string> strip_query_params;
  // Request fields dropped by default because they change what origins serve without being
  // part of the URL (X-Forwarded-Host …), forwarded and made part of the variant key when
  // listed here (lower-case).
  std::vector<std::string> key_headers;
  // Responses carrying Set-Cookie are passed unstored (as Varnish and nginx do); when true
  // they are stored with Set-Cookie removed from what is stored.
  bool store_set_cookie = false;
  // How long past its freshness a stored response may still be served when the origin
  // cannot be reached or answers 5xx, unless the response forbids it (must-revalidate,
  // proxy-revalidate, s-maxage, no-cache) or names its own stale-if-error. One day: like
  // Varnish's grace and Traffic Server's max_stale_age, an edge rides out an origin outage.
  int64_t default_stale_if_error_seconds = 86400;
  double heuristic_fraction = 0.1;
  int64_t heuristic_max_seconds = 86400;

  // A point of presence's purge log ([cluster], docs/operations.md): "redis://HOST:PORT/
  // STREAM" ("" = none), this node's name in it, how long a start waits to apply the
  // purges it missed before it serves anyway (Redis unreachable), and the admin URL other
  // tools reach this node at ("" = http:// + the admin listener).
  std::string purge_log;
  std::string node_id;
  int64_t catch_up_ms = 30000;
  std::string advertise_admin;

  std::string log_level = "info";
  std::string error_log;   // "" standard output, else a file path (reopened on SIGUSR1)
  std::string access_log;  // "" off, "-" stdout, else a file path (reopened on SIGUSR1)
  enum class AccessLogFormat { kText, kJson };  // docs/operations.md shows both
  AccessLogFormat access_log_format = AccessLogFormat::kText;
};

// Parses "10GiB", "512MiB", "64k", "1048576" (binary units; K/M/G/T = KiB/MiB/GiB/TiB).
std::optional<uint64_t> ParseSize(std::string_view text);
// "127.0.0.1:8080", "[::1]:8080", "localhost:0"; with `allow_unix`, "unix:/PATH" too
std::optional<Endpoint> ParseEndpoint(std::string_view text, bool allow_unix = false);
// "http://host[:port][/]" or "https://host[:port][/]" (port 80 / 443 by default)
std::optional<OriginUrl> ParseOrigin(std::string_view text);

// Reads a TOML file into *config. InvalidArgument naming the key and the reason.
Status LoadFile(const std::string& path, NodeConfig* config);
// The command-line flags of `edgecache`, each unset unless given.
struct Flags {
  std::vector<std::string> listen;             // replace the configured listeners when any is given
  std::vector<std::string> tls_listen;         // likewise for the TLS listeners
  std::vector<std::string> tls_cert, tls_key;  // likewise for the certificates (pairwise)
  std::vector<std::string> maps;               // HOST=http://ORIGIN:PORT, added to the remap table
  std::optional<std::string> admin, origin, parent, name, store, capacity, ram_cache, log_level,
      error_log, access_log, origin_ca, event_loop;
  std::optional<int> threads;
};
// Lays the flags over *config (flags override the file). InvalidArgument naming the flag.
Status ApplyFlags(const Flags& flags, NodeConfig* config);

// Checks the whole configuration; InvalidArgument naming the key and the reason.
Status Validate(const NodeConfig& config);

// What starting a node needs of store.dir: a directory, or a path that can be created,
// on a file system where files can be created (probed with a temporary file, removed).
// InvalidArgument naming store.dir and the reason. Used by --check-config and at start.
Status CheckStoreDir(const std::string& dir);

}  // namespace edgecache::config
