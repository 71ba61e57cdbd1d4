// RFC 9111 decisions for a shared cache: whether a response may be stored and for how
// long it is fresh (§3, §4.2, RFC 9213 CDN-Cache-Control, Surrogate-Control), its current
// age (§4.2.3), and whether a stored response can answer a request as it is (§4).
//
// Pure functions of headers and times: no I/O, no clock (callers pass `now`).
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/object.h"
#include "policy/directives.h"

namespace edgecache::policy {

namespace http = boost::beast::http;

// Bits of ObjectMeta::policy_flags.
enum PolicyFlag : uint32_t {
  kMustRevalidate = 1,   // must-revalidate, proxy-revalidate or s-maxage: never serve stale
  kNoCacheResponse = 2,  // response no-cache: revalidate before every use
  kImmutable = 4,        // immutable: a client's reload need not revalidate while fresh
  kHeuristic = 8,        // freshness came from the Last-Modified heuristic
};

struct PolicyOptions {
  // Heuristic freshness: this fraction of (Date - Last-Modified), at most this long.
  double heuristic_fraction = 0.1;
  int64_t heuristic_max_seconds = 86400;
  // Whether a client's Cache-Control: no-cache (or Pragma: no-cache) forces a
  // revalidation with the origin, as RFC 9111 says; CDNs often make it configurable.
  bool honour_client_no_cache = true;
  // Store responses that carry Set-Cookie (without it) instead of passing them.
  bool store_set_cookie = false;
};

struct StorageDecision {
  bool store = false;
  std::string reason;  // why not, for logs ("no-store", "private", ...)
  int64_t freshness_lifetime = 0;
  int64_t stale_while_revalidate = 0;
  int64_t stale_if_error = 0;
  uint32_t flags = 0;
  // Header fields that must not be stored (no-cache="..." and private="..." field names,
  // lower-case); the rest of the response may be stored and reused.
  std::vector<std::string> strip_fields;
};

// Every `name` header line (Cache-Control, CDN-Cache-Control, ...) parsed together.
Directives Collect(const http::fields& fields, std::string_view name);

// A targeted field (CDN-Cache-Control), every line joined: nullopt when absent or invalid.
std::optional<Directives> CollectTargeted(const http::fields& fields, std::string_view name);

// Status codes cacheable by default (RFC 9110 §15.1).
bool CacheableByDefault(unsigned status);

// May `resp`, received for `req`, be stored, and how fresh is it?
StorageDecision DecideStorage(const http::request_header<>& req,
                              const http::response_header<>& resp, int64_t now,
                              const PolicyOptions& options);
// The same for a GET with the fields `req` (a HEAD miss is fetched and stored as one).
StorageDecision DecideStorageForGet(const http::fields& req, const http::response_header<>& resp,
                                    int64_t now, const PolicyOptions& options);

// Delta-seconds past this are this (RFC 9111 §1.2.2).
inline constexpr int64_t kDeltaSecondsCap = 2147483648LL;

// An Age field value (RFC 9111 §5.1): its first member when list-valued; nullopt unless
// that is a non-negative integer; capped at kDeltaSecondsCap.
std::optional<int64_t> ParseAge(std::string_view value);

// §4.2.3: age of a stored response at `now`, from its Date, the Age it arrived with
// (kept among its stored headers), and when it was requested and received.
int64_t CurrentAge(const ObjectMeta& meta, int64_t now);

struct ServeDecision {
  // Why a stored response may not answer the request as it is.
  enum class Reason {
    kUsable,           // it may
    kStale,            // past its freshness lifetime (and no max-stale allows it)
    kPurged,           // soft-purged, or marked stale by a HEAD (§4.3.5)
    kNoCache,          // stored with response no-cache: revalidated before every use
    kRequestNoCache,   // the client's no-cache / Pragma: no-cache
    kRequestMaxAge,    // older than the client's max-age
    kRequestMinFresh,  // fresh for less than the client's min-fresh
  };
  bool usable = false;  // may answer the request without contacting the origin
  bool fresh = false;   // within its freshness lifetime
  int64_t age = 0;      // current age, seconds
  int64_t ttl = 0;      // freshness lifetime - age (negative when stale)
  Reason reason = Reason::kUsable;
  // Whether revalidating is the stored response's doing (stale, purged, no-cache) rather
  // than the request's: Cache-Status says fwd=stale for these, fwd=request otherwise.
  bool StoredResponseNeedsIt() const {
    return reason == Reason::kStale || reason == Reason::kPurged || reason == Reason::kNoCache;
  }
};

// For Cache-Status details: "purged", "request no-cache", ...; "" for kUsable and kStale.
std::string_view ReasonText(ServeDecision::Reason reason);

// Can the stored response `info` answer `req` without validation (§4, §5.2.1)?
ServeDecision DecideServe(const http::request_header<>& req, const ObjectInfo& info, int64_t now,
                          const PolicyOptions& options);

}  // namespace edgecache::policy
