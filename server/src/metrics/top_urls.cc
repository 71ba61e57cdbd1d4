#include "metrics/top_urls.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

namespace edgecache::metrics {

int64_t TopUrls::Second(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void TopUrls::Advance(Shard& shard, int64_t second) {
  if (shard.second == second) return;
  if (shard.second == second - 1) {
    shard.previous.swap(shard.current);
    shard.previous_other = shard.current_other;
  } else {  // a quiet second or more: nothing counted in the last one
    shard.previous.clear();
    shard.previous_other = 0;
  }
  shard.current.clear();
  shard.current_other = 0;
  shard.second = second;
}

void TopUrls::Record(std::string_view url, std::chrono::steady_clock::time_point now) {
  static thread_local const size_t shard_index =
      std::hash<std::thread::id>{}(std::this_thread::get_id()) % 16;
  Shard& shard = shards_[shard_index];
  const int64_t second = Second(now);
  std::lock_guard lock(shard.mu);
  Advance(shard, second);
  if (auto it = shard.current.find(url); it != shard.current.end()) {
    ++it->second;
  } else if (shard.current.size() < kMaxUrls) {
    shard.current.emplace(url, 1);
  } else {
    ++shard.current_other;
  }
}

TopUrls::Interval TopUrls::Last(size_t n) const {
  const int64_t second = Second(std::chrono::steady_clock::now());
  std::unordered_map<std::string, uint64_t> merged;
  Interval out;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    Advance(shard, second);
    for (const auto& [url, count] : shard.previous) {
      merged[url] += count;
      out.requests += count;
    }
    out.other += shard.previous_other;
    out.requests += shard.previous_other;
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
