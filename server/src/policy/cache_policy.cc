#include "policy/cache_policy.h"

#include <algorithm>

#include "http/http_date.h"
#include "http/range.h"
#include "policy/directives.h"
#include "util/ascii.h"

namespace edgecache::policy {
namespace {

std::optional<int64_t> DateField(const http::fields& fields, http::field name) {
  auto it = fields.find(name);
  if (it == fields.end()) return std::nullopt;
  return http_util::ParseHttpDate(std::string_view(it->value().data(), it->value().size()));
}

// A freshness directive's lifetime: nullopt when absent, 0 (stale) when its value is not
// delta-seconds: RFC 9111 §4.2.1 encourages treating invalid freshness information as
// stale, and falling through to Expires or heuristics could make it fresher.
std::optional<int64_t> ExplicitSeconds(const Directives& d, std::string_view name) {
  if (!d.Has(name)) return std::nullopt;
  return d.Seconds(name).value_or(0);
}

}  // namespace

std::optional<Directives> CollectTargeted(const http::fields& fields, std::string_view name) {
  std::string joined;
  bool present = false;
  for (auto it = fields.find(name);
       it != fields.end() && boost::beast::iequals(it->name_string(), name); ++it) {
    if (present) joined += ", ";
    joined.append(it->value().data(), it->value().size());
    present = true;
  }
  if (!present) return std::nullopt;
  return Directives::ParseTargeted(joined);
}

Directives Collect(const http::fields& fields, std::string_view name) {
  Directives d;
  for (auto it = fields.find(name);
       it != fields.end() && boost::beast::iequals(it->name_string(), name); ++it) {
    d.Add(std::string_view(it->value().data(), it->value().size()));
  }
  return d;
}

bool CacheableByDefault(unsigned status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

StorageDecision DecideStorage(const http::request_header<>& req,
                              const http::response_header<>& resp, int64_t now,
                              const PolicyOptions& options) {
  if (req.method() != http::verb::get) {
    StorageDecision d;
    d.store = false;
    d.reason = "method";
    return d;
  }
  return DecideStorageForGet(req, resp, now, options);
}

StorageDecision DecideStorageForGet(const http::fields& req, const http::response_header<>& resp,
                                    int64_t now, const PolicyOptions& options) {
  StorageDecision d;
  auto refuse = [&d](std::string reason) {
    d.store = false;
    d.reason = std::move(reason);
    return d;
  };
  const unsigned status = resp.result_int();
  if (status < 200 || status == 304) return refuse("status");
  if (status == 206) {
    // Partial content (§3.3) is stored when it is one byte range of a known whole; a
    // multipart one is not.
    const auto content_range = resp.find(http::field::content_range);
    const auto type = resp.find(http::field::content_type);
    if (content_range == resp.end() ||
        !http_util::ParseContentRange(
            std::string_view(content_range->value().data(), content_range->value().size())) ||
        (type != resp.end() && type->value().starts_with("multipart/"))) {
      return refuse("partial content");
    }
  }

  const Directives req_cc = Collect(req, "cache-control");
  if (req_cc.Has("no-store")) return refuse("request no-store");

  const Directives cc = Collect(resp, "cache-control");
  const std::optional<Directives> cdn = CollectTargeted(resp, "cdn-cache-control");
  const Directives surrogate = Collect(resp, "surrogate-control");
  // RFC 9213: when CDN-Cache-Control is present and valid this cache follows it and
  // ignores Cache-Control entirely; an invalid one is ignored as a whole.
  const Directives& governing = cdn ? *cdn : cc;

  // must-understand (§5.2.2.3): a cache that understands the status code's caching
  // requirements ignores no-store; one that does not must not store.
  const bool must_understand = governing.Has("must-understand");
  if (must_understand && !CacheableByDefault(status)) return refuse("must-understand");
  if ((governing.Has("no-store") && !must_understand) || surrogate.Has("no-store")) {
    return refuse("no-store");
  }
  if (governing.Has("private")) {
    // Unqualified private is for the user's own cache; private="field" only keeps those
    // fields out of shared caches.
    d.strip_fields = governing.FieldNames("private");
    if (d.strip_fields.empty()) return refuse("private");
  }
  if (resp.find(http::field::vary) != resp.end()) {
    for (auto it = resp.find(http::field::vary);
         it != resp.end() && it->name() == http::field::vary; ++it) {
      if (it->value().find('*') != boost::beast::string_view::npos) return refuse("vary *");
    }
  }
  if (resp.find(http::field::set_cookie) != resp.end()) {
    // A cookie is one user's, even on a response the origin calls public: as Varnish,
    // nginx and Fastly do, such a response is passed unstored, or (when configured)
    // stored without its Set-Cookie. A deliberate deviation from RFC 9111 §3.
    if (!options.store_set_cookie) return refuse("set-cookie");
    d.strip_fields.push_back("set-cookie");
  }
  if (req.find(http::field::authorization) != req.end() && !governing.Has("must-revalidate") &&
      !governing.Has("public") && !governing.Has("s-maxage")) {
    return refuse("authorization");
  }

  // Freshness lifetime (§4.2.1), first match wins: the governing field's s-maxage and
  // max-age (CDN-Cache-Control's before Surrogate-Control's, Cache-Control's after).
  std::optional<int64_t> lifetime;
  if (cdn) lifetime = ExplicitSeconds(*cdn, "s-maxage");
  if (cdn && !lifetime) lifetime = ExplicitSeconds(*cdn, "max-age");
  if (!lifetime) lifetime = ExplicitSeconds(surrogate, "max-age");
  if (!cdn && !lifetime) lifetime = ExplicitSeconds(cc, "s-maxage");
  if (!cdn && !lifetime) lifetime = ExplicitSeconds(cc, "max-age");
  const auto date = DateField(resp, http::field::date).value_or(now);
  if (!lifetime && resp.count(http::field::expires) > 0) {
    // An invalid Expires ("0", a malformed date, several lines) means already expired
    // (§5.3), never "no Expires".
    auto expires = resp.count(http::field::expires) == 1 ? DateField(resp, http::field::expires)
                                                         : std::nullopt;
    lifetime = expires ? std::max<int64_t>(0, *expires - date) : 0;
  }
  if (!lifetime) {
    const bool heuristic_allowed = CacheableByDefault(status) || governing.Has("public");
    auto last_modified = DateField(resp, http::field::last_modified);
    if (!heuristic_allowed) return refuse("no explicit freshness");
    if (last_modified && *last_modified < date) {
      lifetime = std::min<int64_t>(
          options.heuristic_max_seconds,
          static_cast<int64_t>((date - *last_modified) * options.heuristic_fraction));
    } else {
      lifetime = 0;  // storable, but stale at once: it will be revalidated before use
    }
    d.flags |= kHeuristic;
  }
  d.store = true;
  d.freshness_lifetime = *lifetime;
  d.stale_while_revalidate = governing.Seconds("stale-while-revalidate").value_or(0);
  d.stale_if_error = governing.Seconds("stale-if-error").value_or(0);
  if (governing.Has("must-revalidate") || governing.Has("proxy-revalidate") ||
      governing.Has("s-maxage")) {
    d.flags |= kMustRevalidate;
  }
  if (governing.Has("no-cache")) {
    // Unqualified: revalidate before every use. With field names: those fields are not
    // stored, and the rest may be reused without revalidation (§5.2.2.4).
    std::vector<std::string> fields = governing.FieldNames("no-cache");
    if (fields.empty()) d.flags |= kNoCacheResponse;
    d.strip_fields.insert(d.strip_fields.end(), fields.begin(), fields.end());
  }
  if (governing.Has("immutable")) d.flags |= kImmutable;
  return d;
}

std::optional<int64_t> ParseAge(std::string_view value) {
  // A list-valued Age (several lines joined) counts by its first member.
  value = util::TrimOws(value.substr(0, value.find(',')));
  if (value.empty() || value.size() > 64) return std::nullopt;
  int64_t age = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    // Past 2^31 an age is 2^31 (RFC 9111 §1.2.2): no overflow however many digits.
    age = std::min<int64_t>(age * 10 + (c - '0'), kDeltaSecondsCap);
  }
  return age;
}

namespace {

// a - b, and a + b, saturating: stored times come from disk and remote clocks.
int64_t Sub(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_sub_overflow(a, b, &r) ? (b < 0 ? INT64_MAX : INT64_MIN) : r;
}
int64_t Add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? (b < 0 ? INT64_MIN : INT64_MAX) : r;
}

}  // namespace

