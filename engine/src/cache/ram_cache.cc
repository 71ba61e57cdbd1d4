#include "cache/ram_cache.h"

namespace edgecache::cache {
namespace {

// Bytes an entry costs besides its record: list node, map node, control block.
constexpr uint64_t kEntryOverhead = 64;

}  // namespace

size_t RamCache::KeyHash::operator()(const Key& k) const {
  // splitmix64's finaliser over both halves: neighbouring offsets land in different shards.
  uint64_t h = k.segment * 0x9e3779b97f4a7c15ull ^ k.offset;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return static_cast<size_t>(h ^ (h >> 31));
}

RamCache::RamCache(uint64_t capacity_bytes)
    : shard_capacity_(capacity_bytes / kShards),
      shards_(capacity_bytes > 0 ? new Shard[kShards] : nullptr) {}

RamCache::~RamCache() = default;

std::shared_ptr<const std::string> RamCache::Get(uint64_t segment, uint32_t offset) const {
  if (!shards_) return nullptr;
  const Key key{segment, offset};
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.map.find(key);
  if (it == shard.map.end()) return nullptr;
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return it->second->record;
}

void RamCache::Put(uint64_t segment, uint32_t offset, std::shared_ptr<const std::string> record) {
  if (!shards_) return;
  const uint64_t charge = record->size() + kEntryOverhead;
  if (charge > shard_capacity_) return;
  const Key key{segment, offset};
  Shard& shard = ShardOf(key);
  std::shared_ptr<const std::string> dropped;  // the replaced record, freed after unlocking
  std::list<Entry> evicted;
  std::lock_guard lock(shard.mu);
  if (auto it = shard.map.find(key); it != shard.map.end()) {
    shard.usage -= it->second->charge;
    dropped = std::move(it->second->record);
    it->second->record = std::move(record);
    it->second->charge = charge;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  } else {
    shard.lru.push_front(Entry{key, std::move(record), charge});
    shard.map.emplace(key, shard.lru.begin());
  }
  shard.usage += charge;
  while (shard.usage > shard_capacity_) {
    auto last = std::prev(shard.lru.end());
    shard.usage -= last->charge;
    shard.map.erase(last->key);
    evicted.splice(evicted.begin(), shard.lru, last);
  }
}

uint64_t RamCache::usage() const {
  if (!shards_) return 0;
  uint64_t total = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    total += shards_[i].usage;
  }
  return total;
}

}  // namespace edgecache::cache
