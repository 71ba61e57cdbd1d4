// ShardedLru: a map bounded in bytes that evicts the least recently used entries, split
// into 64 shards with a mutex each so lookups from many threads seldom contend. Each shard
// keeps to 1/64 of the capacity; an entry charged more than that is not kept.
//
// For caches in front of a source of truth that changes (index entries), each shard counts
// the Erase calls on it: a reader takes Version() before reading the source, and PutIf
// keeps what it read only if no Erase hit the shard since, so a value that raced a write
// is never cached.
//
// Thread safety: all methods are thread-safe. Values are copied out under the shard's
// lock, so they should be cheap to copy (a shared_ptr).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace edgecache::cache {

// Hash and Equal may be transparent (is_transparent): then Get, Version and Erase take any
// type they accept (a std::string_view for std::string keys) without building a Key.
template <typename Key, typename Value, typename Hash = std::hash<Key>,
          typename Equal = std::equal_to<Key>>
class ShardedLru {
 public:
  // capacity_bytes == 0: nothing is kept.
  explicit ShardedLru(uint64_t capacity_bytes)
      : shard_capacity_(capacity_bytes / kShards),
        shards_(capacity_bytes > 0 ? new Shard[kShards] : nullptr) {}

  bool enabled() const { return shards_ != nullptr; }

  template <typename K>
  bool Get(const K& key, Value* out) const {
    if (!shards_) return false;
    Shard& shard = ShardOf(key);
    std::lock_guard lock(shard.mu);
    auto it = shard.map.find(key);
    if (it == shard.map.end()) return false;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    *out = it->second->value;
    return true;
  }

  // Keeps `value` (replacing the key's value), evicting the least recently used.
  void Put(const Key& key, Value value, uint64_t charge) {
    PutIf(key, std::move(value), charge, 0, false);
  }

  // The count of Erase calls on key's shard, for PutIf.
  template <typename K>
  uint64_t Version(const K& key) const {
    if (!shards_) return 0;
    Shard& shard = ShardOf(key);
    std::lock_guard lock(shard.mu);
    return shard.erases;
  }
  // Put, unless an Erase hit key's shard since Version() returned `version`.
  void PutIf(const Key& key, Value value, uint64_t charge, uint64_t version) {
    PutIf(key, std::move(value), charge, version, true);
  }

  template <typename K>
  void Erase(const K& key) {
    if (!shards_) return;
    Shard& shard = ShardOf(key);
    std::list<Entry> erased;  // freed after unlocking
    std::lock_guard lock(shard.mu);
    ++shard.erases;
    auto it = shard.map.find(key);
    if (it == shard.map.end()) return;
    shard.usage -= it->second->charge;
    erased.splice(erased.begin(), shard.lru, it->second);
    shard.map.erase(it);
  }

  uint64_t usage() const {
    if (!shards_) return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < kShards; ++i) {
      std::lock_guard lock(shards_[i].mu);
      total += shards_[i].usage;
    }
    return total;
  }

 private:
  struct Entry {
    Key key;
    Value value;
    uint64_t charge;
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // GUARDED_BY(mu): most recently used first
    std::unordered_map<Key, typename std::list<Entry>::iterator, Hash, Equal>
        map;              // GUARDED_BY(mu)
    uint64_t usage = 0;   // GUARDED_BY(mu)
    uint64_t erases = 0;  // GUARDED_BY(mu)
  };
  static constexpr size_t kShards = 64;

  template <typename K>
  Shard& ShardOf(const K& key) const {
    return shards_[Hash()(key) % kShards];
  }

  void PutIf(const Key& key, Value value, uint64_t charge, uint64_t version, bool check) {
    if (!shards_ || charge > shard_capacity_) return;
    Shard& shard = ShardOf(key);
    [[maybe_unused]] Value replaced;  // freed after unlocking
    std::list<Entry> evicted;         // likewise
    std::lock_guard lock(shard.mu);
    if (check && shard.erases != version) return;
    if (auto it = shard.map.find(key); it != shard.map.end()) {
      shard.usage -= it->second->charge;
      replaced = std::move(it->second->value);
      it->second->value = std::move(value);
      it->second->charge = charge;
      shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    } else {
      shard.lru.push_front(Entry{key, std::move(value), charge});
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

  const uint64_t shard_capacity_;
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace edgecache::cache