int64_t CurrentAge(const ObjectMeta& meta, int64_t now) {
  int64_t age_value = 0;
  for (const auto& [name, value] : meta.headers) {
    if (boost::beast::iequals(name, "age")) {
      age_value = ParseAge(value).value_or(0);
      break;
    }
  }
  const int64_t date = meta.date != 0 ? meta.date : meta.response_time;
  const int64_t apparent_age = std::max<int64_t>(0, Sub(meta.response_time, date));
  const int64_t response_delay = std::max<int64_t>(0, Sub(meta.response_time, meta.request_time));
  const int64_t corrected_age_value = Add(age_value, response_delay);
  const int64_t corrected_initial_age = std::max(apparent_age, corrected_age_value);
  const int64_t resident_time = std::max<int64_t>(0, Sub(now, meta.response_time));
  return Add(corrected_initial_age, resident_time);
}

ServeDecision DecideServe(const http::request_header<>& req, const ObjectInfo& info, int64_t now,
                          const PolicyOptions& options) {
  ServeDecision d;
  d.age = CurrentAge(info.meta, now);
  d.ttl = std::max(Sub(info.meta.freshness_lifetime, d.age), -INT64_MAX);  // -ttl never overflows
  d.fresh = d.ttl > 0;
  const uint32_t flags = info.meta.policy_flags;
  using Reason = ServeDecision::Reason;
  auto revalidate = [&d](Reason why) {
    d.usable = false;
    d.reason = why;
    return d;
  };
  if (info.invalidated) return revalidate(Reason::kPurged);
  if (flags & kNoCacheResponse) return revalidate(Reason::kNoCache);

  const Directives req_cc = Collect(req, "cache-control");
  bool client_no_cache = req_cc.Has("no-cache");
  if (req_cc.empty()) {
    auto pragma = req.find(http::field::pragma);
    client_no_cache =
        pragma != req.end() && pragma->value().find("no-cache") != boost::beast::string_view::npos;
  }
  if (client_no_cache && options.honour_client_no_cache && !(d.fresh && (flags & kImmutable))) {
    return revalidate(Reason::kRequestNoCache);
  }
  if (auto max_age = req_cc.Seconds("max-age"); max_age && d.age > *max_age) {
    return revalidate(Reason::kRequestMaxAge);
  }
  if (auto min_fresh = req_cc.Seconds("min-fresh"); min_fresh && d.ttl < *min_fresh) {
    return revalidate(Reason::kRequestMinFresh);
  }
  if (d.fresh) {
    d.usable = true;
    return d;
  }
  // Stale: only a client's max-stale lets it be served, and never past must-revalidate.
  if (req_cc.Has("max-stale") && !(flags & kMustRevalidate)) {
    auto limit = req_cc.Seconds("max-stale");
    if (!limit || -d.ttl <= *limit) {
      d.usable = true;
      return d;
    }
  }
  return revalidate(Reason::kStale);
}

std::string_view ReasonText(ServeDecision::Reason reason) {
  switch (reason) {
    case ServeDecision::Reason::kPurged:
      return "purged";
    case ServeDecision::Reason::kNoCache:
      return "no-cache";
    case ServeDecision::Reason::kRequestNoCache:
      return "request no-cache";
    case ServeDecision::Reason::kRequestMaxAge:
      return "request max-age";
    case ServeDecision::Reason::kRequestMinFresh:
      return "request min-fresh";
    case ServeDecision::Reason::kUsable:
    case ServeDecision::Reason::kStale:
      break;
  }
  return "";
}

}  // namespace edgecache::policy
