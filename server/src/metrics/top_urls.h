// TopUrls: how many requests each URL got in the last complete second, for `edgecachectl
// top` (GET /api/v1/top). Each request adds one to its URL's count in the current
// second's table; the first request of a new second moves that table to "last second".
// A table holds at most kMaxUrls URLs a second; requests for others count as "other", so
// a scan of unique URLs costs memory bounded by that (so do URLs made to collide). A table
// is a fixed array of slots (open addressing) reused every second: counting a URL
// allocates nothing once its slot's string has held one as long (string buffers longer
// than kKeptUrlBytes are freed each second).
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
  static constexpr size_t kSlots = 2 * kMaxUrls;  // a power of two: at most half full
  static constexpr size_t kKeptUrlBytes = 256;
  // Slots a URL's probe looks at before it counts as "other": URLs made to collide cost
  // each request a bounded number of compares, not a walk of the table.
  static constexpr size_t kMaxProbes = 32;

  // One second's counts.
  struct Table {
    struct Slot {
      uint64_t hash = 0;
      uint64_t count = 0;  // 0: free
      std::string url;
    };
    std::vector<Slot> slots;  // kSlots once used
    size_t used = 0;
    uint64_t other = 0;  // requests for URLs that found no room

    void Count(std::string_view url);
    void Clear();
  };
  struct Shard {
    std::mutex mu;
    int64_t second = 0;  // GUARDED_BY(mu): of `current`
    Table current;       // GUARDED_BY(mu)
    Table previous;      // GUARDED_BY(mu): second - 1
  };
  // Moves `shard` on to `second` (the caller holds its lock).
  static void Advance(Shard& shard, int64_t second);
  static int64_t Second(std::chrono::steady_clock::time_point t);

  mutable std::array<Shard, 16> shards_;
};

}  // namespace edgecache::metrics
