#include "cache/ram_cache.h"

#include <rocksdb/cache.h>

#include "format/coding.h"

namespace edgecache::cache {
namespace {

using Value = std::shared_ptr<const std::string>;

std::string Key(uint64_t segment, uint32_t offset) {
  std::string key;
  format::PutFixed64(&key, segment);
  format::PutFixed32(&key, offset);
  return key;
}

void DeleteValue(const rocksdb::Slice&, void* value) { delete static_cast<Value*>(value); }

}  // namespace

RamCache::RamCache(uint64_t capacity_bytes) {
  if (capacity_bytes > 0) {
    cache_ = rocksdb::NewLRUCache(capacity_bytes, /*num_shard_bits=*/6,
                                  /*strict_capacity_limit=*/false);
  }
}

RamCache::~RamCache() = default;

std::shared_ptr<const std::string> RamCache::Get(uint64_t segment, uint32_t offset) const {
  if (!cache_) return nullptr;
  rocksdb::Cache::Handle* h = cache_->Lookup(Key(segment, offset));
  if (h == nullptr) return nullptr;
  Value v = *static_cast<Value*>(cache_->Value(h));
  cache_->Release(h);
  return v;
}

void RamCache::Put(uint64_t segment, uint32_t offset, std::shared_ptr<const std::string> record) {
  if (!cache_) return;
  size_t charge = record->size() + 64;
  auto* value = new Value(std::move(record));
  rocksdb::Status s = cache_->Insert(Key(segment, offset), value, charge, &DeleteValue);
  // Without strict_capacity_limit an insert only fails by deleting the value itself.
  (void)s;
}

uint64_t RamCache::usage() const { return cache_ ? cache_->GetUsage() : 0; }

}  // namespace edgecache::cache
