// edgecache: the caching reverse proxy. A thin main over server/src (config, node).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "config/config.h"
#include "net/tls.h"
#include "node/node.h"
#include "util/event_loop.h"
#include "version/version.h"

namespace {

int ConfigError(const std::string& message) {
  std::fprintf(stderr, "edgecache: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using edgecache::config::NodeConfig;
  CLI::App app{
      "edgecache: a caching reverse proxy for CDN edge nodes.\n"
      "Flags override the config file; docs/configuration.md lists every key."};
  std::string config_file;
  edgecache::config::Flags flags;
  bool check_config = false;
  app.add_option("-c,--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_option("--listen", flags.listen,
                 "client listener ADDRESS:PORT (repeatable; default 127.0.0.1:8080)");
  app.add_option("--tls-listen", flags.tls_listen,
                 "TLS client listener ADDRESS:PORT (repeatable; needs --tls-cert, --tls-key)");
  app.add_option("--tls-cert", flags.tls_cert,
                 "TLS listeners' certificate chain (PEM; repeatable: SNI picks, the first is "
                 "the default)");
  app.add_option("--tls-key", flags.tls_key,
                 "private key (PEM) of each --tls-cert, in the same order");
  app.add_option("--admin", flags.admin,
                 "admin listener ADDRESS:PORT or unix:/PATH (admin API, /healthz, /metrics)");
  app.add_option("--origin", flags.origin,
                 "default origin for every Host, http://HOST:PORT or https://HOST:PORT");
  app.add_option("--parent", flags.parent,
                 "parent edgecache (shield) for every miss, http(s)://HOST:PORT");
  app.add_option("--origin-ca", flags.origin_ca,
                 "CA certificates (PEM) to verify https origins with (default: the system's)");
  app.add_option("--name", flags.name,
                 "this node's name in Cache-Status and Via (default edgecache)");
  app.add_option("--map", flags.maps,
                 "origin for one Host: HOST=http(s)://ORIGIN:PORT (repeatable)");
  app.add_option("--store", flags.store, "store directory (created when missing)");
  app.add_option("--capacity", flags.capacity, "store capacity, e.g. 10GiB (default 1GiB)");
  app.add_option("--ram-cache", flags.ram_cache,
                 "RAM cache for hot bodies, e.g. 256MiB (default 64MiB)");
  app.add_option("--threads", flags.threads, "network threads (default: one per core)");
  app.add_option("--event-loop", flags.event_loop,
                 "auto, io_uring or epoll (default auto: io_uring where it can be set up, "
                 "else edgecache-epoll)");
  app.add_option("--log-level", flags.log_level,
                 "trace, debug, info, warn, error or off (default info)");
  app.add_option("--error-log", flags.error_log, "error log file (default: standard output)");
  app.add_option("--access-log", flags.access_log,
                 "access log file, or - for stdout (default off)");
  app.add_flag("--check-config", check_config, "validate the configuration and exit");
  bool show_version = false, verbose = false;
  app.add_flag("--version", show_version,
               "print the version and exit (with --verbose: compiler, flags, allocator, I/O, "
               "event loop)");
  app.add_flag("--verbose", verbose, "with --version: how this build was made");
  app.footer(
      "Config file keys (TOML; docs/configuration.md has their defaults and meaning):\n"
      "  listen, tls_listen, admin, admin_token, threads, event_loop, log_level, error_log,\n"
      "  access_log, access_log_format (text|json), name, response_via, parent,\n"
      "  origin_ca_file\n"
      "  [store] dir, capacity, segment_size, ram_cache, index_cache, entry_cache,\n"
      "          sync (none|commit), io_backend (auto|io_uring|posix), reinsert_hot_objects,\n"
      "          commit_window_us, admission (all|probation), probation (RAM for new objects)\n"
      "  [origins] default = URL, \"HOST\" = URL\n"
      "  [tls] cert, key (PEM files for tls_listen, or arrays of them in pairs, picked by SNI;\n"
      "        re-read on reload)\n"
      "  [timeouts] connect_ms, origin_ms, client_ms, idle_ms, grace_ms\n"
      "  [limits] max_header_bytes, max_request_body_bytes, max_connections, max_object_bytes\n"
      "  [cache] honour_client_no_cache, forward_surrogate_headers, stale_if_error_seconds,\n"
      "          content_etag, synthesize_last_modified, max_variants, sort_query,\n"
      "          strip_query_params, key_headers, store_set_cookie,\n"
      "          range_miss_fetch_full, collapse_wait_ms, key_scheme,\n"
      "          heuristic_fraction, heuristic_max_seconds\n"
      "  [cluster] purge_log (redis://HOST:PORT/STREAM), node_id, catch_up_ms, advertise_admin\n"
      "Environment: EDGECACHE_ADMIN_TOKEN sets admin_token (required when the admin listener\n"
      "is not loopback or a unix: socket; then every admin route but /healthz needs\n"
      "\"Authorization: Bearer TOKEN\"). docs/admin-api.md lists the admin routes.\n"
      "Signals: SIGTERM/SIGINT stop gracefully; SIGHUP re-reads the configuration (keys that\n"
      "need a restart keep their values; a configuration that does not load changes nothing);\n"
      "SIGUSR1 reopens the log files (logrotate). docs/operations.md has the details.\n"
      "Exit codes: 0 stopped cleanly, 1 could not start (store, listener), 2 bad configuration.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, or the error
    return rc == 0 ? 0 : 2;      // a bad flag is a bad configuration
  }
  if (show_version) {
    std::printf("%s\n", edgecache::version::Line("edgecache").c_str());
    if (verbose) {
      const edgecache::Status loop = edgecache::util::ProbeEventLoop();
      std::printf("%sevent loop here (auto): %s\n", edgecache::version::Details().c_str(),
                  loop.ok() ? edgecache::util::BuiltEventLoop()
                            : ("epoll, in edgecache-epoll: " + loop.message()).c_str());
    }
    return 0;
  }

  // How the configuration is made: at start, and again on every reload (SIGHUP).
  auto load = [config_file, flags](NodeConfig* config) {
    edgecache::Status s;
    if (!config_file.empty()) s = edgecache::config::LoadFile(config_file, config);
    if (s.ok()) s = edgecache::config::ApplyFlags(flags, config);
    // The token is never a flag: command lines are visible to every user of the machine.
    if (const char* token = std::getenv("EDGECACHE_ADMIN_TOKEN"); token && *token)
      config->admin_token = token;
    if (s.ok()) s = edgecache::config::Validate(*config);
    return s;
  };
  NodeConfig config;
  edgecache::Status s = load(&config);
  if (s.ok()) s = edgecache::config::CheckStoreDir(config.store_dir);
  if (s.ok()) {  // the CA bundle for https origins loads, and the listeners' certificate
    std::shared_ptr<boost::asio::ssl::context> tls;
    s = edgecache::net::MakeClientContext(config.origin_ca_file, &tls);
    if (s.ok() && !config.tls_listen.empty())
      s = edgecache::net::MakeServerContext(config.tls_certs, config.tls_keys, &tls);
  }
  if (!s.ok()) return ConfigError(s.message());
  if (check_config) {
    std::printf("edgecache: configuration OK\n");
    return 0;
  }
  // A send to a peer that reset its connection fails with EPIPE and never kills the node:
  // asio passes MSG_NOSIGNAL on epoll; whether a ring send adds it is the kernel's choice.
  std::signal(SIGPIPE, SIG_IGN);
  // Before any io_context: this may become edgecache-epoll (util/event_loop.h).
  s = edgecache::util::UseEventLoop(config.event_loop, "edgecache", argv);
  if (!s.ok()) {
    std::fprintf(stderr, "edgecache: cannot start: %s\n", s.ToString().c_str());
    return 1;
  }
  edgecache::node::Node node(std::move(config), load);
  s = node.Start();
  if (!s.ok()) {
    std::fprintf(stderr, "edgecache: cannot start: %s\n", s.ToString().c_str());
    return 1;
  }
  node.Run();
  return 0;
}
