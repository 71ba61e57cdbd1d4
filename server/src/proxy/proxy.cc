#include "proxy/proxy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <ctime>
#include <deque>
#include <optional>

#include "edgecache/asio.h"
#include "http/headers.h"
#include "policy/directives.h"
#include "policy/http_date.h"
#include "proxy/cache_key.h"
#include "util/ascii.h"

namespace edgecache::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using http_util::CacheStatus;

constexpr auto kToken = asio::as_tuple(asio::use_awaitable);
constexpr size_t kPieceBytes = 64 * 1024;
// More interim (1xx) responses than this before the final one: the origin misbehaves.
constexpr int kMaxInterimResponses = 8;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

template <typename Name>
std::string_view Field(const http::fields& f, Name name) {
  auto it = f.find(name);
  return it == f.end() ? std::string_view()
                       : std::string_view(it->value().data(), it->value().size());
}

// The request's fields as variant keys see them (NormalizeVaryValue). A value that
// normalising changes is kept in `scratch`, which must outlive the getter's results.
HeaderGetter RequestHeaders(const Request& req, std::deque<std::string>* scratch) {
  return [&req, scratch](std::string_view name) -> std::optional<std::string_view> {
    auto it = req.find(beast::string_view(name.data(), name.size()));
    if (it == req.end()) return std::nullopt;
    const std::string_view value(it->value().data(), it->value().size());
    std::string normalised = NormalizeVaryValue(util::AsciiLower(name), value);
    if (normalised == value) return value;
    return scratch->emplace_back(std::move(normalised));
  };
}

// Fills the metadata the engine stores from an origin response and the storage decision.
// `key_headers` (cache.key_headers) select variants as if every response named them in Vary.
ObjectMeta MetaFrom(const http::response_header<>& resp, const policy::StorageDecision& d,
                    int64_t request_time, int64_t response_time,
                    const std::vector<std::string>& key_headers) {
  ObjectMeta m;
  m.status = static_cast<uint16_t>(resp.result_int());
  m.headers = http_util::StoredHeaders(resp);
  std::erase_if(m.headers, [&d](const auto& h) {
    return std::any_of(d.strip_fields.begin(), d.strip_fields.end(),
                       [&h](const std::string& f) { return beast::iequals(f, h.first); });
  });
  m.etag = std::string(Field(resp, http::field::etag));
  m.last_modified = policy::ParseHttpDate(Field(resp, http::field::last_modified)).value_or(0);
  m.date = policy::ParseHttpDate(Field(resp, http::field::date)).value_or(response_time);
  m.request_time = request_time;
  m.response_time = response_time;
  m.freshness_lifetime = d.freshness_lifetime;
  m.stale_while_revalidate = d.stale_while_revalidate;
  m.stale_if_error = d.stale_if_error;
  m.policy_flags = d.flags;
  m.tags = http_util::SurrogateTags(resp);
  m.vary = http_util::ListMembers(resp, http::field::vary);
  m.vary.insert(m.vary.end(), key_headers.begin(), key_headers.end());
  return m;
}

// The byte range a stored 206 holds, nullopt for any other stored response.
std::optional<http_util::ContentRange> StoredPart(const ObjectMeta& meta) {
  if (meta.status != 206) return std::nullopt;
  return http_util::ParseContentRange(http_util::StoredHeader(meta, "content-range"));
}

// What If-Range can carry to complete a stored part (RFC 9111 §3.4 needs a strong
// validator): its strong ETag, else its Last-Modified; "" when it has neither.
std::string CompletionValidator(const ObjectMeta& meta) {
  if (!meta.etag.empty() && !meta.etag.starts_with("W/")) return meta.etag;
  return meta.last_modified != 0 ? policy::FormatHttpDate(meta.last_modified) : std::string();
}

bool IsTimeout(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

}  // namespace

struct Proxy::Exchange {
  Request& req;               // the header (as forwarded, once prepared)
  beast::tcp_stream* client;  // null for a background revalidation: nobody to answer
  std::string client_address;
  http_util::RequestBody* body = nullptr;  // streamed to the origin for other methods
  bool head = false;
  bool keep_alive = true;
  std::string host;
  std::string target;   // origin-form: path and query
  std::string primary;  // cache key
  const config::OriginUrl* origin = nullptr;
  CacheStatus cs;
  metrics::Outcome outcome = metrics::Outcome::kPass;
  unsigned status = 0;
  uint64_t sent_bytes = 0;
  bool from_store = false;  // the body sent came from the store (byte hit ratio)
  std::vector<std::string> response_locations;  // Location / Content-Location received
  // Set-Cookie of a 304 answering this client's revalidation: sent to this client only.
  std::vector<std::string> own_set_cookies;
  std::deque<std::string> vary_values;  // request values normalised for variant keys
  bool collapsed = false;               // waited once for another request's fetch of the same key
  Collapser::Ticket* ticket = nullptr;  // held while this request leads a collapsed fetch
};

Proxy::Proxy(const config::NodeConfig& config, Store& store, origin::OriginPool& pool,
             metrics::Metrics& metrics, std::shared_ptr<spdlog::logger> access_log)
    : config_(config),
      store_(store),
      pool_(pool),
      metrics_(metrics),
      access_log_(std::move(access_log)),
      policy_{config.heuristic_fraction, config.heuristic_max_seconds,
              config.honour_client_no_cache, config.store_set_cookie},
      via_("1.1 " + config.name),
      forward_options_{{config.sort_query, config.strip_query_params}, config.key_headers, via_} {}

