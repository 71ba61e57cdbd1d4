// RamCache: hot body chunks in memory, bounded in bytes: a ShardedLru of verified chunk
// records keyed by (segment id, record offset). Segment ids are never reused, so a key
// never names two different records and nothing needs invalidating.
//
// Records of kArenaRecordBytes or more are held in a RecordArena (cache/record_arena.h)
// when it has room, so their bytes can be sent with sendfile; smaller ones in strings.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cache/record_arena.h"
#include "cache/sharded_lru.h"

namespace edgecache::cache {

// A chunk record in memory. Empty (no owner) when absent.
struct HeldRecord {
  std::shared_ptr<const void> owner;  // keeps `bytes` (and an arena region) alive
  std::string_view bytes;
  int fd = -1;  // >= 0: `bytes` are also this file's at `file_offset` (an arena record)
  uint64_t file_offset = 0;
  explicit operator bool() const { return owner != nullptr; }
};

class RamCache {
 public:
  // The smallest record held in the arena: below it the pages' rounding costs more than
  // the copy a send saves.
  static constexpr size_t kArenaRecordBytes = 64 * 1024;

  // capacity_bytes == 0 disables the cache (every Get misses, Put does nothing).
  explicit RamCache(uint64_t capacity_bytes);

  HeldRecord Get(uint64_t segment, uint32_t offset) const;
  // Keeps the record (replacing one with the same key), evicting the least recently used.
  void Put(uint64_t segment, uint32_t offset, HeldRecord record);
  uint64_t usage() const { return lru_.usage(); }

  // Zero-filled memory for a record of `size` bytes about to be read: in the arena when
  // the record is large enough and the arena has room, else a string. *writable points at
  // its bytes, which may be written until the record is shared.
  HeldRecord NewRecord(size_t size, char** writable);

  // Zero-filled memory for a record in a string of its own (what NewRecord gives when the
  // arena does not), for a read that does not fill the cache.
  static HeldRecord NewStringRecord(size_t size, char** writable);

  // A record already in a string of its own.
  static HeldRecord InString(std::shared_ptr<const std::string> record);

 private:
  struct Key {
    uint64_t segment;
    uint32_t offset;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };

  ShardedLru<Key, HeldRecord, KeyHash> lru_;
  std::unique_ptr<RecordArena> arena_;  // null when disabled or not available
};

}  // namespace edgecache::cache
