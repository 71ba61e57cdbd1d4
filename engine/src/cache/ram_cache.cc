#include "cache/ram_cache.h"

namespace edgecache::cache {
namespace {

// Bytes an entry costs besides its record: its node, two slots, the control block.
constexpr uint64_t kEntryOverhead = 64;

}  // namespace

RamCache::RamCache(uint64_t capacity_bytes)
    : lru_(capacity_bytes), arena_(RecordArena::Create(capacity_bytes)) {}

size_t RamCache::KeyHash::operator()(const Key& k) const {
  // splitmix64's finaliser over both halves: neighbouring offsets land in different shards.
  uint64_t h = k.segment * 0x9e3779b97f4a7c15ull ^ k.offset;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return static_cast<size_t>(h ^ (h >> 31));
}

HeldRecord RamCache::Get(uint64_t segment, uint32_t offset) const {
  HeldRecord record;
  lru_.Get(Key{segment, offset}, &record);
  return record;
}

void RamCache::Put(uint64_t segment, uint32_t offset, HeldRecord record) {
  const uint64_t size =
      record.fd >= 0 ? RecordArena::RegionBytes(record.bytes.size()) : record.bytes.size();
  lru_.Put(Key{segment, offset}, std::move(record), size + kEntryOverhead);
}

HeldRecord RamCache::NewRecord(size_t size, char** writable) {
  if (arena_ != nullptr && size >= kArenaRecordBytes) {
    if (std::shared_ptr<const ArenaRegion> region = arena_->Allocate(size)) {
      *writable = region->data;
      HeldRecord held{nullptr, std::string_view(region->data, size), region->fd,
                      region->file_offset};
      held.owner = std::move(region);
      return held;
    }
  }
  return NewStringRecord(size, writable);
}

HeldRecord RamCache::NewStringRecord(size_t size, char** writable) {
  auto record = std::make_shared<std::string>(size, '\0');
  *writable = record->data();
  return InString(std::move(record));
}

HeldRecord RamCache::InString(std::shared_ptr<const std::string> record) {
  const std::string_view bytes = *record;
  return HeldRecord{std::move(record), bytes};
}

}  // namespace edgecache::cache
