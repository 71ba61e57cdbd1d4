#include "config/config.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>

#include "cluster/redis.h"
#include "util/ascii.h"

namespace edgecache::config {
namespace {

using util::AsciiLower;

Status Bad(std::string_view key, std::string_view reason) {
  return Status::InvalidArgument("config key '" + std::string(key) + "': " + std::string(reason));
}

std::optional<util::EventLoop> ParseEventLoop(std::string_view text) {
  using E = util::EventLoop;
  if (text == "auto") return E::kAuto;
  if (text == "io_uring") return E::kIoUring;
  if (text == "epoll") return E::kEpoll;
  return std::nullopt;
}

}  // namespace

std::string Endpoint::ToString() const {
  if (!unix_path.empty()) return "unix:" + unix_path;
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

bool Endpoint::IsLocal() const {
  if (!unix_path.empty() || host == "localhost" || host == "::1") return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

std::string OriginUrl::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

std::optional<uint64_t> ParseSize(std::string_view text) {
  std::string s = AsciiLower(text);
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  std::string unit(end, static_cast<const char*>(s.data() + s.size()));
  int shift = 0;
  if (unit.empty() || unit == "b")
    shift = 0;
  else if (unit == "k" || unit == "kib" || unit == "kb")
    shift = 10;
  else if (unit == "m" || unit == "mib" || unit == "mb")
    shift = 20;
  else if (unit == "g" || unit == "gib" || unit == "gb")
    shift = 30;
  else if (unit == "t" || unit == "tib" || unit == "tb")
    shift = 40;
  else
    return std::nullopt;
  if (shift > 0 && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

std::optional<Endpoint> ParseEndpoint(std::string_view text, bool allow_unix) {
  Endpoint e;
  if (text.starts_with("unix:")) {
    if (!allow_unix || text.size() < 7 || text[5] != '/') return std::nullopt;
    e.unix_path = std::string(text.substr(5));
    return e;
  }
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    e.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    e.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p > 65535) return std::nullopt;
  e.port = static_cast<uint16_t>(p);
  return e;
}

std::optional<OriginUrl> ParseOrigin(std::string_view text) {
  OriginUrl o;
  std::string_view rest;
  if (AsciiLower(text.substr(0, 7)) == "http://") {
    rest = text.substr(7);
  } else if (AsciiLower(text.substr(0, 8)) == "https://") {
    rest = text.substr(8);
    o.tls = true;
    o.port = 443;
  } else {
    return std::nullopt;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos) return std::nullopt;
  if (rest.front() == '[' || rest.rfind(':') != std::string_view::npos) {
    auto e = ParseEndpoint(rest);  // with a port, or a bracketed IPv6 address
    if (!e) return std::nullopt;
    o.host = e->host;
    o.port = e->port;
  } else {
    o.host = std::string(rest);
  }
  if (o.host.empty() || o.port == 0) return std::nullopt;
  return o;
}

Status ApplyFlags(const Flags& f, NodeConfig* c) {
  auto bad = [](std::string_view flag, const std::string& value, std::string_view form) {
    return Status::InvalidArgument(std::string(flag) + ": '" + value + "' is not " +
                                   std::string(form));
  };
  for (auto [flag, texts, out] : {std::tuple{"--listen", &f.listen, &c->listen},
                                  std::tuple{"--tls-listen", &f.tls_listen, &c->tls_listen}}) {
    if (!texts->empty()) out->clear();
    for (const auto& l : *texts) {
      auto e = ParseEndpoint(l);
      if (!e) return bad(flag, l, "ADDRESS:PORT");
      out->push_back(*e);
    }
  }
  if (!f.tls_cert.empty()) c->tls_certs = f.tls_cert;
  if (!f.tls_key.empty()) c->tls_keys = f.tls_key;
  if (f.admin) {
    auto e = ParseEndpoint(*f.admin, /*allow_unix=*/true);
    if (!e) return bad("--admin", *f.admin, "ADDRESS:PORT or unix:/PATH");
    c->admin = e;
  }
  for (auto [flag, text, out] : {std::tuple{"--origin", &f.origin, &c->default_origin},
                                 std::tuple{"--parent", &f.parent, &c->parent}}) {
    if (!*text) continue;
    *out = ParseOrigin(**text);
    if (!*out) return bad(flag, **text, "http://HOST:PORT or https://HOST:PORT");
  }
  if (f.name) c->name = *f.name;
  for (const auto& m : f.maps) {
    const size_t eq = m.find('=');
    auto o = eq == std::string::npos ? std::nullopt : ParseOrigin(m.substr(eq + 1));
    if (!o || eq == 0) return bad("--map", m, "HOST=http(s)://ORIGIN:PORT");
    c->origins[AsciiLower(m.substr(0, eq))] = *o;
  }
  if (f.store) c->store_dir = *f.store;
  for (auto [flag, text, out] :
       {std::tuple{"--capacity", &f.capacity, &c->store.capacity_bytes},
        std::tuple{"--ram-cache", &f.ram_cache, &c->store.ram_cache_bytes}}) {
    if (!*text) continue;
    auto v = ParseSize(**text);
    if (!v) return bad(flag, **text, "a size");
    *out = *v;
  }
  if (f.threads) c->threads = *f.threads;
  if (f.event_loop) {
    if (auto loop = ParseEventLoop(*f.event_loop)) {
      c->event_loop = *loop;
    } else {
      return bad("--event-loop", *f.event_loop, "auto, io_uring or epoll");
    }
  }
  if (f.log_level) c->log_level = *f.log_level;
  if (f.error_log) c->error_log = *f.error_log;
  if (f.origin_ca) c->origin_ca_file = *f.origin_ca;
  if (f.access_log) c->access_log = *f.access_log;
  return Status::OK();
}

Status LoadFile(const std::string& path, NodeConfig* c) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument("config file " + path + ": " + std::string(e.description()) +
                                   " at line " + std::to_string(e.source().begin.line));
  }
  // Every key is read through these helpers, so a wrong type names its key. They take
  // values of their exact TOML type: toml++'s value<T>() would read true as the integer 1
  // and 0 as false.
  Status s;
  auto str = [&](const toml::node_view<toml::node>& n, std::string_view key, std::string* out) {
    if (!n) return;
    if (auto v = n.value<std::string>()) {
      *out = *v;
    } else if (s.ok()) {
      s = Bad(key, "must be a string");
    }
  };
  auto integer = [&](const toml::node_view<toml::node>& n, std::string_view key, int64_t* out) {
    if (!n) return;
    if (auto v = n.value_exact<int64_t>()) {
      *out = *v;
    } else if (s.ok()) {
      s = Bad(key, "must be an integer");
    }
  };
  auto size = [&](const toml::node_view<toml::node>& n, std::string_view key, uint64_t* out) {
    if (!n) return;
    if (auto v = n.value_exact<int64_t>(); v && *v >= 0) {
      *out = static_cast<uint64_t>(*v);
    } else if (auto t = n.value<std::string>(); t && ParseSize(*t)) {
      *out = *ParseSize(*t);
    } else if (s.ok()) {
      s = Bad(key, "must be a size such as 10GiB, 512MiB or a number of bytes");
    }
  };
  auto boolean = [&](const toml::node_view<toml::node>& n, std::string_view key, bool* out) {
    if (!n) return;
    if (auto v = n.value_exact<bool>()) {
      *out = *v;
    } else if (s.ok()) {
      s = Bad(key, "must be true or false");
    }
  };
  // A string naming one of `choices`; any other is refused with the list of them.
  auto choice = [&]<typename T>(const toml::node_view<toml::node>& n, std::string_view key,
                                std::initializer_list<std::pair<std::string_view, T>> choices,
                                T* out) {
    std::string text;
    str(n, key, &text);
    if (text.empty()) return;
    for (const auto& [name, value] : choices) {
      if (text == name) {
        *out = value;
        return;
      }
    }
    if (!s.ok()) return;
    std::string listed;
    for (size_t i = 0; const auto& [name, value] : choices) {
      if (i > 0) listed += i + 1 == choices.size() ? " or " : ", ";
      listed += "\"" + std::string(name) + "\"";
      ++i;
    }
    s = Bad(key, "must be " + listed);
  };
  auto names = [&](const toml::node_view<toml::node>& n, std::string_view key,
                   std::vector<std::string>* out) {
    if (!n) return;
    auto* arr = n.as_array();
    bool ok = arr != nullptr;
    for (size_t i = 0; ok && i < arr->size(); ++i) {
      auto name = (*arr)[i].value<std::string>();
      ok = name && !name->empty();
      if (ok) out->push_back(*name);
    }
    if (!ok && s.ok()) s = Bad(key, "must be an array of non-empty names");
  };
  // A file name, or an array of them.
  auto files = [&](const toml::node_view<toml::node>& n, std::string_view key,
                   std::vector<std::string>* out) {
    if (!n) return;
    out->clear();
    if (auto v = n.value<std::string>(); v && !v->empty()) {
      out->push_back(*v);
    } else if (n.as_array() != nullptr) {
      names(n, key, out);
    } else if (s.ok()) {
      s = Bad(key, "must be a file name or an array of them");
    }
  };
  auto endpoint = [&](const std::string& text, std::string_view key) -> std::optional<Endpoint> {
    const bool admin = key == "admin";
    auto e = ParseEndpoint(text, admin);
    if (!e && s.ok())
      s = Bad(key, "'" + text + "' is not ADDRESS:PORT" + (admin ? " or unix:/PATH" : ""));
    return e;
  };

  static const std::vector<std::string> kTopKeys = {"listen",
                                                    "admin",
                                                    "admin_token",
                                                    "log_level",
                                                    "error_log",
                                                    "access_log",
                                                    "access_log_format",
                                                    "threads",
                                                    "event_loop",
                                                    "name",
                                                    "response_via",
                                                    "parent",
                                                    "origin_ca_file",
                                                    "tls_listen",
                                                    "tls",
                                                    "store",
                                                    "origins",
                                                    "timeouts",
                                                    "limits",
                                                    "cache",
                                                    "cluster"};
  for (auto&& [k, v] : root) {
    (void)v;
    if (std::find(kTopKeys.begin(), kTopKeys.end(), std::string(k.str())) == kTopKeys.end()) {
      return Bad(k.str(), "unknown key");
    }
  }

  // Inside the tables too, a misspelt key is an error rather than a silent default.
  static const std::map<std::string, std::vector<std::string>> kTableKeys = {
      {"store",
       {"dir", "capacity", "segment_size", "ram_cache", "index_cache", "entry_cache",
        "presence_filter", "reinsert_hot_objects", "sync", "io_backend", "commit_window_us",
        "admission", "probation"}},
      {"timeouts", {"connect_ms", "origin_ms", "client_ms", "idle_ms", "grace_ms"}},
      {"tls", {"cert", "key"}},
      {"cluster", {"purge_log", "node_id", "catch_up_ms", "advertise_admin"}},
      {"limits",
       {"max_header_bytes", "max_request_body_bytes", "max_connections", "max_object_bytes"}},
      {"cache",
       {"honour_client_no_cache", "forward_surrogate_headers", "content_etag",
        "synthesize_last_modified", "sort_query", "key_scheme", "collapse_wait_ms",
        "range_miss_fetch_full", "max_variants", "strip_query_params", "key_headers",
        "store_set_cookie", "heuristic_fraction", "heuristic_max_seconds",
        "stale_if_error_seconds"}}};
  for (const auto& [table, keys] : kTableKeys) {
    auto node = root[table];
    if (!node) continue;
    auto* t = node.as_table();
    if (t == nullptr) return Bad(table, "must be a table ([" + table + "])");
    for (auto&& [k, v] : *t) {
      (void)v;
      if (std::find(keys.begin(), keys.end(), std::string(k.str())) == keys.end()) {
        return Bad(table + "." + std::string(k.str()), "unknown key");
      }
    }
  }

  for (const char* key : {"listen", "tls_listen"}) {
    auto node = root[key];
    if (!node) continue;
    std::vector<Endpoint>* out = std::string_view(key) == "listen" ? &c->listen : &c->tls_listen;
    if (auto* arr = node.as_array()) {
      out->clear();
      for (auto& item : *arr) {
        auto text = item.value<std::string>();
        if (!text) return Bad(key, "must be an array of \"ADDRESS:PORT\" strings");
        if (auto e = endpoint(*text, key)) out->push_back(*e);
      }
    } else if (auto text = node.value<std::string>()) {
      out->clear();
      if (auto e = endpoint(*text, key)) out->push_back(*e);
    } else {
      return Bad(key, "must be \"ADDRESS:PORT\" or an array of them");
    }
  }
  auto cluster = root["cluster"];
  str(cluster["purge_log"], "cluster.purge_log", &c->purge_log);
  str(cluster["node_id"], "cluster.node_id", &c->node_id);
  integer(cluster["catch_up_ms"], "cluster.catch_up_ms", &c->catch_up_ms);
  str(cluster["advertise_admin"], "cluster.advertise_admin", &c->advertise_admin);
  auto tls = root["tls"];
  files(tls["cert"], "tls.cert", &c->tls_certs);
  files(tls["key"], "tls.key", &c->tls_keys);
  std::string admin;
  str(root["admin"], "admin", &admin);
  if (!admin.empty()) c->admin = endpoint(admin, "admin");
  str(root["admin_token"], "admin_token", &c->admin_token);
  str(root["log_level"], "log_level", &c->log_level);
  str(root["name"], "name", &c->name);
  boolean(root["response_via"], "response_via", &c->response_via);
  std::string parent;
  str(root["parent"], "parent", &parent);
  if (!parent.empty()) {
    c->parent = ParseOrigin(parent);
    if (!c->parent && s.ok())
      s = Bad("parent",
              "must be a URL such as \"http://10.0.0.9:8080\" or \"https://shield.example\"");
  }
  str(root["error_log"], "error_log", &c->error_log);
  str(root["origin_ca_file"], "origin_ca_file", &c->origin_ca_file);
  str(root["access_log"], "access_log", &c->access_log);
  choice(
      root["access_log_format"], "access_log_format",
      {{"text", NodeConfig::AccessLogFormat::kText}, {"json", NodeConfig::AccessLogFormat::kJson}},
      &c->access_log_format);
  int64_t threads = c->threads;
  integer(root["threads"], "threads", &threads);
  c->threads = static_cast<int>(threads);
  std::string event_loop;
  str(root["event_loop"], "event_loop", &event_loop);
  if (!event_loop.empty()) {
    if (auto loop = ParseEventLoop(event_loop)) {
      c->event_loop = *loop;
    } else if (s.ok()) {
      s = Bad("event_loop", "must be \"auto\", \"io_uring\" or \"epoll\"");
    }
  }

  auto store = root["store"];
  str(store["dir"], "store.dir", &c->store_dir);
  size(store["capacity"], "store.capacity", &c->store.capacity_bytes);
  size(store["segment_size"], "store.segment_size", &c->store.segment_bytes);
  size(store["ram_cache"], "store.ram_cache", &c->store.ram_cache_bytes);
  size(store["entry_cache"], "store.entry_cache", &c->store.entry_cache_bytes);
  size(store["index_cache"], "store.index_cache", &c->store.index_cache_bytes);
  if (store["presence_filter"].value_or(std::string()) == "auto") {
    c->store.presence_filter_bytes = StoreOptions::kAutoSize;
  } else {
    size(store["presence_filter"], "store.presence_filter", &c->store.presence_filter_bytes);
  }
  boolean(store["reinsert_hot_objects"], "store.reinsert_hot_objects",
          &c->store.reinsert_hot_objects);
  int64_t commit_window = c->store.commit_window_us;
  integer(store["commit_window_us"], "store.commit_window_us", &commit_window);
  if ((commit_window < 0 || commit_window > 100000) && s.ok()) {
    s = Bad("store.commit_window_us", "must be between 0 (off) and 100000 microseconds");
  }
  c->store.commit_window_us = static_cast<uint32_t>(std::clamp<int64_t>(commit_window, 0, 100000));
  choice(store["admission"], "store.admission",
         {{"all", Admission::kAll}, {"probation", Admission::kProbation}}, &c->store.admission);
  size(store["probation"], "store.probation", &c->store.probation_bytes);
  choice(store["sync"], "store.sync",
         {{"none", SyncPolicy::kNone}, {"commit", SyncPolicy::kCommit}}, &c->store.sync);
  choice(store["io_backend"], "store.io_backend",
         {{"auto", IoBackendKind::kAuto},
          {"io_uring", IoBackendKind::kIoUring},
          {"posix", IoBackendKind::kPosix}},
         &c->store.io_backend);

  if (auto* origins = root["origins"].as_table()) {
    for (auto&& [host, value] : *origins) {
      std::string key = "origins." + std::string(host.str());
      // "URL", or { url = "URL", sni = "NAME" } for an https origin addressed by IP.
      std::optional<std::string> text = value.value<std::string>();
      std::optional<std::string> sni;
      if (auto* entry = value.as_table()) {
        for (auto&& [k, v] : *entry) {
          (void)v;
          if (k.str() != "url" && k.str() != "sni")
            return Bad(key + "." + std::string(k.str()), "unknown key");
        }
        text = (*entry)["url"].value<std::string>();
        sni = (*entry)["sni"].value<std::string>();
        if ((*entry)["sni"] && (!sni || sni->empty()))
          return Bad(key + ".sni", "must be a host name");
      }
      auto origin = text ? ParseOrigin(*text) : std::nullopt;
      if (!origin) {
        if (s.ok())
          s = Bad(key,
                  "must be an origin URL such as \"http://10.0.0.5:8080\" or "
                  "\"https://www.example.com\", or { url = URL, sni = NAME }");
        continue;
      }
      if (sni) {
        if (!origin->tls) return Bad(key + ".sni", "only an https:// origin has a TLS name");
        origin->sni = *sni;
      }
      if (host.str() == "default") {
        c->default_origin = origin;
      } else {
        c->origins[AsciiLower(host.str())] = *origin;
      }
    }
  } else if (root["origins"]) {
    return Bad("origins", "must be a table of HOST = \"http://ORIGIN:PORT\"");
  }

  auto t = root["timeouts"];
  integer(t["connect_ms"], "timeouts.connect_ms", &c->connect_timeout_ms);
  integer(t["origin_ms"], "timeouts.origin_ms", &c->origin_timeout_ms);
  integer(t["client_ms"], "timeouts.client_ms", &c->client_timeout_ms);
  integer(t["idle_ms"], "timeouts.idle_ms", &c->idle_timeout_ms);
  integer(t["grace_ms"], "timeouts.grace_ms", &c->grace_ms);

  auto l = root["limits"];
  uint64_t header_bytes = c->max_header_bytes, connections = c->max_connections;
  size(l["max_header_bytes"], "limits.max_header_bytes", &header_bytes);
  size(l["max_request_body_bytes"], "limits.max_request_body_bytes", &c->max_request_body_bytes);
  size(l["max_connections"], "limits.max_connections", &connections);
  size(l["max_object_bytes"], "limits.max_object_bytes", &c->max_object_bytes);
  c->max_header_bytes = static_cast<uint32_t>(std::min<uint64_t>(header_bytes, UINT32_MAX));
  c->max_connections = static_cast<uint32_t>(std::min<uint64_t>(connections, UINT32_MAX));

  auto cache = root["cache"];
  boolean(cache["honour_client_no_cache"], "cache.honour_client_no_cache",
          &c->honour_client_no_cache);
  boolean(cache["forward_surrogate_headers"], "cache.forward_surrogate_headers",
          &c->forward_surrogate_headers);
  if (auto n = cache["content_etag"]; n) {
    auto flag = n.value_exact<bool>();
    auto mode = n.value_exact<std::string>();
    if (flag) {
      c->content_etag = *flag ? NodeConfig::ContentEtag::kMissing : NodeConfig::ContentEtag::kOff;
    } else if (mode && (*mode == "off" || *mode == "missing" || *mode == "always")) {
      c->content_etag = *mode == "off"       ? NodeConfig::ContentEtag::kOff
                        : *mode == "missing" ? NodeConfig::ContentEtag::kMissing
                                             : NodeConfig::ContentEtag::kAlways;
    } else if (s.ok()) {
      s = Bad("cache.content_etag", "must be true, false, \"off\", \"missing\" or \"always\"");
    }
  }
  boolean(cache["synthesize_last_modified"], "cache.synthesize_last_modified",
          &c->synthesize_last_modified);
  boolean(cache["sort_query"], "cache.sort_query", &c->sort_query);
  boolean(cache["key_scheme"], "cache.key_scheme", &c->key_scheme);
  integer(cache["collapse_wait_ms"], "cache.collapse_wait_ms", &c->collapse_wait_ms);
  boolean(cache["range_miss_fetch_full"], "cache.range_miss_fetch_full", &c->range_miss_fetch_full);
  int64_t max_variants = c->max_variants;
  integer(cache["max_variants"], "cache.max_variants", &max_variants);
  if (max_variants < 1 || max_variants > 1024) {
    if (s.ok()) s = Bad("cache.max_variants", "must be between 1 and 1024");
  } else {
    c->max_variants = static_cast<uint32_t>(max_variants);
  }
  names(cache["strip_query_params"], "cache.strip_query_params", &c->strip_query_params);
  names(cache["key_headers"], "cache.key_headers", &c->key_headers);
  for (auto& name : c->key_headers) name = AsciiLower(name);
  boolean(cache["store_set_cookie"], "cache.store_set_cookie", &c->store_set_cookie);
  if (auto f = cache["heuristic_fraction"]) {
    if (auto v = f.value<double>())
      c->heuristic_fraction = *v;
    else if (s.ok())
      s = Bad("cache.heuristic_fraction", "must be a number");
  }
  integer(cache["heuristic_max_seconds"], "cache.heuristic_max_seconds", &c->heuristic_max_seconds);
  integer(cache["stale_if_error_seconds"], "cache.stale_if_error_seconds",
          &c->default_stale_if_error_seconds);
  return s;
}

Status Validate(const NodeConfig& c) {
  if (c.store_dir.empty()) return Bad("store.dir", "is required (--store DIR)");
  if (c.origins.empty() && !c.default_origin) {
    return Bad("origins", "no origin configured (--origin URL or an [origins] table)");
  }
  Status s = c.store.Validate();
  if (!s.ok()) return Bad("store", s.message());
  static const std::vector<std::string> kLevels = {"trace", "debug", "info",
                                                   "warn",  "error", "off"};
  if (std::find(kLevels.begin(), kLevels.end(), c.log_level) == kLevels.end()) {
    return Bad("log_level", "must be one of trace, debug, info, warn, error, off");
  }
  if (c.threads < 0 || c.threads > 256) return Bad("threads", "must be between 0 and 256");
  if (!c.tls_listen.empty() && c.tls_certs.empty())
    return Bad("tls", "tls_listen needs tls.cert and tls.key (--tls-cert, --tls-key)");
  if (c.tls_certs.size() != c.tls_keys.size()) {
    return Bad("tls", "tls.cert lists " + std::to_string(c.tls_certs.size()) +
                          " certificates and tls.key " + std::to_string(c.tls_keys.size()) +
                          " keys: they go in pairs");
  }
  for (const auto& [key, files] : {std::pair{"tls.cert", &c.tls_certs}, {"tls.key", &c.tls_keys}}) {
    for (const std::string& file : *files) {
      if (::access(file.c_str(), R_OK) != 0) return Bad(key, "cannot read " + file);
    }
  }
  if (!c.purge_log.empty()) {
    if (!cluster::ParseRedisUrl(c.purge_log))
      return Bad("cluster.purge_log", "'" + c.purge_log + "' is not redis://HOST:PORT/STREAM");
    if (c.node_id.empty() || c.node_id.size() > 64 ||
        c.node_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789._-") != std::string::npos)
      return Bad("cluster.node_id",
                 "purge_log needs a node_id of letters, digits, '.', '_' and '-' (at most 64)");
  }
  if (c.catch_up_ms < 0 || c.catch_up_ms > 3600000)
    return Bad("cluster.catch_up_ms", "must be between 0 and 3600000");
  if (!c.origin_ca_file.empty() && ::access(c.origin_ca_file.c_str(), R_OK) != 0) {
    return Bad("origin_ca_file", "cannot read " + c.origin_ca_file);
  }
  for (const auto& name : c.key_headers) {
    // A field name is an HTTP token (RFC 9110 §5.1).
    if (!util::IsToken(name))
      return Bad("cache.key_headers", "'" + name + "' is not a header field name");
  }
  if (c.name.empty() || c.name.find_first_of(" ,;=\"\r\n") != std::string::npos) {
    return Bad("name", "must be a non-empty token (no spaces, commas, semicolons or quotes)");
  }
  for (auto [key, v] :
       {std::pair<const char*, int64_t>{"timeouts.connect_ms", c.connect_timeout_ms},
        {"timeouts.origin_ms", c.origin_timeout_ms},
        {"timeouts.client_ms", c.client_timeout_ms},
        {"timeouts.idle_ms", c.idle_timeout_ms}}) {
    if (v < 1 || v > 3600000) return Bad(key, "must be between 1 and 3600000 milliseconds");
  }
  if (c.grace_ms < 0) return Bad("timeouts.grace_ms", "must not be negative");
  if (c.max_header_bytes < 1024) return Bad("limits.max_header_bytes", "must be at least 1024");
  if (c.max_connections < 1) return Bad("limits.max_connections", "must be at least 1");
  if (c.collapse_wait_ms < 0 || c.collapse_wait_ms > 3600000) {
    return Bad("cache.collapse_wait_ms", "must be between 0 (off) and 3600000");
  }
  if (c.default_stale_if_error_seconds < 0) {
    return Bad("cache.stale_if_error_seconds", "must not be negative");
  }
  if (c.heuristic_fraction < 0 || c.heuristic_fraction > 1) {
    return Bad("cache.heuristic_fraction", "must be between 0 and 1");
  }
  if (c.admin) {
    if (!c.admin->IsLocal() && c.admin_token.empty()) {
      return Bad("admin_token",
                 "is required when the admin listener (" + c.admin->ToString() +
                     ") is reachable from other machines; set admin_token in the config file or "
                     "EDGECACHE_ADMIN_TOKEN, or bind the admin listener to 127.0.0.1 or a "
                     "unix: socket");
    }
    for (const auto& l : c.listen) {
      if (l.port != 0 && l.port == c.admin->port && l.host == c.admin->host) {
        return Bad("admin", "must not be one of the listen addresses");
      }
    }
  }
  return Status::OK();
}

Status CheckStoreDir(const std::string& dir) {
  if (dir.empty()) return Bad("store.dir", "is required (--store DIR)");
  // The directory itself, or the nearest ancestor that exists (the start creates the rest).
  std::filesystem::path probe_dir(dir);
  std::error_code ec;
  while (!std::filesystem::exists(probe_dir, ec)) {
    if (ec) return Bad("store.dir", dir + ": " + ec.message());
    probe_dir = probe_dir.has_relative_path() ? probe_dir.parent_path() : ".";
    if (probe_dir.empty()) probe_dir = ".";
  }
  if (!std::filesystem::is_directory(probe_dir, ec)) {
    return Bad("store.dir", dir + ": " + probe_dir.string() + " is not a directory");
  }
  std::string probe = (probe_dir / ".edgecache-probe-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) {
    return Bad("store.dir", dir + ": cannot create files in " + probe_dir.string() + ": " +
                                std::strerror(errno));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::OK();
}

}  // namespace edgecache::config
