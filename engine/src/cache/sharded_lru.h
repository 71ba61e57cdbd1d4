// ShardedLru: a map bounded in bytes that evicts the least recently used entries, split
// into 64 shards with a mutex each so lookups from many threads seldom contend. Each shard
// keeps to 1/64 of the capacity; an entry charged more than that is not kept.
//
// For caches in front of a source of truth that changes (index entries), each shard counts
// the Erase calls on it: a reader takes Version() before reading the source, and PutIf
// keeps what it read only if no Erase hit the shard since, so a value that raced a write
// is never cached.
//
// Built for lookups whose memory is cold (a hit's bodies stream through the CPU caches
// between two lookups of the same key): a shard finds a key through an open-addressed array
// of (hash, node) slots, so a lookup touches one slot and the node holding key, value and
// list links, and compares keys only when the whole hash matches. A Get moves its entry to
// the front of the recency list only when more than half of the shard's entries were put
// or moved there since it last was: a hot entry is not relinked (which touched its two
// neighbours) on every hit, and an entry used at least that often never reaches the tail.
//
// Thread safety: all methods are thread-safe. Values are copied out under the shard's
// lock, so they should be cheap to copy (a shared_ptr).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

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
  ShardedLru(const ShardedLru&) = delete;
  ShardedLru& operator=(const ShardedLru&) = delete;

  bool enabled() const { return shards_ != nullptr; }

  template <typename K>
  bool Get(const K& key, Value* out) const {
    if (!shards_) return false;
    const size_t hash = Hash()(key);
    Shard& shard = ShardOf(hash);
    std::lock_guard lock(shard.mu);
    Node* node = shard.Find(hash, key);
    if (node == nullptr) return false;
    if (shard.tick - node->tick > shard.count / 2) shard.MoveToFront(node);
    *out = node->value;
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
    Shard& shard = ShardOf(Hash()(key));
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
    const size_t hash = Hash()(key);
    Shard& shard = ShardOf(hash);
    Graveyard erased;  // freed after unlocking
    std::lock_guard lock(shard.mu);
    ++shard.erases;
    if (Node* node = shard.Find(hash, key)) erased.Add(shard.Remove(node));
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
  struct Links {
    Links* prev;
    Links* next;
  };
  struct Node : Links {
    Node(const Key& k, Value v, uint64_t c, size_t h)
        : key(k), value(std::move(v)), charge(c), hash(h) {}
    Key key;
    Value value;
    uint64_t charge;
    size_t hash;
    uint64_t tick = 0;  // the shard's tick when it was last put or moved to the front
  };
  struct Slot {
    size_t hash;
    Node* node;  // null: empty
  };
  // Nodes taken out under a shard's lock, deleted when this goes out of scope (after the
  // lock, when declared before it): a value's destructor may be slow.
  struct Graveyard {
    Node* first = nullptr;
    void Add(Node* node) {
      node->next = first;
      first = node;
    }
    ~Graveyard() {
      while (first != nullptr) delete std::exchange(first, static_cast<Node*>(first->next));
    }
  };

  struct Shard {
    std::mutex mu;
    // All GUARDED_BY(mu). The recency list is circular through `lru`, in order of `tick`:
    // lru.next was put or moved to the front last, lru.prev longest ago (evicted first).
    // `slots` is a power of two long (or empty), at most half full, probed linearly from a
    // hash's home slot.
    Links lru{&lru, &lru};
    std::vector<Slot> slots;
    size_t count = 0;
    uint64_t usage = 0;
    uint64_t erases = 0;
    uint64_t tick = 0;

    ~Shard() {
      Graveyard all;
      for (Links* l = lru.next; l != &lru;) {
        Links* next = l->next;
        all.Add(static_cast<Node*>(l));
        l = next;
      }
    }

    size_t Home(size_t hash) const {
      // Fibonacci hashing: the shard took the hash's low bits, this spreads the rest.
      return static_cast<size_t>((static_cast<uint64_t>(hash) * 0x9e3779b97f4a7c15ull) >>
                                 (64 - Log2(slots.size())));
    }
    static unsigned Log2(size_t n) { return static_cast<unsigned>(__builtin_ctzll(n)); }

    template <typename K>
    Node* Find(size_t hash, const K& key) const {
      if (slots.empty()) return nullptr;
      const size_t mask = slots.size() - 1;
      for (size_t i = Home(hash);; i = (i + 1) & mask) {
        const Slot& s = slots[i];
        if (s.node == nullptr) return nullptr;
        if (s.hash == hash && Equal()(s.node->key, key)) return s.node;
      }
    }

    void Insert(Node* node) {
      if ((count + 1) * 2 > slots.size()) Grow();
      Place(Slot{node->hash, node});
      ++count;
      usage += node->charge;
      LinkFront(node);
    }

    void Grow() {
      std::vector<Slot> old =
          std::exchange(slots, std::vector<Slot>(std::max<size_t>(16, slots.size() * 2)));
      for (const Slot& s : old) {
        if (s.node != nullptr) Place(s);
      }
    }

    // Into the first empty slot from its home.
    void Place(const Slot& slot) {
      const size_t mask = slots.size() - 1;
      size_t i = Home(slot.hash);
      while (slots[i].node != nullptr) i = (i + 1) & mask;
      slots[i] = slot;
    }

    // Takes `node` out of the slots and the list; the caller deletes it.
    Node* Remove(Node* node) {
      const size_t mask = slots.size() - 1;
      size_t i = Home(node->hash);
      while (slots[i].node != node) i = (i + 1) & mask;
      // Backward-shift deletion: every later slot of the run whose home is not in (i, j]
      // moves into the hole, so no probe ever stops early at it.
      for (size_t j = (i + 1) & mask; slots[j].node != nullptr; j = (j + 1) & mask) {
        const size_t home = Home(slots[j].hash);
        if (((j - home) & mask) >= ((j - i) & mask)) {
          slots[i] = slots[j];
          i = j;
        }
      }
      slots[i] = Slot{0, nullptr};
      --count;
      usage -= node->charge;
      Unlink(node);
      return node;
    }

    static void Unlink(Links* node) {
      node->prev->next = node->next;
      node->next->prev = node->prev;
    }

    void LinkFront(Node* node) {
      node->prev = &lru;
      node->next = lru.next;
      lru.next->prev = node;
      lru.next = node;
      node->tick = ++tick;
    }
    void MoveToFront(Node* node) {
      Unlink(node);
      LinkFront(node);
    }
  };
  static constexpr size_t kShards = 64;

  Shard& ShardOf(size_t hash) const { return shards_[hash % kShards]; }

  void PutIf(const Key& key, Value value, uint64_t charge, uint64_t version, bool check) {
    if (!shards_ || charge > shard_capacity_) return;
    const size_t hash = Hash()(key);
    Shard& shard = ShardOf(hash);
    [[maybe_unused]] Value replaced;  // freed after unlocking
    Graveyard evicted;                // likewise
    std::lock_guard lock(shard.mu);
    if (check && shard.erases != version) return;
    if (Node* node = shard.Find(hash, key)) {
      shard.usage = shard.usage - node->charge + charge;
      replaced = std::exchange(node->value, std::move(value));
      node->charge = charge;
      shard.MoveToFront(node);
    } else {
      shard.Insert(new Node(key, std::move(value), charge, hash));
    }
    while (shard.usage > shard_capacity_) {
      evicted.Add(shard.Remove(static_cast<Node*>(shard.lru.prev)));
    }
  }

  const uint64_t shard_capacity_;
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace edgecache::cache
