// TopUrls: how many requests each URL got in the last complete second, for `edgecachectl
// top` (GET /api/v1/top). Each request adds one to its URL's count in the current
// second's table; the first request of a new second moves that table to "last second".
// A table holds at most kMaxUrls URLs a second; requests for others count as "other", so
// a scan of unique URLs costs memory bounded by that.
//
// Thread safety: Record and Last may be called from any thread. Requests are spread over
// shards by thread, so network threads do not contend with each other.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace edgecache::metrics {

class TopUrls {
 public:
  static constexpr size_t kMaxUrls = 4096;  // per shard and second

  // `now`: when the request ended (the caller has read the clock already).
  void Record(std::string_view url, std::chrono::steady_clock::time_point now);

  struct Interval {
    std::vector<std::pair<std::string, uint64_t>> urls;  // most requested first
    uint64_t requests = 0;                               // every request of that second
    uint64_t other = 0;  // requests for URLs a full table had no room for
  };
  // The last complete second's `n` most requested URLs.
  Interval Last(size_t n) const;

 private:
  // Looked up by string_view: no string is made for a URL already counted.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Counts = std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>>;
  struct Shard {
    std::mutex mu;
    int64_t second = 0;                              // GUARDED_BY(mu): of `current`
    Counts current;                                  // GUARDED_BY(mu)
    Counts previous;                                 // GUARDED_BY(mu): second - 1
    uint64_t current_other = 0, previous_other = 0;  // GUARDED_BY(mu)
  };
  // Moves `shard` on to `second` (the caller holds its lock).
  static void Advance(Shard& shard, int64_t second);
  static int64_t Second(std::chrono::steady_clock::time_point t);

  mutable std::array<Shard, 16> shards_;
};

}  // namespace edgecache::metrics