asio::awaitable<bool> Proxy::Handle(Request& req, http_util::RequestBody& body,
                                    beast::tcp_stream& client, const std::string& client_address) {
  const auto started = std::chrono::steady_clock::now();
  Exchange x{req, &client, client_address};
  x.body = &body;
  x.cs.name = config_.name;
  x.head = req.method() == http::verb::head;
  x.keep_alive = req.keep_alive();

  // From here on `req` is the request as the origin will see it, and the key is built
  // from exactly that (proxy/forwarded_request.h).
  const std::string target =  // as received, for the access log only
      access_log_ ? std::string(req.target().data(), req.target().size()) : std::string();
  Routed routed;
  Status routing = PrepareForward(req, forward_options_, client_address, &routed);
  bool keep = true;
  if (!routing.ok()) {
    keep = co_await SendError(x, 400, "bad request: " + routing.message() + "\n");
  } else {
    x.host = std::move(routed.host);
    x.target = std::move(routed.target);
    x.primary = std::move(routed.key);
    if (auto it = config_.origins.find(x.host); it != config_.origins.end()) {
      x.origin = &it->second;
    } else if (config_.default_origin) {
      x.origin = &*config_.default_origin;
    }
    // A tier: every miss and revalidation of a served host goes to the parent cache.
    if (x.origin != nullptr && config_.parent) x.origin = &*config_.parent;
    if (x.origin == nullptr) {
      // Never an open proxy: only configured hosts are served.
      keep = co_await SendError(x, 421, "no origin is configured for host " + x.host + "\n");
    } else if (req.method() == http::verb::get || x.head) {
      keep = co_await Cached(x);
    } else {
      x.cs.fwd = "method";
      keep = co_await Forward(x, nullptr);
    }
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.CountRequest(x.outcome);
  metrics_.ObserveLatency(seconds);
  metrics_.AddClientBytes(x.sent_bytes);
  if (x.from_store) metrics_.AddStoreBytes(x.sent_bytes);
  if (access_log_) {
    access_log_->info(
        "{} \"{} {} HTTP/1.1\" host={} status={} bytes={} cache=\"{}\" duration_ms={:.3f}",
        x.client_address, std::string_view(req.method_string()), target, x.host, x.status,
        x.sent_bytes, x.cs.ToString(), seconds * 1000);
  }
  co_return keep&& x.keep_alive;
}

bool Proxy::TooManyVariants(const ObjectKey& key) {
  std::vector<ObjectInfo> variants;
  if (!store_.Variants(key.primary, &variants).ok()) return false;
  if (variants.size() < config_.max_variants) return false;
  // Replacing a stored variant is always allowed; only a new one would exceed the cap.
  return std::none_of(variants.begin(), variants.end(),
                      [&](const ObjectInfo& v) { return v.key.secondary == key.secondary; });
}

void Proxy::Invalidate(Exchange& x, unsigned status) {
  // RFC 9111 §4.4: a non-error response to an unsafe request invalidates the target URI
  // and the same-origin URIs in Location and Content-Location. Every method not known to
  // be safe (RFC 9110 §9.2.1 and the IANA method registry) is unsafe, unknown ones too.
  const auto m = x.req.method();
  const bool safe = m == http::verb::get || m == http::verb::head || m == http::verb::options ||
                    m == http::verb::trace || m == http::verb::propfind ||
                    m == http::verb::report || m == http::verb::search;
  if (safe || status < 200 || status >= 400) return;
  std::vector<std::string> keys = {x.primary};
  for (const std::string& location : x.response_locations) {
    if (location.starts_with("/")) {
      keys.push_back(CacheKey(x.host, location, forward_options_.key));
    } else if (auto split = SplitAbsolute(location); split && split->first == x.host) {
      keys.push_back(CacheKey(x.host, split->second, forward_options_.key));
    }
  }
  for (const auto& key : keys) {
    uint64_t removed = 0;
    Status s = store_.PurgeUrl(key, PurgeMode::kHard, &removed);
    if (!s.ok()) spdlog::warn("invalidating {}: {}", key, s.ToString());
  }
}

void Proxy::ArmClientDeadline(Exchange& x) const {
  x.client->expires_after(std::chrono::milliseconds(config_.client_timeout_ms));
}

void Proxy::ResetToMiss(Exchange& x, std::string detail) const {
  x.cs = CacheStatus{};
  x.cs.name = config_.name;
  x.cs.fwd = "miss";
  x.cs.detail = std::move(detail);
  x.outcome = metrics::Outcome::kMiss;
}

asio::awaitable<void> Proxy::RelayInterim(Exchange& x, const http::response_header<>& interim) {
  // Never to an HTTP/1.0 client (RFC 9110 §15.2), and 100 Continue is this node's own.
  if (x.client == nullptr || x.req.version() < 11 || interim.result_int() == 100) co_return;
  http::response_header<> relayed = interim;
  http_util::StripHopByHop(relayed);
  relayed.version(11);
  const std::string bytes = http_util::SerializeHeader(relayed);
  ArmClientDeadline(x);
  co_await asio::async_write(*x.client, asio::buffer(bytes), kToken);  // errors show later
}

bool Proxy::HeadMatchesStored(const http::response_header<>& head, const ObjectInfo& stored) {
  // Every validator the HEAD response has must equal the stored one, and it needs one.
  const std::string_view etag = Field(head, http::field::etag);
  const std::string_view last_modified = Field(head, http::field::last_modified);
  if (etag.empty() && last_modified.empty()) return false;
  if (!etag.empty() && etag != stored.meta.etag) return false;
  if (!last_modified.empty() &&
      policy::ParseHttpDate(last_modified).value_or(-1) != stored.meta.last_modified) {
    return false;
  }
  const std::string_view length = Field(head, http::field::content_length);
  return length.empty() || length == std::to_string(stored.body_length);
}

asio::awaitable<bool> Proxy::SendError(Exchange& x, unsigned status, std::string_view text) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain");
  res.set(http::field::via, via_);
  if (x.cs.fwd.empty() && !x.cs.hit) x.cs.fwd = "bypass";  // refused before any cache work
  res.set("Cache-Status", x.cs.ToString());
  res.body() = std::string(text);
  res.keep_alive(x.keep_alive && status < 500);
  res.prepare_payload();
  if (x.head) res.body().clear();
  x.status = status;
  x.outcome = metrics::Outcome::kError;
  if (x.client == nullptr) co_return false;
  ArmClientDeadline(x);
  auto [ec, n] = co_await http::async_write(*x.client, res, kToken);
  x.sent_bytes += x.head ? 0 : text.size();
  co_return !ec && res.keep_alive();
}

asio::awaitable<bool> Proxy::Cached(Exchange& x) {
  ObjectInfo info;
  Status s = store_.LookupVariant(x.primary, RequestHeaders(x.req, &x.vary_values), &info);
  const int64_t now = Now();
  if (s.ok()) {
    policy::ServeDecision d = policy::DecideServe(x.req, info, now, policy_);
    if (info.meta.status == 206) co_return co_await CachedPartial(x, info, d);
    if (d.usable) {
      x.cs.hit = true;
      x.cs.has_ttl = true;
      x.cs.ttl = d.ttl;
      x.outcome = metrics::Outcome::kHit;
      co_return co_await ServeStored(x, info, d.age);
    }
    const ObjectMeta& m = info.meta;
    if (d.detail == "stale" && !(m.policy_flags & policy::kMustRevalidate) &&
        m.stale_while_revalidate > 0 && -d.ttl <= m.stale_while_revalidate) {
      // RFC 5861: served stale at once, refreshed in the background.
      x.cs.hit = true;
      x.cs.fwd = "stale";
      x.cs.has_ttl = true;
      x.cs.ttl = d.ttl;
      x.cs.detail = "stale-while-revalidate";
      x.outcome = metrics::Outcome::kStale;
      RevalidateInBackground(x, info, co_await asio::this_coro::executor);
      co_return co_await ServeStored(x, info, d.age);
    }
    Collapser::Ticket ticket;
    Collapser::Joined joined = co_await WaitForLeader(x, &ticket);
    if (joined.waited) co_return co_await Follow(x, joined);
    x.cs.fwd =
        d.detail == "stale" || d.detail == "purged" || d.detail == "no-cache" ? "stale" : "request";
    x.cs.detail = d.detail == "stale" ? "" : d.detail;
    x.outcome = metrics::Outcome::kStale;
    co_return co_await Forward(x, &info);  // the ticket wakes the waiters after this
  }
  if (!s.IsNotFound()) {
    spdlog::warn("store lookup of {} failed: {}", x.primary, s.ToString());
  }
  if (policy::Collect(x.req, "cache-control").Has("only-if-cached")) {
    x.cs.fwd = "miss";
    co_return co_await SendError(x, 504, "not in cache (only-if-cached)\n");
  }
  Collapser::Ticket ticket;
  Collapser::Joined joined = co_await WaitForLeader(x, &ticket);
  if (joined.waited) co_return co_await Follow(x, joined);
  std::vector<ObjectInfo> variants;
  const bool vary_miss = store_.Variants(x.primary, &variants).ok() && !variants.empty();
  x.cs.fwd = vary_miss ? "vary-miss" : "miss";
  x.outcome = metrics::Outcome::kMiss;
  co_return co_await Forward(x, nullptr);  // the ticket wakes the waiters after this
}

