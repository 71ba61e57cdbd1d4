// What the admin side reports about a store, as JSON (Boost.JSON): the node's admin API
// serves these documents, and edgecachectl builds the same ones itself when it works
// offline on a store directory, so both targets print alike. docs/cli.md describes every
// field.
//
// Thread safety: free functions over a Store (itself thread-safe); no state of their own.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "edgecache/store.h"
#include "metrics/metrics.h"
#include "policy/cache_policy.h"
#include "proxy/cache_key.h"

namespace edgecache::admin {

namespace json = boost::json;

// "fresh", "stale" (may be served stale where the policy allows) or "must-revalidate"
// (stale, or no-cache, and must be revalidated before any reuse). A soft-purged object is
// never fresh.
std::string StateOf(const ObjectInfo& info, int64_t now);

// One stored variant: state, age and TTL, validators, times, tags, size, location, hits.
json::object DescribeObject(const ObjectInfo& info, int64_t now);

// Every variant stored under `url`, or with `request_headers` (lower-case names) only the
// variant a request with those headers would get. NotFound when there is none;
// InvalidArgument when `url` is not a URL. Counts no hits.
Status Inspect(Store& store, const proxy::KeyOptions& keys, const std::string& url,
               const std::map<std::string, std::string>& request_headers, int64_t now,
               json::object* out);

struct ListRequest {
  std::string prefix;  // a URL prefix ("http://host/path"); "" for every object
  std::string tag;
  bool stale_only = false;  // only objects that are not fresh
  size_t limit = 100;       // at most kMaxListLimit
  std::string after;        // resume after this key: the `next` of the previous page
};
// The most entries one list answer holds: a page's memory is bounded, larger listings page.
inline constexpr size_t kMaxListLimit = 10000;
// {"entries": [...], "truncated": bool, "next": KEY when truncated}. A page ends between
// keys: all variants of a key are on one page (a page may exceed `limit` by the variants of
// its only key). `limit` above kMaxListLimit is InvalidArgument.
Status List(Store& store, const proxy::KeyOptions& keys, const ListRequest& request, int64_t now,
            json::object* out);

// {"store": {...}} and, when `node` is given (a running node), {"node": {...}} with the
// request counters, hit ratio, byte hit ratio and bytes saved by 304s.
json::object Stats(Store& store, const metrics::Metrics::Snapshot* node);

enum class PurgeKind { kUrl, kTag, kPrefix };
std::optional<PurgeKind> ParsePurgeKind(std::string_view text);
// Purges each value (URLs, tags, or URL prefixes); durable when it returns.
// {"kind", "mode", "affected": total, "values": [{"value", "affected"}]}.
Status Purge(Store& store, const proxy::KeyOptions& keys, PurgeKind kind,
             const std::vector<std::string>& values, PurgeMode mode, json::object* out);

// Store::Verify as a document: the report's counts, "ok" and "problems". `cancel` (may be
// null) stops it early (Aborted).
Status Verify(Store& store, bool repair, const std::function<void(uint64_t)>& progress,
              const std::atomic<bool>* cancel, json::object* out);

// "url", "tag", "prefix"
const char* PurgeKindName(PurgeKind kind);

// A request header as an operator writes it, "Name: value": the lower-case name and the
// trimmed value; false when there is no name.
bool ParseHeaderLine(std::string_view line, std::string* name, std::string* value);

}  // namespace edgecache::admin
