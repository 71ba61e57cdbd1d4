// HitTracker: what the store remembers about hits, in fixed memory, without locks.
//  * a bitmap, one bit per hash of an entry key, set on a hit and taken (cleared) by the
//    re-inserter: "was this object hit since it was last looked at?" (512 KiB);
//  * a count-min sketch of hits per entry key (ObjectInfo::hits): four rows of 2^18
//    counters (4 MiB), blocked: a key's four counters share one 64-byte line (one per
//    quarter of it), so a hit touches one line of the sketch, not four. An estimate never
//    under-counts; collisions only over-count.
//
// Thread safety: all methods are thread-safe (relaxed atomics; hits may race).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace edgecache::cache {

class HitTracker {
 public:
  HitTracker();

  void Hit(std::string_view entry_key);
  // Whether the key was hit since the last TakeHit of it; clears its bit.
  bool TakeHit(std::string_view entry_key);
  uint64_t EstimateHits(std::string_view entry_key) const;

 private:
  static constexpr size_t kBitWords = 1 << 16;  // 4 Mi bits
  static constexpr size_t kRows = 4, kColumns = 1 << 18;
  static constexpr size_t kLineCounters = 16;
  static constexpr size_t kLines = kRows * kColumns / kLineCounters;
  struct alignas(64) Line {
    std::atomic<uint32_t> counters[kLineCounters];
  };

  // Row `row`'s counter of a key: in the key's line, in the row's quarter of it.
  std::atomic<uint32_t>& Counter(size_t hash, size_t row) const {
    const size_t in_quarter = (hash >> (40 + 2 * row)) & 3;
    return sketch_[hash % kLines].counters[row * (kLineCounters / kRows) + in_quarter];
  }

  std::unique_ptr<std::atomic<uint64_t>[]> bits_;
  std::unique_ptr<Line[]> sketch_;
};

}  // namespace edgecache::cache