asio::awaitable<bool> Proxy::CachedPartial(Exchange& x, const ObjectInfo& info,
                                           const policy::ServeDecision& d) {
  const std::optional<http_util::ContentRange> part = StoredPart(info.meta);
  // A range wholly inside the stored part is answered from it (RFC 9111 §3.3).
  const std::string_view range_header = Field(x.req, http::field::range);
  const std::string_view if_range = Field(x.req, http::field::if_range);
  if (part && d.usable && !x.head && !range_header.empty() &&
      (if_range.empty() ||
       http_util::IfRangeMatches(if_range, info.meta.etag, info.meta.last_modified))) {
    const http_util::ByteRange r = http_util::ParseRange(range_header, part->complete_length);
    if (r.kind == http_util::ByteRange::kSatisfiable && r.first >= part->first &&
        r.last <= part->last) {
      x.cs.hit = true;
      x.cs.has_ttl = true;
      x.cs.ttl = d.ttl;
      x.outcome = metrics::Outcome::kHit;
      co_return co_await ServeStored(x, info, d.age);
    }
  }
  Collapser::Ticket ticket;
  Collapser::Joined joined = co_await WaitForLeader(x, &ticket);
  if (joined.waited) co_return co_await Follow(x, joined);
  // A fresh stored prefix is completed by asking the origin for the rest only (§3.4);
  // any other part is fetched again like a miss, and what comes back replaces it.
  const bool completable =
      part && d.usable && part->first == 0 && !CompletionValidator(info.meta).empty();
  x.cs.fwd = "miss";
  x.cs.detail = completable ? "partial" : "";
  x.outcome = metrics::Outcome::kMiss;
  co_return co_await Forward(x, nullptr, completable ? &info : nullptr);
}

asio::awaitable<Collapser::Joined> Proxy::WaitForLeader(Exchange& x, Collapser::Ticket* ticket) {
  // A request that already waited once goes to the origin itself: the response it waited
  // for was not stored (uncacheable, or another variant), so waiting again would only
  // serialise the clients.
  if (x.collapsed || config_.collapse_wait_ms == 0) co_return Collapser::Joined{};
  // Only a plain GET can take the leader's response as it streams by.
  const bool can_stream = x.req.method() == http::verb::get &&
                          x.req.find(http::field::range) == x.req.end() &&
                          x.req.find(http::field::if_none_match) == x.req.end() &&
                          x.req.find(http::field::if_modified_since) == x.req.end();
  Collapser::Joined joined = co_await collapser_.Acquire(
      x.primary, std::chrono::milliseconds(config_.collapse_wait_ms), can_stream, ticket);
  if (joined.waited) {
    x.collapsed = true;
    x.cs.detail = "collapsed";
  } else {
    x.ticket = ticket;
  }
  co_return joined;
}

asio::awaitable<bool> Proxy::Follow(Exchange& x, const Collapser::Joined& joined) {
  if (joined.broadcast) {
    Broadcast& b = *joined.broadcast;
    // Only a request that selects the same variant may take the leader's response; any
    // other (and one that joins after the first bytes are gone) waits for the leader to
    // finish and looks its own variant up.
    if (SecondaryKeyFor(b.vary(), RequestHeaders(x.req, &x.vary_values)) == b.secondary()) {
      if (std::unique_ptr<Broadcast::Reader> reader = b.Join()) {
        co_return co_await ServeBroadcast(x, b, *reader);
      }
    }
    co_await b.WaitDone(std::chrono::milliseconds(config_.origin_timeout_ms));
  }
  co_return co_await Cached(x);
}

asio::awaitable<bool> Proxy::ServeBroadcast(Exchange& x, Broadcast& b, Broadcast::Reader& reader) {
  http::response<http::buffer_body> res;
  res.base() = b.header();
  ResetToMiss(x, "collapsed");
  x.cs.fwd_status = static_cast<int>(res.result_int());
  x.status = res.result_int();
  res.set("Cache-Status", x.cs.ToString());
  res.keep_alive(x.keep_alive);
  res.body().data = nullptr;
  res.body().more = true;
  http::response_serializer<http::buffer_body> sr{res};
  ArmClientDeadline(x);
  if (auto [ec, n] = co_await http::async_write_header(*x.client, sr, kToken); ec) co_return false;
  co_return co_await RelayBroadcast(x, b, reader, 0, UINT64_MAX, res, sr);
}

asio::awaitable<bool> Proxy::RelayBroadcast(Exchange& x, Broadcast& b, Broadcast::Reader& reader,
                                            uint64_t first, uint64_t end,
                                            http::response<http::buffer_body>& res,
                                            http::response_serializer<http::buffer_body>& sr) {
  auto send = [&](std::string_view data, bool more) -> asio::awaitable<bool> {
    res.body().data = const_cast<char*>(data.data());
    res.body().size = data.size();
    res.body().more = more;
    ArmClientDeadline(x);
    auto [ec, n] = co_await http::async_write(*x.client, sr, kToken);
    if (ec == http::error::need_buffer) ec = {};
    x.sent_bytes += data.size();
    co_return !ec;
  };
  const auto wait = std::chrono::milliseconds(config_.origin_timeout_ms);
  for (;;) {
    Broadcast::Next next = co_await reader.Read(wait);
    if (!next.data.empty()) {
      const uint64_t start = reader.offset() - next.data.size();
      const uint64_t from = std::max(start, first);
      const uint64_t to = std::min<uint64_t>(reader.offset(), end);
      if (from < to && !co_await send(next.data.substr(from - start, to - from), true))
        co_return false;
      if (reader.offset() >= end) break;
      continue;
    }
    if (next.done) {
      if (!next.complete) co_return false;  // the origin failed: close, never short
      break;
    }
    if (!next.let_go) co_return false;  // nothing arrived in time
    // Fell behind: the rest comes from the store once the object is committed.
    auto [complete, stored] = co_await b.WaitDone(wait);
    if (!stored) co_return false;
    ObjectInfo info;
    if (!store_.LookupVariant(x.primary, RequestHeaders(x.req, &x.vary_values), &info).ok() ||
        (b.length() && info.body_length != *b.length())) {
      co_return false;
    }
    x.from_store = true;
    auto executor = co_await asio::this_coro::executor;
    uint64_t offset = std::max(reader.offset(), first);
    end = std::min<uint64_t>(end, info.body_length);
    while (offset < end) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kPieceBytes * 4, end - offset));
      auto [read_status, slice] = co_await async_read(store_, info, offset, want, executor, kToken);
      if (!read_status.ok() || !co_await send(slice.data, true)) co_return false;
      offset += slice.data.size();
    }
    break;
  }
  co_return co_await send({}, false);
}

