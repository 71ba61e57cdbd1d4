#include "proxy/proxy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>

#include "http/range.h"
#include "logs/logs.h"
#include "proxy/cache_key.h"
#include "proxy/exchange.h"

namespace edgecache::proxy {

Settings::Settings(std::shared_ptr<const config::NodeConfig> c,
                   std::shared_ptr<logs::AccessLog> log)
    : config(std::move(c)),
      policy{config->heuristic_fraction, config->heuristic_max_seconds,
             config->honour_client_no_cache, config->store_set_cookie},
      via("1.1 " + config->name),
      forward{{config->sort_query, config->strip_query_params, config->key_scheme},
              config->key_headers,
              via},
      access_log(std::move(log)) {}

Proxy::Proxy(std::shared_ptr<const Settings> settings, Store& store, origin::OriginPool& pool,
             metrics::Metrics& metrics)
    : store_(store), pool_(pool), metrics_(metrics), settings_(std::move(settings)) {}

Proxy::~Proxy() { WaitForBackgroundCommits(); }

void Proxy::Reconfigure(std::shared_ptr<const Settings> settings) {
  settings_.store(std::move(settings));
}

asio::awaitable<Proxy::AfterResponse> Proxy::Handle(Request& req, http_util::RequestBody& body,
                                                    net::Stream& client,
                                                    const std::string& client_address) {
  const auto started = std::chrono::steady_clock::now();
  Exchange x{req, &client, client_address, settings_.load()};
  const Settings& settings = *x.settings;
  x.body = &body;
  x.cs.name = settings.config->name;
  x.head = req.method() == http::verb::head;
  x.keep_alive = req.keep_alive();

  // From here on `req` is the request as the origin will see it, and the key is built
  // from exactly that (proxy/forwarded_request.h).
  logs::AccessLog* log = settings.access_log.get();
  const std::string target =  // as received, for the access log only
      log ? std::string(req.target().data(), req.target().size()) : std::string();
  Routed routed;
  Status routing = PrepareForward(req, settings.forward, client_address, client.tls(), &routed);
  bool keep = true;
  if (!routing.ok()) {
    keep = co_await SendError(x, 400, "bad request: " + routing.message() + "\n");
  } else {
    const config::NodeConfig& config = *settings.config;
    x.host = std::move(routed.host);
    x.target = std::move(routed.target);
    x.primary = std::move(routed.key);
    if (auto it = config.origins.find(x.host); it != config.origins.end()) {
      x.origin = &it->second;
    } else if (config.default_origin) {
      x.origin = &*config.default_origin;
    }
    // A tier: every miss and revalidation of a served host goes to the parent cache.
    if (x.origin != nullptr && config.parent) x.origin = &*config.parent;
    if (x.origin == nullptr) {
      // Never an open proxy: only configured hosts are served.
      keep = co_await SendError(x, 421, "no origin is configured for host " + x.host + "\n");
    } else if (fenced_ != nullptr && fenced_->load(std::memory_order_acquire)) {
      x.cs.fwd = "bypass";
      x.cs.detail = "purge log gap";
      x.bypass_store = true;
      keep = co_await Run(x, flow::State::kPass);
    } else if (x.cacheable_method()) {
      keep = co_await Run(x, flow::State::kLookup);
    } else {
      x.cs.fwd = "method";
      keep = co_await Run(x, flow::State::kPass);
    }
  }

  const auto ended = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(ended - started).count();
  metrics_.CountRequest(x.outcome);
  metrics_.ObserveLatency(seconds);
  metrics_.AddClientBytes(x.sent_bytes);
  if (x.from_store) metrics_.AddStoreBytes(x.sent_bytes);
  if (!x.primary.empty()) metrics_.top_urls().Record(x.primary, ended);
  if (log) {
    const std::string cache_status = x.cs.ToString();
    log->Write({.client = x.client_address,
                .method = std::string_view(req.method_string()),
                .target = target,
                .host = x.host,
                .status = x.status,
                .bytes = x.sent_bytes,
                .result = metrics::Metrics::Name(x.outcome),
                .cache_status = cache_status,
                .origin_ms = x.origin_ms,
                .total_ms = seconds * 1000,
                .request_id = logs::NextRequestId()});
  }
  co_return keep&& x.keep_alive ? AfterResponse::kKeepAlive : AfterResponse::kClose;
}

void Proxy::ArmClientDeadline(Exchange& x) const {
  x.client->expires_after(std::chrono::milliseconds(x.config().client_timeout_ms));
}

void Proxy::ResetToMiss(Exchange& x, std::string detail) const {
  x.cs = CacheStatus{};
  x.cs.name = x.config().name;
  x.cs.fwd = "miss";
  x.cs.detail = std::move(detail);
  x.outcome = metrics::Outcome::kMiss;
}

asio::awaitable<bool> Proxy::SendError(Exchange& x, unsigned status, std::string_view text) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain");
  if (x.config().response_via) res.set(http::field::via, x.settings->via);
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

asio::awaitable<bool> Proxy::Run(Exchange& x, flow::State state, const ObjectInfo* stored) {
  using flow::State;
  Lookup found;
  if (stored != nullptr) {
    found.info = std::make_shared<const ObjectInfo>(*stored);
    found.found.stored = true;
  }
  Collapser::Ticket ticket;  // held while this request leads a collapsed fetch
  std::optional<Upstream> up;
  const ObjectInfo* serving = nullptr;  // what the states that answer from the store serve
  ObjectInfo refreshed;                 // ... after kRefresh
  int64_t age = 0;
  for (;;) {
    if (spdlog::should_log(spdlog::level::trace)) {
      spdlog::trace("{} {}: {}", std::string_view(x.req.method_string()), x.primary,
                    flow::StateName(state));
    }
    switch (state) {
      case State::kLookup:
        // A response being committed after it was sent is waited for: it is what a lookup
        // must find.
        co_await collapser_.AwaitCommit(x.primary,
                                        std::chrono::milliseconds(x.config().collapse_wait_ms));
        state = LookUp(x, &found);
        continue;
      case State::kRefuse:
        x.cs.fwd = "miss";
        co_return co_await SendError(x, 504, "not in cache (only-if-cached)\n");
      case State::kCollapse: {
        Collapser::Joined joined = co_await WaitForLeader(x, &ticket);
        if (!joined.waited) {
          state = flow::Lead(found.found);
          LabelLead(x, state, found);
          continue;
        }
        if (std::unique_ptr<Broadcast::Reader> reader = co_await JoinLeader(x, joined)) {
          co_return co_await ServeBroadcast(x, *joined.broadcast, *reader);
        }
        state = State::kLookup;  // the leader is done: its response may be stored now
        continue;
      }
      case State::kServeFresh:
      case State::kServeWhileRevalidating: {
        const policy::ServeDecision& d = found.found.decision;
        x.cs.hit = true;
        x.cs.has_ttl = true;
        x.cs.ttl = d.ttl;
        x.outcome = metrics::Outcome::kHit;
        if (state == State::kServeWhileRevalidating) {
          x.cs.fwd = "stale";
          x.cs.detail = "stale-while-revalidate";
          x.outcome = metrics::Outcome::kStale;
          RevalidateInBackground(x, *found.info, co_await asio::this_coro::executor);
        }
        serving = found.info.get();
        age = d.age;
        break;
      }
      case State::kRevalidate:
      case State::kFetch:
      case State::kCompletePart:
      case State::kPass:
        up.emplace();
        up->stale = state == State::kRevalidate ? found.info.get() : nullptr;
        up->prefix = state == State::kCompletePart ? found.info.get() : nullptr;
        state = co_await Fetch(x, &*up);
        continue;
      case State::kRefresh:
        if (!Refresh(x, *up, &refreshed, &age)) co_return false;
        serving = &refreshed;
        break;
      case State::kServeStale:
        serving = up->stale;
        age = policy::CurrentAge(serving->meta, Now());
        x.cs.fwd = "stale";
        x.cs.has_ttl = true;
        x.cs.ttl = serving->meta.freshness_lifetime - age;
        x.outcome = metrics::Outcome::kStale;
        break;
      case State::kError:
        if (up->error_status == 0) co_return false;
        co_return co_await SendError(x, up->error_status, up->error_text);
      case State::kRelay:
        co_return co_await Relay(x, *up);
    }
    // The states that answer from the store end here.
    const Served served = co_await ServeStored(x, *serving, age);
    if (served != Served::kUnreadable) co_return served == Served::kSent;
    // A bad body is dropped by the engine: nothing was sent, so this is just a miss.
    ResetToMiss(x, "stored body unreadable");
    const bool only_if_cached = found.found.only_if_cached;
    found = Lookup();
    state = only_if_cached ? State::kRefuse : State::kFetch;
  }
}

flow::State Proxy::LookUp(Exchange& x, Lookup* out) {
  Lookup& l = *out;
  l = Lookup();
  Status s = store_.LookupVariant(x.primary, RequestHeaders(x.req, &x.vary_values), &l.info);
  if (!s.ok() && !s.IsNotFound()) {
    spdlog::warn("store lookup of {} failed: {}", x.primary, s.ToString());
  }
  flow::Found& f = l.found;
  f.stored = s.ok();
  f.only_if_cached = policy::Collect(x.req, "cache-control").Has("only-if-cached");
  if (!f.stored) return flow::AfterLookup(f);
  f.decision = policy::DecideServe(x.req, *l.info, Now(), x.settings->policy);
  const ObjectMeta& m = l.info->meta;
  f.within_swr = !(m.policy_flags & policy::kMustRevalidate) && m.stale_while_revalidate > 0 &&
                 -f.decision.ttl <= m.stale_while_revalidate;
  f.partial = m.status == 206;
  if (f.partial) {
    const std::optional<http_util::ContentRange> part = StoredPart(m);
    const std::string_view range_header = Field(x.req, http::field::range);
    const std::string_view if_range = Field(x.req, http::field::if_range);
    if (part && !x.head && !range_header.empty() &&
        (if_range.empty() || http_util::IfRangeMatches(if_range, m.etag, m.last_modified))) {
      const http_util::ByteRange r = http_util::ParseRange(range_header, part->complete_length);
      f.range_inside_part = r.kind == http_util::ByteRange::kSatisfiable &&
                            r.first >= part->first && r.last <= part->last;
    }
    f.completable = part && part->first == 0 && !CompletionValidator(m).empty();
  }
  return flow::AfterLookup(f);
}

void Proxy::LabelLead(Exchange& x, flow::State state, const Lookup& l) {
  x.outcome = metrics::Outcome::kMiss;
  if (state == flow::State::kRevalidate) {
    const policy::ServeDecision& d = l.found.decision;
    x.cs.fwd = d.StoredResponseNeedsIt() ? "stale" : "request";
    x.cs.detail = std::string(policy::ReasonText(d.reason));
    x.outcome = metrics::Outcome::kStale;
  } else if (l.found.partial) {
    x.cs.fwd = "miss";
    x.cs.detail = state == flow::State::kCompletePart ? "partial" : "";
  } else {
    // Only a URL with stored Vary names can have had another variant (no index scan for
    // a plain miss).
    std::vector<ObjectInfo> variants;
    const bool vary_miss = l.info != nullptr && !l.info->key.secondary.empty() &&
                           store_.Variants(x.primary, &variants).ok() && !variants.empty();
    x.cs.fwd = vary_miss ? "vary-miss" : "miss";
  }
}

asio::awaitable<Collapser::Joined> Proxy::WaitForLeader(Exchange& x, Collapser::Ticket* ticket) {
  // A request that already waited once goes to the origin itself: the response it waited
  // for was not stored (uncacheable, or another variant), so waiting again would only
  // serialise the clients.
  if (x.collapsed || x.config().collapse_wait_ms == 0) co_return Collapser::Joined{};
  // Only a plain GET can take the leader's response as it streams by.
  const bool can_stream = x.req.method() == http::verb::get &&
                          x.req.find(http::field::range) == x.req.end() &&
                          x.req.find(http::field::if_none_match) == x.req.end() &&
                          x.req.find(http::field::if_modified_since) == x.req.end();
  Collapser::Joined joined = co_await collapser_.Acquire(
      x.primary, std::chrono::milliseconds(x.config().collapse_wait_ms), can_stream, ticket);
  if (joined.waited) {
    x.collapsed = true;
    x.cs.detail = "collapsed";
  } else {
    x.ticket = ticket;
  }
  co_return joined;
}

asio::awaitable<std::unique_ptr<Broadcast::Reader>> Proxy::JoinLeader(
    Exchange& x, const Collapser::Joined& joined) {
  if (!joined.broadcast) co_return nullptr;
  Broadcast& b = *joined.broadcast;
  // Only a request that selects the same variant may take the leader's response; any
  // other (and one that joins after the first bytes are gone) waits for the leader to
  // finish and looks its own variant up.
  if (SecondaryKeyFor(b.vary(), RequestHeaders(x.req, &x.vary_values)) == b.secondary()) {
    if (std::unique_ptr<Broadcast::Reader> reader = b.Join()) co_return reader;
  }
  co_await b.WaitDone(std::chrono::milliseconds(x.config().origin_timeout_ms));
  co_return nullptr;
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
    const config::OriginUrl* origin;  // in settings
    std::shared_ptr<const Settings> settings;
  };
  auto bg = std::make_shared<Background>(
      Background{x.req, stale, x.host, x.target, x.primary, x.origin, x.settings});
  asio::co_spawn(
      executor,
      [this, bg]() -> asio::awaitable<void> {
        Exchange y{bg->req, nullptr, "background", bg->settings};
        y.cs.name = bg->settings->config->name;
        y.host = bg->host;
        y.target = bg->target;
        y.primary = bg->primary;
        y.origin = bg->origin;
        y.keep_alive = false;
        co_await Run(y, flow::State::kRevalidate, &bg->stale);
        std::lock_guard lock(background_mu_);
        background_.erase(bg->primary);
      },
      asio::detached);
}

}  // namespace edgecache::proxy
