#include "metrics/top_urls.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>
#include <unordered_map>

namespace edgecache::metrics {

int64_t TopUrls::Second(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void TopUrls::Table::Count(std::string_view url) {
  if (slots.empty()) slots.resize(kSlots);
  const uint64_t hash = std::hash<std::string_view>{}(url);
  for (size_t probe = 0, i = hash & (kSlots - 1); probe < kMaxProbes;
       ++probe, i = (i + 1) & (kSlots - 1)) {
    Slot& slot = slots[i];
    if (slot.count == 0) {
      if (used == kMaxUrls) break;
      slot.hash = hash;
      slot.url.assign(url);
      slot.count = 1;
      ++used;
      return;
    }
    if (slot.hash == hash && slot.url == url) {
      ++slot.count;
      return;
    }
  }
  ++other;
}

void TopUrls::Table::Clear() {
  if (used > 0) {
    for (Slot& slot : slots) {
      slot.count = 0;
      if (slot.url.capacity() > kKeptUrlBytes) std::string().swap(slot.url);
    }
  }
  used = 0;
  other = 0;
}

void TopUrls::Advance(Shard& shard, int64_t second) {
  if (shard.second == second) return;
  if (shard.second == second - 1) {
    std::swap(shard.previous, shard.current);
  } else {  // a quiet second or more: nothing counted in the last one
    shard.previous.Clear();
  }
  shard.current.Clear();
  shard.second = second;
}

void TopUrls::Record(std::string_view url, std::chrono::steady_clock::time_point now) {
  static thread_local const size_t shard_index =
      std::hash<std::thread::id>{}(std::this_thread::get_id()) % 16;
  Shard& shard = shards_[shard_index];
  const int64_t second = Second(now);
  std::lock_guard lock(shard.mu);
  Advance(shard, second);
  shard.current.Count(url);
}

TopUrls::Interval TopUrls::Last(size_t n) const {
  const int64_t second = Second(std::chrono::steady_clock::now());
  std::unordered_map<std::string, uint64_t> merged;
  Interval out;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    Advance(shard, second);
    for (const Table::Slot& slot : shard.previous.slots) {
      if (slot.count == 0) continue;
      merged[slot.url] += slot.count;
      out.requests += slot.count;
    }
    out.other += shard.previous.other;
    out.requests += shard.previous.other;
  }
  out.urls.assign(merged.begin(), merged.end());
  const size_t keep = std::min(n, out.urls.size());
  std::partial_sort(out.urls.begin(), out.urls.begin() + static_cast<std::ptrdiff_t>(keep),
                    out.urls.end(), [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  out.urls.resize(keep);
  return out;
}

}  // namespace edgecache::metrics
