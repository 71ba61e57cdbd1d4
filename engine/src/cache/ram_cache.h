// RamCache: hot body chunks in memory, bounded in bytes.
//
// Built on RocksDB's sharded LRU cache, so lookups from many threads do not contend on one
// lock. Entries are verified chunk records keyed by (segment id, record offset); segment
// ids are never reused, so a key never names two different records.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace rocksdb {
class Cache;
}

namespace edgecache::cache {

class RamCache {
 public:
  // capacity_bytes == 0 disables the cache (every Get misses, Put does nothing).
  explicit RamCache(uint64_t capacity_bytes);
  ~RamCache();

  std::shared_ptr<const std::string> Get(uint64_t segment, uint32_t offset) const;
  void Put(uint64_t segment, uint32_t offset, std::shared_ptr<const std::string> record);
  uint64_t usage() const;

 private:
  std::shared_ptr<rocksdb::Cache> cache_;
};

}  // namespace edgecache::cache
