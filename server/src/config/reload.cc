#include "config/reload.h"

#include <functional>

namespace edgecache::config {
namespace {

// One configuration key: how to tell whether two configurations differ in it, and how to
// put the running value back.
struct Key {
  const char* name;
  bool live;
  std::function<bool(const NodeConfig&, const NodeConfig&)> same;
  std::function<void(const NodeConfig&, NodeConfig*)> keep;
};

template <typename T>
Key Field(const char* name, bool live, T NodeConfig::*member) {
  return {name, live,
          [member](const NodeConfig& a, const NodeConfig& b) { return a.*member == b.*member; },
          [member](const NodeConfig& from, NodeConfig* to) { to->*member = from.*member; }};
}

template <typename T>
Key StoreField(const char* name, T StoreOptions::*member) {
  return {
      name, false,
      [member](const NodeConfig& a, const NodeConfig& b) {
        return a.store.*member == b.store.*member;
      },
      [member](const NodeConfig& from, NodeConfig* to) { to->store.*member = from.store.*member; }};
}

const std::vector<Key>& Keys() {
  constexpr bool kLive = true, kRestart = false;
  using C = NodeConfig;
  static const std::vector<Key> keys = {
      Field("listen", kRestart, &C::listen),
      Field("tls_listen", kRestart, &C::tls_listen),
      Field("tls.cert", kLive, &C::tls_certs),
      Field("tls.key", kLive, &C::tls_keys),
      Field("admin", kRestart, &C::admin),
      Field("threads", kRestart, &C::threads),
      Field("event_loop", kRestart, &C::event_loop),
      Field("store.dir", kRestart, &C::store_dir),
      StoreField("store.capacity", &StoreOptions::capacity_bytes),
      StoreField("store.segment_size", &StoreOptions::segment_bytes),
      StoreField("store.ram_cache", &StoreOptions::ram_cache_bytes),
      StoreField("store.index_cache", &StoreOptions::index_cache_bytes),
      StoreField("store.entry_cache", &StoreOptions::entry_cache_bytes),
      StoreField("store.presence_filter", &StoreOptions::presence_filter_bytes),
      StoreField("store.sync", &StoreOptions::sync),
      StoreField("store.io_backend", &StoreOptions::io_backend),
      StoreField("store.reinsert_hot_objects", &StoreOptions::reinsert_hot_objects),
      StoreField("store.commit_window_us", &StoreOptions::commit_window_us),
      StoreField("store.admission", &StoreOptions::admission),
      StoreField("store.probation", &StoreOptions::probation_bytes),
      Field("admin_token", kLive, &C::admin_token),
      Field("name", kLive, &C::name),
      Field("response_via", kLive, &C::response_via),
      Field("origins", kLive, &C::origins),
      Field("origins.default", kLive, &C::default_origin),
      Field("parent", kLive, &C::parent),
      Field("origin_ca_file", kRestart, &C::origin_ca_file),
      Field("cluster.purge_log", kRestart, &C::purge_log),
      Field("cluster.node_id", kRestart, &C::node_id),
      Field("cluster.catch_up_ms", kRestart, &C::catch_up_ms),
      Field("cluster.advertise_admin", kRestart, &C::advertise_admin),
      Field("timeouts.connect_ms", kLive, &C::connect_timeout_ms),
      Field("timeouts.origin_ms", kLive, &C::origin_timeout_ms),
      Field("timeouts.client_ms", kLive, &C::client_timeout_ms),
      Field("timeouts.idle_ms", kLive, &C::idle_timeout_ms),
      Field("timeouts.grace_ms", kLive, &C::grace_ms),
      Field("limits.max_header_bytes", kLive, &C::max_header_bytes),
      Field("limits.max_request_body_bytes", kLive, &C::max_request_body_bytes),
      Field("limits.max_connections", kLive, &C::max_connections),
      Field("limits.max_object_bytes", kLive, &C::max_object_bytes),
      Field("cache.honour_client_no_cache", kLive, &C::honour_client_no_cache),
      Field("cache.forward_surrogate_headers", kLive, &C::forward_surrogate_headers),
      Field("cache.content_etag", kLive, &C::content_etag),
      Field("cache.synthesize_last_modified", kLive, &C::synthesize_last_modified),
      Field("cache.range_miss_fetch_full", kLive, &C::range_miss_fetch_full),
      Field("cache.collapse_wait_ms", kLive, &C::collapse_wait_ms),
      Field("cache.max_variants", kLive, &C::max_variants),
      Field("cache.sort_query", kLive, &C::sort_query),
      Field("cache.key_scheme", kLive, &C::key_scheme),
      Field("cache.strip_query_params", kLive, &C::strip_query_params),
      Field("cache.key_headers", kLive, &C::key_headers),
      Field("cache.store_set_cookie", kLive, &C::store_set_cookie),
      Field("cache.stale_if_error_seconds", kLive, &C::default_stale_if_error_seconds),
      Field("cache.heuristic_fraction", kLive, &C::heuristic_fraction),
      Field("cache.heuristic_max_seconds", kLive, &C::heuristic_max_seconds),
      Field("log_level", kLive, &C::log_level),
      Field("error_log", kLive, &C::error_log),
      Field("access_log", kLive, &C::access_log),
      Field("access_log_format", kLive, &C::access_log_format),
  };
  return keys;
}

}  // namespace

ReloadPlan PlanReload(const NodeConfig& running, NodeConfig* next) {
  ReloadPlan plan;
  for (const Key& key : Keys()) {
    if (key.same(running, *next)) continue;
    if (key.live) {
      plan.applied.push_back(key.name);
    } else {
      plan.need_restart.push_back(key.name);
      key.keep(running, next);
    }
  }
  // Whatever else the store was opened with stays as it is.
  next->store = running.store;
  return plan;
}

}  // namespace edgecache::config
