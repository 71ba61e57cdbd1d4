// RamCache: hot body chunks in memory, bounded in bytes: a ShardedLru of verified chunk
// records keyed by (segment id, record offset). Segment ids are never reused, so a key
// never names two different records and nothing needs invalidating.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cache/sharded_lru.h"

namespace edgecache::cache {

class RamCache {
 public:
  // capacity_bytes == 0 disables the cache (every Get misses, Put does nothing).
  explicit RamCache(uint64_t capacity_bytes) : lru_(capacity_bytes) {}

  std::shared_ptr<const std::string> Get(uint64_t segment, uint32_t offset) const;
  // Keeps the record (replacing one with the same key), evicting the least recently used.
  void Put(uint64_t segment, uint32_t offset, std::shared_ptr<const std::string> record);
  uint64_t usage() const { return lru_.usage(); }

 private:
  struct Key {
    uint64_t segment;
    uint32_t offset;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };

  ShardedLru<Key, std::shared_ptr<const std::string>, KeyHash> lru_;
};

}  // namespace edgecache::cache
