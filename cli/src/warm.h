// `edgecachectl warm`: fetches a list of URLs through a node's client listener, so they
// are in its cache before clients ask, and says what became of each.
//
// Thread safety: Warm runs its own worker threads; call it from one thread.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace edgecache::ctl {

struct WarmSummary {
  uint64_t total = 0;
  uint64_t done = 0;
  uint64_t stored = 0;                // fetched from the origin and stored
  uint64_t fresh = 0;                 // already fresh in the cache (a hit)
  uint64_t revalidated = 0;           // stored but stale: the origin said 304, refreshed
  uint64_t not_stored = 0;            // answered, but not cacheable (no-store, private, ...)
  uint64_t failed = 0;                // no answer, or an error status (4xx, 5xx)
  std::vector<std::string> failures;  // "URL: why", the first 20
};

// One URL per line; blank lines and lines starting with '#' are skipped. Lines that are
// not http(s) URLs are refused with their line number (InvalidArgument in *error).
bool ReadUrlList(std::istream& in, std::vector<std::string>* urls, std::string* error);

// `via`: the node's client listener, "HOST:PORT". `progress` (may be empty) is called
// about ten times a second from the calling thread while the workers run.
WarmSummary Warm(const std::vector<std::string>& urls, const std::string& via, int concurrency,
                 std::chrono::milliseconds timeout,
                 const std::function<void(const WarmSummary&)>& progress);

boost::json::object WarmJson(const WarmSummary& summary);
std::string RenderWarm(const WarmSummary& summary);
// "[#####.....] 512/1000  stored 500  fresh 10  failed 2" for a terminal line.
std::string WarmProgressLine(const WarmSummary& summary);

}  // namespace edgecache::ctl
