// RamCache: hot body chunks in memory, bounded in bytes.
//
// A sharded LRU: 64 shards, each with its own mutex, list and hash map, so lookups from
// many threads seldom contend on one lock. Entries are verified chunk records keyed by
// (segment id, record offset); segment ids are never reused, so a key never names two
// different records. Each shard keeps to 1/64 of the capacity; a record larger than that
// is not kept.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace edgecache::cache {

class RamCache {
 public:
  // capacity_bytes == 0 disables the cache (every Get misses, Put does nothing).
  explicit RamCache(uint64_t capacity_bytes);
  ~RamCache();

  std::shared_ptr<const std::string> Get(uint64_t segment, uint32_t offset) const;
  // Keeps the record (replacing one with the same key), evicting the least recently used.
  void Put(uint64_t segment, uint32_t offset, std::shared_ptr<const std::string> record);
  uint64_t usage() const;

 private:
  struct Key {
    uint64_t segment;
    uint32_t offset;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry {
    Key key;
    std::shared_ptr<const std::string> record;
    uint64_t charge;
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // GUARDED_BY(mu): most recently used first
    std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> map;  // GUARDED_BY(mu)
    uint64_t usage = 0;                                                // GUARDED_BY(mu)
  };
  static constexpr size_t kShards = 64;

  Shard& ShardOf(const Key& key) const { return shards_[KeyHash()(key) % kShards]; }

  const uint64_t shard_capacity_;
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace edgecache::cache