bool Proxy::StaleIfErrorAllows(const Exchange& x, const ObjectInfo* stale) const {
  if (stale == nullptr || x.client == nullptr) return false;
  const ObjectMeta& m = stale->meta;
  // must-revalidate, proxy-revalidate, s-maxage; no-cache: never used unrevalidated.
  if (m.policy_flags & (policy::kMustRevalidate | policy::kNoCacheResponse)) return false;
  const int64_t staleness = policy::CurrentAge(m, Now()) - m.freshness_lifetime;
  // The response's own stale-if-error, or the node's default for responses without one.
  int64_t window = m.stale_if_error > 0 ? m.stale_if_error : config_.default_stale_if_error_seconds;
  const policy::Directives req_cc = policy::Collect(x.req, "cache-control");
  if (req_cc.Has("max-stale")) {
    window = std::max(window, req_cc.Seconds("max-stale").value_or(INT64_MAX));
  }
  if (auto req_window = req_cc.Seconds("stale-if-error")) window = std::max(window, *req_window);
  return window > 0 && staleness <= window;
}

asio::awaitable<bool> Proxy::ServeStale(Exchange& x, const ObjectInfo& stale) {
  x.cs.fwd = "stale";
  x.cs.has_ttl = true;
  const int64_t age = policy::CurrentAge(stale.meta, Now());
  x.cs.ttl = stale.meta.freshness_lifetime - age;
  x.outcome = metrics::Outcome::kStale;
  co_return co_await ServeStored(x, stale, age);
}

void Proxy::RevalidateInBackground(const Exchange& x, const ObjectInfo& stale,
                                   const asio::any_io_executor& executor) {
  {
    std::lock_guard lock(background_mu_);
    // At most one background revalidation per key at a time.
    if (!background_.insert(x.primary).second) return;
  }
  struct Background {
    Request req;
    ObjectInfo stale;
    std::string host, target, primary;
    const config::OriginUrl* origin;
  };
  auto bg =
      std::make_shared<Background>(Background{x.req, stale, x.host, x.target, x.primary, x.origin});
  asio::co_spawn(
      executor,
      [this, bg]() -> asio::awaitable<void> {
        Exchange y{bg->req, nullptr, "background"};
        y.cs.name = config_.name;
        y.host = bg->host;
        y.target = bg->target;
        y.primary = bg->primary;
        y.origin = bg->origin;
        y.keep_alive = false;
        co_await Forward(y, &bg->stale);
        std::lock_guard lock(background_mu_);
        background_.erase(bg->primary);
      },
      asio::detached);
}

asio::awaitable<bool> Proxy::ServeStored(Exchange& x, const ObjectInfo& info, int64_t age) {
  x.from_store = true;
  const ObjectMeta& meta = info.meta;
  // Validators the origin forgot: a response stored with neither ETag nor Last-Modified
  // is given a Last-Modified of when it was stored and, when configured, a strong ETag
  // derived from its bytes, which every replica of a fleet computes alike.
  std::string etag = meta.etag;
  int64_t last_modified = meta.last_modified;
  const bool synthesized_last_modified = etag.empty() && last_modified == 0;
  if (synthesized_last_modified) last_modified = info.stored_at;
  const bool synthesized_etag = etag.empty() && config_.content_etag;
  if (synthesized_etag) etag = http_util::ContentEtag(info.body_hash);

  // Client conditionals are answered from the stored response (RFC 9110 §13.2.2).
  bool not_modified = false;
  std::string_view inm = Field(x.req, http::field::if_none_match);
  if (!inm.empty()) {
    not_modified = http_util::IfNoneMatchMatches(inm, etag);
  } else if (auto ims = policy::ParseHttpDate(Field(x.req, http::field::if_modified_since))) {
    not_modified = last_modified != 0 && last_modified <= *ims && meta.status == 200;
  }

  // Range / If-Range answered from the stored full body (RFC 9110 §14), or from a stored
  // part when the range lies inside it (CachedPartial checked that it does).
  uint64_t first = 0, end = info.body_length;
  http_util::ByteRange range;
  std::string_view range_header = Field(x.req, http::field::range);
  const std::optional<http_util::ContentRange> part = StoredPart(meta);
  uint64_t complete_length = part ? part->complete_length : info.body_length;
  if (!not_modified && part) {
    range = http_util::ParseRange(range_header, part->complete_length);
    if (range.kind != http_util::ByteRange::kSatisfiable || range.first < part->first ||
        range.last > part->last) {
      range.kind = http_util::ByteRange::kSatisfiable;  // never reached: the part as stored
      range.first = part->first;
      range.last = part->last;
    }
    first = range.first - part->first;
    end = range.last + 1 - part->first;
  } else if (!not_modified && !range_header.empty() && meta.status == 200 &&
             x.req.method() == http::verb::get) {
    std::string_view if_range = Field(x.req, http::field::if_range);
    if (if_range.empty() || http_util::IfRangeMatches(if_range, etag, last_modified)) {
      range = http_util::ParseRange(range_header, info.body_length);
      if (range.kind == http_util::ByteRange::kSatisfiable) {
        first = range.first;
        end = range.last + 1;
      } else if (range.kind == http_util::ByteRange::kUnsatisfiable) {
        end = 0;
      }
    }
  }

  http::response_header<> res;
  res.version(11);
  if (!x.keep_alive) res.set(http::field::connection, "close");
  if (not_modified) {
    res.result(http::status::not_modified);
    for (const auto name : {"cache-control", "content-location", "date", "etag", "expires", "vary",
                            "last-modified"}) {
      std::string_view v = http_util::StoredHeader(meta, name);
      if (!v.empty()) res.set(name, v);
    }
  } else {
    res.result(meta.status);
    http_util::LoadStoredHeaders(meta, config_.forward_surrogate_headers, &res);
    res.set(http::field::content_length, std::to_string(end - first));
    if (range.kind == http_util::ByteRange::kSatisfiable) {
      res.result(http::status::partial_content);
      res.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                              std::to_string(range.last) + "/" +
                                              std::to_string(complete_length));
    } else if (range.kind == http_util::ByteRange::kUnsatisfiable) {
      res.result(http::status::range_not_satisfiable);
      res.set(http::field::content_range, "bytes */" + std::to_string(info.body_length));
    }
  }
  if (synthesized_last_modified)
    res.set(http::field::last_modified, policy::FormatHttpDate(last_modified));
  if (synthesized_etag) res.set(http::field::etag, etag);
  for (const std::string& cookie : x.own_set_cookies) res.insert(http::field::set_cookie, cookie);
  res.set(http::field::age, std::to_string(age));
  res.set(http::field::via, via_);
  res.set("Cache-Status", x.cs.ToString());
  x.status = res.result_int();
  // Serialized once into one buffer: cheaper than Beast's field-by-field serializer on
  // the hit path, and sent in the same write as the first body slice.
  const std::string head = http_util::SerializeHeader(res);

  if (x.client == nullptr) co_return false;
  ArmClientDeadline(x);
  if (not_modified || x.head || first == end) {
    auto [ec, n] = co_await asio::async_write(*x.client, asio::buffer(head), kToken);
    co_return !ec;
  }
  auto executor = co_await asio::this_coro::executor;
  for (uint64_t offset = first; offset < end;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kPieceBytes * 4, end - offset));
    BodySlice slice;
    if (!store_.ReadCached(info, offset, want, &slice)) {
      auto [read_status, read] = co_await async_read(store_, info, offset, want, executor, kToken);
      if (!read_status.ok()) {
        // A bad body is dropped by the engine and is a miss next time. If the header has
        // gone out, the connection is closed rather than finished short.
        spdlog::warn("serving {} from the store failed at byte {}: {}", x.primary, offset,
                     read_status.ToString());
        if (offset > first) co_return false;
        // Nothing sent yet: a bad stored body is just a miss.
        ResetToMiss(x, "stored body unreadable");
        co_return co_await Forward(x, nullptr);
      }
      slice = std::move(read);
    }
    std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(offset == first ? std::string_view(head) : std::string_view()),
        asio::buffer(slice.data.data(), slice.data.size())};
    ArmClientDeadline(x);
    auto [write_error, written] = co_await asio::async_write(*x.client, buffers, kToken);
    if (write_error) co_return false;
    offset += slice.data.size();
    x.sent_bytes += slice.data.size();
  }
  co_return true;
}

