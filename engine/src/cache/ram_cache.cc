#include "cache/ram_cache.h"

namespace edgecache::cache {
namespace {

// Bytes an entry costs besides its record: its node, two slots, the control block.
constexpr uint64_t kEntryOverhead = 64;

}  // namespace

size_t RamCache::KeyHash::operator()(const Key& k) const {
  // splitmix64's finaliser over both halves: neighbouring offsets land in different shards.
  uint64_t h = k.segment * 0x9e3779b97f4a7c15ull ^ k.offset;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return static_cast<size_t>(h ^ (h >> 31));
}

std::shared_ptr<const std::string> RamCache::Get(uint64_t segment, uint32_t offset) const {
  std::shared_ptr<const std::string> record;
  lru_.Get(Key{segment, offset}, &record);
  return record;
}

void RamCache::Put(uint64_t segment, uint32_t offset, std::shared_ptr<const std::string> record) {
  const uint64_t charge = record->size() + kEntryOverhead;
  lru_.Put(Key{segment, offset}, std::move(record), charge);
}

}  // namespace edgecache::cache
