#include "cache/hit_tracker.h"

#include <algorithm>
#include <functional>

namespace edgecache::cache {

HitTracker::HitTracker()
    : bits_(new std::atomic<uint64_t>[kBitWords]()), sketch_(new Line[kLines]()) {}

void HitTracker::Hit(std::string_view entry_key) {
  const size_t h = std::hash<std::string_view>()(entry_key);
  std::atomic<uint64_t>& word = bits_[(h >> 6) % kBitWords];
  const uint64_t bit = 1ull << (h & 63);
  // Reading first keeps a hot key's hits from writing the shared cache line every time.
  if ((word.load(std::memory_order_relaxed) & bit) == 0)
    word.fetch_or(bit, std::memory_order_relaxed);
  // Every row counts every hit, so the minimum over the rows never under-counts, however
  // hits race.
  for (size_t row = 0; row < kRows; ++row) Counter(h, row).fetch_add(1, std::memory_order_relaxed);
}

bool HitTracker::TakeHit(std::string_view entry_key) {
  const size_t h = std::hash<std::string_view>()(entry_key);
  const uint64_t bit = 1ull << (h & 63);
  return (bits_[(h >> 6) % kBitWords].fetch_and(~bit, std::memory_order_relaxed) & bit) != 0;
}

uint64_t HitTracker::EstimateHits(std::string_view entry_key) const {
  const size_t h = std::hash<std::string_view>()(entry_key);
  uint32_t min = UINT32_MAX;
  for (size_t row = 0; row < kRows; ++row)
    min = std::min(min, Counter(h, row).load(std::memory_order_relaxed));
  return min;
}

}  // namespace edgecache::cache