asio::awaitable<bool> Proxy::Refreshed(Exchange& x, const ObjectInfo& stale,
                                       const http::response_header<>& not_modified,
                                       int64_t request_time, int64_t response_time) {
  // RFC 9111 §4.3.4: the 304's headers update the stored ones; freshness is recomputed
  // from the result.
  ObjectMeta meta = stale.meta;
  // The stored Age described the first response; the 304 brings its own (or none).
  std::erase_if(meta.headers, [](const auto& h) { return beast::iequals(h.first, "age"); });
  http::response_header<> end_to_end = not_modified;
  http_util::StripHopByHop(end_to_end);
  http_util::MergeNotModified(end_to_end, &meta.headers);  // never its Set-Cookie
  for (auto it = end_to_end.find(http::field::set_cookie);
       it != end_to_end.end() && it->name() == http::field::set_cookie; ++it) {
    x.own_set_cookies.emplace_back(it->value());
  }
  http::response_header<> merged;
  merged.result(meta.status);
  for (const auto& [name, value] : meta.headers) merged.insert(name, value);
  http::request_header<> as_get = x.req.base();
  as_get.method(http::verb::get);
  policy::StorageDecision d = policy::DecideStorage(as_get, merged, response_time, policy_);
  ObjectMeta fresh = MetaFrom(merged, d, request_time, response_time, config_.key_headers);
  ObjectInfo updated = stale;
  updated.meta = fresh;
  updated.invalidated = false;
  if (d.store) {
    Status s = store_.UpdateMeta(stale.key, stale.version, fresh);
    if (!s.ok() && !s.IsAborted()) spdlog::warn("refreshing {}: {}", x.primary, s.ToString());
  }
  metrics_.CountRevalidation(metrics::Revalidation::kNotModified);
  metrics_.AddNotModifiedSavedBytes(stale.body_length);
  if (x.client == nullptr) co_return false;  // a background revalidation: nobody to answer
  x.cs.fwd_status = static_cast<int>(not_modified.result_int());  // 304, or 200 to a HEAD
  x.cs.has_ttl = true;
  x.cs.ttl = fresh.freshness_lifetime - policy::CurrentAge(fresh, Now());
  co_return co_await ServeStored(x, updated, policy::CurrentAge(fresh, Now()));
}

