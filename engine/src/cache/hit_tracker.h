// HitTracker: what the store remembers about hits, in fixed memory, without locks.
//  * a bitmap, one bit per hash of an entry key, set on a hit and taken (cleared) by the
//    re-inserter: "was this object hit since it was last looked at?" (512 KiB);
//  * a count-min sketch of hits per entry key (ObjectInfo::hits): four rows of 2^18
//    counters (4 MiB). An estimate never under-counts; collisions only over-count.
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

  static size_t Column(size_t hash, size_t row) {
    return row * kColumns + (hash + row * ((hash >> 32) | 1)) % kColumns;
  }

  std::unique_ptr<std::atomic<uint64_t>[]> bits_;
  std::unique_ptr<std::atomic<uint32_t>[]> sketch_;
};

}  // namespace edgecache::cache
