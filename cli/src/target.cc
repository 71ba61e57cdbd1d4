#include "target.h"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <ctime>

namespace edgecache::ctl {
namespace {

namespace json = boost::json;

std::string Encode(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

// --- a running node ---

class Node final : public Target {
 public:
  Node(std::string node, std::string token, std::chrono::milliseconds timeout)
      : node_(std::move(node)), token_(std::move(token)), timeout_(timeout) {}

  Result Inspect(const std::string& url,
                 const std::map<std::string, std::string>& headers) override {
    std::string target = "/api/v1/inspect?url=" + Encode(url);
    for (const auto& [name, value] : headers) target += "&header=" + Encode(name + ":" + value);
    return Call("GET", target);
  }
  Result List(const admin::ListRequest& r) override {
    std::string target = "/api/v1/list?limit=" + std::to_string(r.limit);
    if (!r.prefix.empty()) target += "&prefix=" + Encode(r.prefix);
    if (!r.tag.empty()) target += "&tag=" + Encode(r.tag);
    if (r.stale_only) target += "&stale=1";
    if (!r.after.empty()) target += "&after=" + Encode(r.after);
    return Call("GET", target);
  }
  Result Stats() override { return Call("GET", "/api/v1/stats"); }
  Result Purge(admin::PurgeKind kind, const std::vector<std::string>& values, bool soft) override {
    json::array list;
    for (const auto& v : values) list.emplace_back(v);
    json::object body{
        {"kind", admin::PurgeKindName(kind)}, {"values", std::move(list)}, {"soft", soft}};
    return Call("POST", "/api/v1/purge", json::serialize(body));
  }
  Result Verify(bool repair, const std::function<void(uint64_t)>&) override {
    return Call("POST", std::string("/api/v1/verify") + (repair ? "?repair=1" : ""));
  }
  Result Reload() override { return Call("POST", "/api/v1/reload", "{}"); }
  Result Top(size_t n) override { return Call("GET", "/api/v1/top?n=" + std::to_string(n)); }
  Result Cluster() override { return Call("GET", "/api/v1/cluster"); }
  Result ResolveGap(bool purge_all) override {
    return Call("POST",
                std::string("/api/v1/cluster/resolve?store=") + (purge_all ? "purge" : "keep"),
                "{}");
  }
  Result ClientListener() override {
    Result r = Call("GET", "/api/v1/node");
    if (!r.ok()) return r;
    const json::array* listen = r.doc.contains("listen") ? r.doc.at("listen").if_array() : nullptr;
    if (listen == nullptr || listen->empty() || !(*listen)[0].is_string()) {
      return {kFailed, node_ + " reports no client listener", {}};
    }
    std::string where((*listen)[0].as_string());
    // A wildcard listener is reached on loopback from here.
    if (where.starts_with("0.0.0.0:")) where = "127.0.0.1:" + where.substr(8);
    if (where.starts_with("[::]:")) where = "[::1]:" + where.substr(5);
    r.doc = json::object{{"listen", where}};
    return r;
  }

 private:
  Result Call(const std::string& method, const std::string& target, const std::string& body = "") {
    if (!client_) {
      Status s = HttpClient::Connect(node_, timeout_, &client_);
      if (!s.ok()) {
        return {
            s.code() == Status::Code::kInvalidArgument ? kUsage : kUnreachable, s.message(), {}};
      }
    }
    std::map<std::string, std::string> headers;
    if (!token_.empty()) headers["Authorization"] = "Bearer " + token_;
    if (!body.empty()) headers["Content-Type"] = "application/json";
    HttpReply reply;
    Status s = client_->Send(method, target, headers, body, &reply);
    if (!s.ok()) return {kUnreachable, s.message(), {}};
    boost::system::error_code ec;
    json::value v = json::parse(reply.body, ec);
    if (ec || !v.is_object()) {
      return {kFailed,
              node_ + " answered " + std::to_string(reply.status) + " without a JSON document" +
                  (reply.status == 404 ? " (is this an edgecache admin listener?)" : ""),
              {}};
    }
    json::object doc = std::move(v.as_object());
    if (reply.status == 200) return {kOk, "", std::move(doc)};
    std::string error = doc.contains("error") && doc.at("error").is_string()
                            ? std::string(doc.at("error").as_string())
                            : "HTTP " + std::to_string(reply.status);
    switch (reply.status) {
      case 400:
      case 422:  // a reload refused: the node's configuration does not load
        return {kUsage, error, {}};
      case 401:
        return {
            kRefused,
            error + (token_.empty() ? " (give --token or EDGECACHE_TOKEN)" : " (token refused)"),
            {}};
      case 404:  // no such object; "no route" means this is not an admin API we know
        return {error.starts_with("no route") ? kFailed : kNotFound, error, {}};
      default:
        return {kFailed, error, {}};
    }
  }

  const std::string node_, token_;
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<HttpClient> client_;
};

// --- a store directory ---

class Offline final : public Target {
 public:
  explicit Offline(config::NodeConfig config)
      : config_(std::move(config)),
        keys_{config_.sort_query, config_.strip_query_params, config_.key_scheme} {}

  Result Inspect(const std::string& url,
                 const std::map<std::string, std::string>& headers) override {
    return With(/*write=*/false, [&](Store& store, json::object* doc) {
      return admin::Inspect(store, keys_, url, headers, Now(), doc);
    });
  }
  Result List(const admin::ListRequest& request) override {
    return With(false, [&](Store& store, json::object* doc) {
      return admin::List(store, keys_, request, Now(), doc);
    });
  }
  Result Stats() override {
    return With(false, [](Store& store, json::object* doc) {
      store.WaitForBackgroundWork();  // a recount after a crash
      *doc = admin::Stats(store, nullptr);
      return Status::OK();
    });
  }
  Result Purge(admin::PurgeKind kind, const std::vector<std::string>& values, bool soft) override {
    return With(true, [&](Store& store, json::object* doc) {
      return admin::Purge(store, keys_, kind, values, soft ? PurgeMode::kSoft : PurgeMode::kHard,
                          doc);
    });
  }
  Result Verify(bool repair, const std::function<void(uint64_t)>& progress) override {
    return With(repair, [&](Store& store, json::object* doc) {
      return admin::Verify(store, repair, progress, nullptr, doc);
    });
  }
  Result Reload() override {
    return {kUsage, "reload tells a running node to re-read its configuration: give --node", {}};
  }
  Result Top(size_t) override {
    return {kUsage, "top watches a running node: give --node, not --store", {}};
  }
  Result Cluster() override {
    return {kUsage, "cluster asks a running node about its purge log: give --node", {}};
  }
  Result ResolveGap(bool) override {
    return {kUsage, "cluster resolve tells a running node what to do: give --node", {}};
  }
  Result ClientListener() override {
    return {kUsage, "warm fetches through a running node: give --node, not --store", {}};
  }

 private:
  static int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

  template <typename Fn>
  Result With(bool write, Fn&& fn) {
    StoreOptions options = config_.store;
    options.read_only = !write;
    options.create_if_missing = false;
    std::unique_ptr<Store> store;
    Status s = Store::Open(options, config_.store_dir, &store);
    if (!s.ok()) {
      std::string hint;
      if (s.code() == Status::Code::kBusy)
        hint = write ? "; a running node holds it: use --node to change it"
                     : "; a running node holds it: use --node";
      return {kStoreUnavailable, s.message() + hint, {}};
    }
    Result r;
    s = fn(*store, &r.doc);
    if (s.ok()) return r;
    switch (s.code()) {
      case Status::Code::kNotFound:
        return {kNotFound, s.message(), {}};
      case Status::Code::kInvalidArgument:
        return {kUsage, s.message(), {}};
      default:
        return {kFailed, s.ToString(), {}};
    }
  }

  const config::NodeConfig config_;
  const proxy::KeyOptions keys_;
};

}  // namespace

std::unique_ptr<Target> NodeTarget(std::string node, std::string token,
                                   std::chrono::milliseconds timeout) {
  return std::make_unique<Node>(std::move(node), std::move(token), timeout);
}

std::unique_ptr<Target> StoreTarget(config::NodeConfig config) {
  return std::make_unique<Offline>(std::move(config));
}

}  // namespace edgecache::ctl