asio::awaitable<bool> Proxy::Forward(Exchange& x, const ObjectInfo* stale,
                                     const ObjectInfo* prefix) {
  const bool cacheable_method = x.req.method() == http::verb::get || x.head;

  // The request to the origin is the prepared one (Handle). Cache fetches are full GETs:
  // the client's own conditionals and ranges are answered here, and a revalidation sends
  // the stored validators instead.
  Request out = x.req;
  out.version(11);
  out.keep_alive(true);
  // A HEAD for a stored response is revalidated with a HEAD (RFC 9111 §4.3.5 says how its
  // answer updates the stored one); a HEAD miss is fetched as a GET to fill the cache.
  const bool head_to_origin = x.head && stale != nullptr;
  if (cacheable_method) {
    out.method(head_to_origin ? http::verb::head : http::verb::get);
    for (auto f : {http::field::if_none_match, http::field::if_modified_since,
                   http::field::if_match, http::field::if_unmodified_since}) {
      out.erase(f);
    }
    // A range miss fetches the whole object to store it (the client gets its range out of
    // the stream), unless configured to pass ranges through unstored.
    if (config_.range_miss_fetch_full) {
      out.erase(http::field::range);
      out.erase(http::field::if_range);
    }
    out.erase(http::field::content_length);
    if (prefix != nullptr) {
      // Only the rest of a stored prefix, and only if it is still the same representation.
      out.set(http::field::range,
              "bytes=" + std::to_string(StoredPart(prefix->meta)->last + 1) + "-");
      out.set(http::field::if_range, CompletionValidator(prefix->meta));
    }
    if (stale != nullptr) {
      if (!stale->meta.etag.empty()) out.set(http::field::if_none_match, stale->meta.etag);
      if (stale->meta.last_modified != 0) {
        out.set(http::field::if_modified_since, policy::FormatHttpDate(stale->meta.last_modified));
      }
    }
  }
  out.prepare_payload();

  // A request body is streamed from the client as it is sent (never held whole): such a
  // request goes on a fresh connection and is never sent twice.
  const bool stream_body = !cacheable_method && x.body != nullptr && !x.body->done();
  bool client_body_failed = false;
  origin::Connection conn;
  auto send_streamed = [&]() -> asio::awaitable<boost::system::error_code> {
    http::request<http::buffer_body> streamed{out.base()};
    if (auto length = x.body->length()) {
      streamed.content_length(*length);
    } else {
      streamed.chunked(true);
    }
    streamed.body().data = nullptr;
    streamed.body().more = true;
    http::request_serializer<http::buffer_body> sr{streamed};
    auto [header_error, h] = co_await http::async_write_header(*conn.stream, sr, kToken);
    if (header_error) co_return header_error;
    std::vector<char> piece(kPieceBytes);
    for (;;) {
      boost::system::error_code read_error;
      const size_t got = co_await x.body->Read(piece.data(), piece.size(), read_error);
      if (read_error) {
        client_body_failed = true;
        co_return read_error;
      }
      const bool last = x.body->done();
      if (got == 0 && !last) continue;
      streamed.body().data = got > 0 ? piece.data() : nullptr;
      streamed.body().size = got;
      streamed.body().more = !last;
      conn.stream->expires_after(std::chrono::milliseconds(config_.origin_timeout_ms));
      auto [write_error, w] = co_await http::async_write(*conn.stream, sr, kToken);
      if (write_error && write_error != http::error::need_buffer) co_return write_error;
      if (last) co_return boost::system::error_code{};
    }
  };

  // Send it, retrying once on a fresh connection if a reused one turns out closed.
  const int64_t request_time = Now();
  beast::flat_buffer origin_buffer;
  std::optional<http::response_parser<http::buffer_body>> parser_slot;
  boost::system::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    conn = co_await pool_.Acquire(*x.origin, /*fresh=*/stream_body);
    if (conn.error) {
      ec = conn.error;
      break;
    }
    conn.stream->expires_after(std::chrono::milliseconds(config_.origin_timeout_ms));
    if (stream_body) {
      ec = co_await send_streamed();
    } else {
      auto [write_error, written] = co_await http::async_write(*conn.stream, out, kToken);
      ec = write_error;
    }
    if (client_body_failed) {
      // The client's body broke off (or passed limits.max_request_body_bytes): nothing
      // complete reached the origin; the client is told when the limit was the cause.
      x.keep_alive = false;
      if (ec == http::error::body_limit)
        co_return co_await SendError(x, 413, "request body too large\n");
      co_return false;
    }
    auto fresh_parser = [&] {
      parser_slot.emplace();
      parser_slot->body_limit(boost::none);
      parser_slot->skip(head_to_origin);  // no body follows an answer to HEAD
    };
    if (!ec) {
      fresh_parser();
      origin_buffer.clear();
      conn.stream->expires_after(std::chrono::milliseconds(config_.origin_timeout_ms));
      auto [read_error, read] =
          co_await http::async_read_header(*conn.stream, origin_buffer, *parser_slot, kToken);
      ec = read_error;
      // Interim responses (RFC 9110 §15.2: 100 Continue, 102 Processing, 103 Early
      // Hints …) come before the final one: relayed to the client as they come (not 100,
      // which this node answers itself), never stored, and never merged into the final
      // response. A fresh parser reads the next response from what is left in the buffer.
      for (int interim = 0; !ec && parser_slot->get().result_int() < 200; ++interim) {
        if (parser_slot->get().result_int() == 101 || interim == kMaxInterimResponses) {
          ec = http::error::bad_status;  // we never ask to switch protocols
          break;
        }
        co_await RelayInterim(x, parser_slot->get().base());
        fresh_parser();
        std::tie(ec, read) =
            co_await http::async_read_header(*conn.stream, origin_buffer, *parser_slot, kToken);
      }
    }
    // Only idempotent requests are sent twice (RFC 9110 §9.2.2): a POST the origin may
    // have acted on before the connection broke is not repeated behind the client's back.
    const bool idempotent = out.method() != http::verb::post && out.method() != http::verb::patch;
    if (!ec || !conn.reused || IsTimeout(ec) || !idempotent || stream_body) break;
  }
  if (ec) {
    metrics_.CountOriginError();
    if (stale != nullptr) metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    spdlog::warn("origin {} for {}{}: {}", x.origin->ToString(), x.host, x.target, ec.message());
    x.cs.detail = IsTimeout(ec) ? "origin timeout" : "origin unreachable";
    if (StaleIfErrorAllows(x, stale)) co_return co_await ServeStale(x, *stale);
    // A stored response that could not be revalidated is answered 504 (RFC 9111 §4.2.4,
    // §5.2.2.2), whatever stopped the origin; without one, the cause decides.
    const bool gateway_timeout = IsTimeout(ec) || stale != nullptr;
    co_return co_await SendError(x, gateway_timeout ? 504 : 502,
                                 IsTimeout(ec) ? "origin timed out\n"
                                 : stale != nullptr
                                     ? "stored response needs revalidation; origin unreachable\n"
                                     : "origin unreachable\n");
  }
  const int64_t response_time = Now();
  http::response_parser<http::buffer_body>& parser = *parser_slot;
  http::response_header<>& header = parser.get().base();
  unsigned status = header.result_int();
  x.cs.fwd_status = static_cast<int>(status);
  // The body's length as the client and the store see it: a completed prefix is the
  // whole representation, its first bytes from the store.
  std::optional<uint64_t> body_length;
  if (auto length = parser.content_length()) body_length = *length;
  bool completing = false;
  if (prefix != nullptr && status == 206) {
    const http_util::ContentRange part = *StoredPart(prefix->meta);
    const auto rest = http_util::ParseContentRange(Field(header, http::field::content_range));
    if (!rest || rest->first != part.last + 1 || rest->last + 1 != rest->complete_length ||
        rest->complete_length != part.complete_length || body_length != rest->size()) {
      co_return co_await SendError(x, 502, "origin answered a completion with another range\n");
    }
    completing = true;
    status = 200;
    body_length = rest->complete_length;
  }
  for (auto f : {http::field::location, http::field::content_location}) {
    if (auto it = header.find(f); it != header.end())
      x.response_locations.emplace_back(it->value());
  }
  // Before any of the response reaches the client, so its next request sees the result.
  if (!cacheable_method) Invalidate(x, status);

  if (stale != nullptr && status == 304) {
    // No body follows a 304: the connection can go back to the pool at once.
    if (parser.is_done() && parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    co_return co_await Refreshed(x, *stale, header, request_time, response_time);
  }
  if (head_to_origin && status == 200) {
    if (parser.is_done() && parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    // RFC 9111 §4.3.5: a 200 to HEAD whose validators and length match the stored
    // response updates its header fields like a 304; otherwise the stored one is stale.
    if (HeadMatchesStored(header, *stale)) {
      co_return co_await Refreshed(x, *stale, header, request_time, response_time);
    }
    uint64_t marked = 0;
    Status s = store_.PurgeUrl(x.primary, PurgeMode::kSoft, &marked);
    if (!s.ok()) spdlog::warn("marking {} stale: {}", x.primary, s.ToString());
  }
  if (stale != nullptr && status >= 500 && StaleIfErrorAllows(x, stale)) {
    // The origin's error body is not read: the connection is dropped, not pooled.
    metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    metrics_.CountOriginError();
    x.cs.detail = "origin error";
    co_return co_await ServeStale(x, *stale);
  }
  if (stale != nullptr) {
    if (status == 404 || status == 410) {
      uint64_t removed = 0;
      Status s = store_.PurgeUrl(x.primary, PurgeMode::kHard, &removed);
      if (!s.ok()) spdlog::warn("removing {}: {}", x.primary, s.ToString());
      metrics_.CountRevalidation(metrics::Revalidation::kRemoved);
    } else if (status < 500) {
      metrics_.CountRevalidation(metrics::Revalidation::kReplaced);
    } else {
      metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    }
  }

  // The origin's end-to-end headers: what is stored and what the client gets.
  http::response_header<> end_to_end = header;
  http_util::StripHopByHop(end_to_end);
  if (completing) {
    // The stored part's fields, updated by the rest's (RFC 9111 §3.4), as a 200.
    std::vector<std::pair<std::string, std::string>> fields = prefix->meta.headers;
    std::erase_if(fields, [](const auto& h) {
      return beast::iequals(h.first, "age") || beast::iequals(h.first, "content-range");
    });
    http_util::MergeNotModified(end_to_end, &fields);
    end_to_end = {};
    end_to_end.result(http::status::ok);
    for (const auto& [name, value] : fields) {
      if (!beast::iequals(name, "content-range")) end_to_end.insert(name, value);
    }
  }
  // Decide whether to store, and start the insert.
  std::unique_ptr<InsertHandle> insert;
  ObjectMeta stored_meta;  // what is stored, when `insert` is set
  ObjectKey stored_key;
  bool shareable = false;
  if (cacheable_method && !head_to_origin) {
    http::request_header<> as_get = x.req.base();
    as_get.method(http::verb::get);
    policy::StorageDecision d = policy::DecideStorage(as_get, end_to_end, response_time, policy_);
    if (d.store && body_length && *body_length > config_.max_object_bytes) d.store = false;
    if (d.store && status == 206) {
      // A part is stored only when its length is known and is the range it claims.
      const auto range = http_util::ParseContentRange(Field(header, http::field::content_range));
      if (!body_length || *body_length != range->size()) d.store = false;
    }
    // An origin error never replaces a stored response it failed to revalidate.
    if (stale != nullptr && status >= 500) d.store = false;
    if (d.store) {
      ObjectMeta meta = MetaFrom(end_to_end, d, request_time, response_time, config_.key_headers);
      ObjectKey key{x.primary,
                    meta.vary.empty()
                        ? ""
                        : SecondaryKeyFor(meta.vary, RequestHeaders(x.req, &x.vary_values))};
      Status s;
      if (!meta.vary.empty() && TooManyVariants(key)) {
        s = Status::Aborted("variant cap reached");
        x.cs.detail = "not stored: variant cap";
      } else {
        s = store_.BeginInsert(key, meta, &insert);
      }
      if (!s.ok() && !s.IsAborted()) spdlog::warn("cannot store {}: {}", x.primary, s.ToString());
      x.cs.stored = s.ok();
      if (s.ok()) {
        x.cs.has_ttl = true;
        x.cs.ttl = d.freshness_lifetime - policy::CurrentAge(meta, response_time);
        // Requests collapsed behind this one may share the response only if it is fresh:
        // one stale on arrival, or to be revalidated before every use, is theirs to
        // revalidate.
        shareable = x.cs.ttl > 0 && !(d.flags & policy::kNoCacheResponse);
        stored_meta = std::move(meta);
        stored_key = std::move(key);
      }
    } else if (!d.reason.empty() && x.cs.detail.empty()) {
      x.cs.detail = "not stored: " + d.reason;
    }
  }

  // The client's response: the origin's end-to-end headers, framed by us.
  http::response<http::buffer_body> res;
  res.result(static_cast<http::status>(status));
  res.version(11);
  for (const auto& f : end_to_end) {
    std::string_view name(f.name_string().data(), f.name_string().size());
    if (http_util::IsFramingOrHopByHop(name)) continue;
    if (!config_.forward_surrogate_headers && http_util::IsSurrogateHeader(name)) continue;
    res.insert(f.name_string(), f.value());
  }
  // A response stored as it arrives is already as old as its corrected initial age
  // (RFC 9111 §4.2.3); one passed through keeps the origin's Age, if any.
  const std::string stored_age =
      insert ? std::to_string(policy::CurrentAge(stored_meta, response_time)) : std::string();
  if (insert) res.set(http::field::age, stored_age);
  std::string upstream_via(Field(header, http::field::via));
  res.set(http::field::via, upstream_via.empty() ? via_ : upstream_via + ", " + via_);
  std::string upstream_status(Field(header, "cache-status"));
  res.set("Cache-Status",
          upstream_status.empty() ? x.cs.ToString() : upstream_status + ", " + x.cs.ToString());
  res.keep_alive(x.keep_alive);
  const bool bodiless = status == 204 || status == 304 || status < 200;
  auto length = body_length;
  // The client's byte range, served out of the full response as it streams by.
  uint64_t client_first = 0, client_end = UINT64_MAX;
  bool client_body = !bodiless && !x.head;
  std::string_view range_header = Field(x.req, http::field::range);
  std::string_view if_range = Field(x.req, http::field::if_range);
  if (cacheable_method && (config_.range_miss_fetch_full || completing) && status == 200 &&
      length && !range_header.empty() &&
      (if_range.empty() ||
       http_util::IfRangeMatches(
           if_range, Field(header, http::field::etag),
           policy::ParseHttpDate(Field(header, http::field::last_modified)).value_or(0)))) {
    http_util::ByteRange range = http_util::ParseRange(range_header, *length);
    if (range.kind == http_util::ByteRange::kSatisfiable) {
      client_first = range.first;
      client_end = range.last + 1;
      res.result(http::status::partial_content);
      res.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                              std::to_string(range.last) + "/" +
                                              std::to_string(*length));
      length = client_end - client_first;
    } else if (range.kind == http_util::ByteRange::kUnsatisfiable) {
      res.result(http::status::range_not_satisfiable);
      res.set(http::field::content_range, "bytes */" + std::to_string(*length));
      length = 0;
      client_body = false;
    }
  }
  if (length) {
    res.content_length(*length);
  } else if (client_body) {
    res.chunked(true);
  }
  x.status = res.result_int();

  bool client_ok = x.client != nullptr;
  res.body().data = nullptr;
  res.body().more = true;
  http::response_serializer<http::buffer_body> sr{res};
  auto send_header = [&]() -> asio::awaitable<void> {
    if (!client_ok) co_return;
    ArmClientDeadline(x);
    auto [write_error, written] = co_await http::async_write_header(*x.client, sr, kToken);
    client_ok = !write_error;
  };
  const auto origin_wait = std::chrono::milliseconds(config_.origin_timeout_ms);
  // The next piece of the origin's body, read into `piece`, and the error that ended it.
  uint64_t origin_received = 0;
  auto read_piece = [&](std::vector<char>& piece)
      -> asio::awaitable<std::pair<std::string_view, boost::system::error_code>> {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    conn.stream->expires_after(origin_wait);
    auto [read_error, read] =
        co_await http::async_read(*conn.stream, origin_buffer, parser, kToken);
    if (read_error == http::error::need_buffer) read_error = {};
    const size_t n = piece.size() - parser.get().body().size;
    origin_received += n;
    metrics_.AddOriginBytes(n);
    if (read_error) {
      metrics_.CountOriginError();
      spdlog::warn("origin {} cut the body of {}{} after {} bytes: {}", x.origin->ToString(),
                   x.host, x.target, origin_received, read_error.message());
    }
    co_return std::make_pair(std::string_view(piece.data(), n), read_error);
  };

  if (!insert && !completing) {
    // Passed through, unstored: relayed at the client's pace, and given up as soon as the
    // client is gone (nobody else needs the bytes). A HEAD needs only the header.
    co_await send_header();
    if (head_to_origin && parser.is_done() && parser.keep_alive()) {
      pool_.Release(*x.origin, std::move(conn.stream));
    }
    if (x.head || !client_ok) co_return client_ok;  // a GET's unread body: not pooled
    std::vector<char> piece(kPieceBytes);
    bool complete = parser.is_done();
    while (!complete) {
      auto [data, read_error] = co_await read_piece(piece);
      const size_t n = data.size();
      if (n > 0 && client_body) {
        res.body().data = piece.data();
        res.body().size = n;
        res.body().more = true;
        ArmClientDeadline(x);
        auto [write_error, written] = co_await http::async_write(*x.client, sr, kToken);
        if (write_error && write_error != http::error::need_buffer) co_return false;
        x.sent_bytes += n;
      }
      if (read_error) co_return false;  // never finished as complete: close the client
      complete = parser.is_done();
    }
    if (parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    if (!client_body) co_return true;
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    ArmClientDeadline(x);
    auto [write_error, written] = co_await http::async_write(*x.client, sr, kToken);
    co_return !write_error;
  }

  // Stored: the origin is read at its own pace into the store and a broadcast, which this
  // client reads like any collapsed follower. One slow client never paces the fetch, and a
  // client that goes away does not stop the store.
  SharedResponse shared;
  shared.header.result(status);
  shared.header.version(11);
  // Followers get the header as it is stored, never fields kept from shared use.
  http_util::LoadStoredHeaders(stored_meta, config_.forward_surrogate_headers, &shared.header);
  shared.header.set(http::field::age, stored_age);
  shared.header.set(http::field::via, Field(res, http::field::via));
  if (auto total = body_length) {
    shared.length = *total;
    shared.header.set(http::field::content_length, std::to_string(*total));
  } else {
    shared.header.set(http::field::transfer_encoding, "chunked");
  }
  shared.vary = stored_meta.vary;
  shared.secondary = stored_key.secondary;
  auto broadcast = std::make_shared<Broadcast>(std::move(shared), kBroadcastBufferBytes);
  std::unique_ptr<Broadcast::Reader> own;
  if (client_ok && client_body) own = broadcast->Join();
  if (shareable && x.ticket != nullptr) x.ticket->Publish(broadcast);
  // A HEAD converted to a GET is answered as soon as the header is known; the body is
  // still read into the store.
  co_await send_header();
  if (!client_ok) own.reset();
  const bool streaming = own != nullptr;

  auto executor = co_await asio::this_coro::executor;
  auto fill = [&]() -> asio::awaitable<bool> {
    struct FinishGuard {  // followers never wait on a fill that was torn down
      Broadcast& b;
      ~FinishGuard() { b.Finish(false, false); }
    } guard{*broadcast};
    std::vector<char> piece(kPieceBytes);
    bool complete = parser.is_done();
    bool stored = false;
    auto store_failed = [&](const Status& s) {
      if (!s.ok()) spdlog::warn("storing {}: {}", x.primary, s.ToString());
      insert.reset();  // abort: the response still reaches every reader
      broadcast->StoreFailed();
    };
    // A completed prefix: its stored bytes go first, to the store and to every reader.
    for (uint64_t offset = 0; completing && offset < prefix->body_length;) {
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(kPieceBytes * 4, prefix->body_length - offset));
      auto [read_status, slice] =
          co_await async_read(store_, *prefix, offset, want, executor, kToken);
      if (!read_status.ok()) {
        spdlog::warn("reading the stored part of {}: {}", x.primary, read_status.ToString());
        insert.reset();
        co_return false;  // the readers are closed, never given a short body
      }
      if (insert) {
        auto [append_status] = co_await async_append(*insert, slice.data, executor, kToken);
        if (!append_status.ok()) store_failed(append_status);
      }
      co_await broadcast->Append(slice.data, origin_wait);
      offset += slice.data.size();
    }
    while (!complete) {
      auto [data, read_error] = co_await read_piece(piece);
      const size_t n = data.size();
      if (n > 0 && insert) {
        auto [append_status] = co_await async_append(*insert, data, executor, kToken);
        if (!append_status.ok()) {
          store_failed(append_status);
        } else if (origin_received > config_.max_object_bytes) {
          store_failed(Status::OK());
        }
      }
      if (insert && !read_error && parser.is_done()) {
        // Committed before the last bytes go out, so a client that has the whole
        // response and asks again finds it stored.
        auto [commit_status] = co_await async_commit(*insert, executor, kToken);
        if (commit_status.ok()) {
          stored = true;
          insert.reset();
        } else {
          store_failed(commit_status);
        }
      }
      if (n > 0) co_await broadcast->Append(data, origin_wait);
      if (read_error) {
        insert.reset();  // never stored
        co_return false;
      }
      complete = parser.is_done();
    }
    if (insert) {  // an empty body: nothing was read, the commit is still due
      auto [commit_status] = co_await async_commit(*insert, executor, kToken);
      stored = commit_status.ok();
      if (!stored) store_failed(commit_status);
      insert.reset();
    }
    broadcast->Finish(true, stored);
    // Once the object is stored the collapsed fetch is over: later requests look it up
    // (it may need revalidating) rather than join a response that already arrived.
    if (x.ticket != nullptr) x.ticket->Release();
    if (parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    co_return true;
  };
  auto relay = [&]() -> asio::awaitable<bool> {
    if (own == nullptr) co_return client_ok;
    const bool sent =
        co_await RelayBroadcast(x, *broadcast, *own, client_first, client_end, res, sr);
    own.reset();  // its place in the window is free at once
    co_return sent;
  };
  using boost::asio::experimental::awaitable_operators::operator&&;
  auto [complete, sent] = co_await (fill() && relay());
  if (!complete) co_return false;  // cut by the origin: never finished as complete
  co_return client_ok && (!streaming || sent);
}

}  // namespace edgecache::proxy
