#include "admin/admin_api.h"

#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <ctime>
#include <map>

#include "admin/store_report.h"
#include "util/ascii.h"
#include "version/version.h"

namespace edgecache::admin {
namespace {

namespace http = boost::beast::http;

AdminResponse Reply(const AdminRequest& req, http::status status, std::string body,
                    std::string_view content_type) {
  AdminResponse res{status, req.version()};
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

AdminResponse Json(const AdminRequest& req, http::status status, const json::value& v) {
  return Reply(req, status, json::serialize(v) + "\n", "application/json");
}

AdminResponse Error(const AdminRequest& req, http::status status, const std::string& message) {
  return Json(req, status, json::object{{"error", message}});
}

// The HTTP status for a failed store call.
AdminResponse Failed(const AdminRequest& req, const Status& s) {
  switch (s.code()) {
    case Status::Code::kNotFound:
      return Error(req, http::status::not_found, s.message());
    case Status::Code::kInvalidArgument:
      return Error(req, http::status::bad_request, s.message());
    default:
      return Error(req, http::status::internal_server_error, s.ToString());
  }
}

// Constant-time comparison of equal-length strings: the time taken does not tell how much
// of a guess was right (only whether its length was).
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || b.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The purge log as /api/v1/cluster and the stats show it.
json::object ClusterDoc(const cluster::Follower& follower, const config::NodeConfig& config) {
  const cluster::Follower::View v = follower.Get();
  return json::object{{"purge_log", config.purge_log},
                      {"node_id", config.node_id},
                      {"state", cluster::Follower::StateName(v.state)},
                      {"applied", v.applied},
                      {"applied_number", v.applied_seq},
                      {"log_end", v.log_end},
                      {"log_end_number", v.log_end_seq},
                      {"behind", v.log_end_seq > v.applied_seq ? v.log_end_seq - v.applied_seq : 0},
                      {"applied_entries", v.applied_entries},
                      {"skipped_entries", v.skipped_entries},
                      {"error", v.error}};
}

}  // namespace

AdminApi::AdminApi(const config::LiveConfig& config, Store& store, const metrics::Metrics& metrics,
                   std::vector<config::Endpoint> listeners,
                   std::function<config::ReloadResult()> reload, std::function<void()> settle)
    : config_(config),
      store_(store),
      metrics_(metrics),
      listeners_(std::move(listeners)),
      reload_(std::move(reload)),
      settle_(std::move(settle)) {}

bool AdminApi::Authorized(const AdminRequest& req, const config::NodeConfig& config) const {
  if (config.admin_token.empty()) return true;
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return false;
  std::string_view value(it->value().data(), it->value().size());
  constexpr std::string_view kBearer = "bearer ";
  if (util::AsciiLower(value.substr(0, kBearer.size())) != kBearer) return false;
  return SameSecret(util::TrimOws(value.substr(kBearer.size())), config.admin_token);
}

bool AdminApi::Quick(const AdminRequest& req) {
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  return target == "/healthz" || target == "/metrics" || target == "/api/v1/top";
}

void AdminApi::Cancel() { cancel_ = true; }

AdminResponse AdminApi::RequestError(unsigned status, const std::string& message) {
  AdminRequest closing;
  closing.keep_alive(false);
  return Error(closing, static_cast<http::status>(status), message);
}

AdminResponse AdminApi::Handle(const AdminRequest& req) {
  auto url =
      boost::urls::parse_origin_form(std::string_view(req.target().data(), req.target().size()));
  if (!url) return Error(req, http::status::bad_request, "bad request target");
  const std::string path = url->path();
  // What clients have received is in the store before it is listed or purged.
  if (settle_ && !Quick(req)) settle_();
  if (path == "/healthz") {
    // A balancer sends nothing to a node that has purges left to apply or lost some.
    if (follower_ != nullptr) {
      const cluster::Follower::State state = follower_->Get().state;
      if (state == cluster::Follower::State::kStarting ||
          state == cluster::Follower::State::kCatchingUp ||
          state == cluster::Follower::State::kGap) {
        return Reply(req, http::status::service_unavailable,
                     std::string(cluster::Follower::StateName(state)) + "\n", "text/plain");
      }
    }
    return Reply(req, http::status::ok, "ok\n", "text/plain");
  }
  const std::shared_ptr<const config::NodeConfig> config = config_.Get();
  if (!Authorized(req, *config)) {
    AdminResponse res = Error(req, http::status::unauthorized,
                              "this admin API needs \"Authorization: Bearer TOKEN\"");
    res.set(http::field::www_authenticate, "Bearer realm=\"edgecache admin\"");
    return res;
  }
  std::multimap<std::string, std::string> params;
  for (const auto& p : url->params()) params.emplace(p.key, p.has_value ? p.value : "");
  auto param = [&params](const std::string& name) {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  };
  auto flag = [&](const std::string& name) {
    const std::string v = param(name);
    return v == "1" || v == "true" || v == "yes";
  };
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  const bool post = req.method() == http::verb::post;
  if (post) {
    // A web page cannot make a browser send this: a cross-site POST carries Origin, and a
    // JSON body needs a CORS preflight this API never answers. So a page on another site
    // cannot purge through an admin listener without a token.
    if (req.find(http::field::origin) != req.end()) {
      return Error(req, http::status::forbidden, "requests from web pages (Origin) are refused");
    }
    std::string_view type = req[http::field::content_type];
    type = util::TrimOws(type.substr(0, type.find(';')));
    if (util::AsciiLower(type) != "application/json") {
      return Error(req, http::status::unsupported_media_type,
                   "POST needs \"Content-Type: application/json\"");
    }
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const proxy::KeyOptions keys{config->sort_query, config->strip_query_params, config->key_scheme};

  if (path == "/metrics" && get) {
    return Reply(req, http::status::ok, metrics_.Render(store_.Counters()),
                 "text/plain; version=0.0.4");
  }
  if (path == "/api/v1/node" && get) {
    json::array listen;
    for (const auto& l : listeners_) listen.emplace_back(l.ToString());
    return Json(req, http::status::ok,
                json::object{{"name", config->name},
                             {"version", version::Version()},
                             {"listen", std::move(listen)},
                             {"store", config->store_dir},
                             {"io_backend", std::string(store_.IoBackendName())}});
  }
  if (path == "/api/v1/stats" && get) {
    const metrics::Metrics::Snapshot snapshot = metrics_.Read();
    json::object doc = Stats(store_, &snapshot);
    if (follower_ != nullptr) doc["cluster"] = ClusterDoc(*follower_, *config);
    return Json(req, http::status::ok, doc);
  }
  if (path == "/api/v1/cluster" && get) {
    if (follower_ == nullptr)
      return Error(req, http::status::not_found, "this node follows no purge log ([cluster])");
    return Json(req, http::status::ok, ClusterDoc(*follower_, *config));
  }
  if (path == "/api/v1/cluster/resolve" && post) {
    if (follower_ == nullptr)
      return Error(req, http::status::not_found, "this node follows no purge log ([cluster])");
    const std::string store = param("store");
    if (store != "keep" && store != "purge")
      return Error(req, http::status::bad_request, "store=keep or store=purge");
    Status s = follower_->Resolve(store == "purge");
    if (!s.ok()) {
      return Error(req,
                   s.code() == Status::Code::kInvalidArgument ? http::status::conflict
                                                              : http::status::internal_server_error,
                   s.message());
    }
    return Json(req, http::status::ok, ClusterDoc(*follower_, *config));
  }
  if (path == "/api/v1/inspect" && get) {
    std::map<std::string, std::string> headers;
    for (auto [it, end] = params.equal_range("header"); it != end; ++it) {
      std::string name, value;
      if (!ParseHeaderLine(it->second, &name, &value))
        return Error(req, http::status::bad_request,
                     "header '" + it->second + "' is not Name:Value");
      headers[name] = value;
    }
    json::object out;
    Status s = Inspect(store_, keys, param("url"), headers, now, &out);
    return s.ok() ? Json(req, http::status::ok, out) : Failed(req, s);
  }
  if (path == "/api/v1/list" && get) {
    ListRequest list{.prefix = param("prefix"),
                     .tag = param("tag"),
                     .stale_only = flag("stale"),
                     .after = param("after")};
    if (const std::string limit = param("limit"); !limit.empty()) {
      auto [end, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), list.limit);
      if (ec != std::errc() || end != limit.data() + limit.size() || list.limit == 0)
        return Error(req, http::status::bad_request, "limit must be a positive number");
    }
    json::object out;
    Status s = List(store_, keys, list, now, &out);
    return s.ok() ? Json(req, http::status::ok, out) : Failed(req, s);
  }
  if (path == "/api/v1/purge" && post) {
    boost::system::error_code ec;
    json::value body = json::parse(req.body(), ec);
    const json::object* o = ec ? nullptr : body.if_object();
    const json::array* values = o && o->contains("values") ? o->at("values").if_array() : nullptr;
    const json::string* kind_text = o && o->contains("kind") ? o->at("kind").if_string() : nullptr;
    auto kind = kind_text ? ParsePurgeKind(*kind_text) : std::nullopt;
    if (!kind || values == nullptr) {
      return Error(req, http::status::bad_request,
                   "body must be {\"kind\": \"url\"|\"tag\"|\"prefix\", \"values\": [...], "
                   "\"soft\": false}");
    }
    std::vector<std::string> list;
    for (const auto& v : *values) {
      if (!v.is_string()) return Error(req, http::status::bad_request, "values must be strings");
      list.emplace_back(v.as_string());
    }
    const json::value* soft = o->if_contains("soft");
    if (soft != nullptr && !soft->is_bool())
      return Error(req, http::status::bad_request, "soft must be true or false");
    const PurgeMode mode = soft && soft->as_bool() ? PurgeMode::kSoft : PurgeMode::kHard;
    json::object out;
    Status s = Purge(store_, keys, *kind, list, mode, &out);
    return s.ok() ? Json(req, http::status::ok, out) : Failed(req, s);
  }
  if (path == "/api/v1/verify" && post) {
    // It reads the whole store: one at a time is plenty.
    if (verifying_.exchange(true))
      return Error(req, http::status::conflict, "a verify is already running on this node");
    json::object out;
    Status s = Verify(store_, flag("repair"), {}, &cancel_, &out);
    verifying_ = false;
    if (s.IsAborted()) return Error(req, http::status::service_unavailable, "the node is stopping");
    return s.ok() ? Json(req, http::status::ok, out) : Failed(req, s);
  }
  if (path == "/api/v1/top" && get) {
    size_t n = 10;
    if (const std::string text = param("n"); !text.empty()) {
      char* end = nullptr;
      const unsigned long v = std::strtoul(text.c_str(), &end, 10);
      if (*end != '\0' || v < 1 || v > 1000)
        return Error(req, http::status::bad_request, "n must be a number from 1 to 1000");
      n = v;
    }
    metrics::TopUrls::Interval last = metrics_.top_urls().Last(n);
    json::array urls;
    for (auto& [url, count] : last.urls)
      urls.emplace_back(json::object{{"url", std::move(url)}, {"requests", count}});
    return Json(req, http::status::ok,
                json::object{{"interval_seconds", 1},
                             {"requests", last.requests},
                             {"other", last.other},
                             {"urls", std::move(urls)}});
  }
  if (path == "/api/v1/reload" && post) {
    config::ReloadResult result = reload_();
    if (!result.status.ok()) {
      return Error(req, http::status::unprocessable_entity,
                   "reload refused, the node keeps its configuration: " + result.status.message());
    }
    auto list = [](const std::vector<std::string>& keys) {
      json::array out;
      for (const auto& k : keys) out.emplace_back(k);
      return out;
    };
    return Json(req, http::status::ok,
                json::object{{"applied", list(result.plan.applied)},
                             {"need_restart", list(result.plan.need_restart)}});
  }
  static const std::vector<std::string> kRoutes = {
      "/metrics",        "/api/v1/node",           "/api/v1/stats",  "/api/v1/inspect",
      "/api/v1/list",    "/api/v1/purge",          "/api/v1/verify", "/api/v1/reload",
      "/api/v1/cluster", "/api/v1/cluster/resolve"};
  for (const auto& route : kRoutes) {
    if (path == route) {
      return Error(req, http::status::method_not_allowed,
                   std::string(req.method_string()) + " is not allowed on " + path);
    }
  }
  return Error(req, http::status::not_found,
               "no route " + path + " (try /healthz, /metrics or /api/v1/stats)");
}

}  // namespace edgecache::admin
