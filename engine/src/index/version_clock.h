// VersionClock: the store's version numbers. Every insert, metadata update and purge takes
// the next one, so comparing versions orders an entry against a purge. Numbers are never
// reused across restarts: the clock persists an upper bound in the index a block of
// 2^20 at a time, and a reopened store starts from it.
//
// It also knows which inserts are in flight (begun, not yet committed or abandoned): a
// purge must keep applying to bodies older than itself until the oldest of them ends.
//
// Thread safety: all methods are thread-safe. Next() takes a mutex only when a new block
// is persisted.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>

#include "edgecache/status.h"
#include "index/entry_table.h"

namespace edgecache::index {

class VersionClock {
 public:
  explicit VersionClock(EntryTable& table) : table_(table) {}

  // Continues from the reservation the index records (none in a new store).
  Status Load();

  uint64_t Next();

  // Takes an insert's version and registers the insert as in flight until EndInsert.
  uint64_t BeginInsert();
  void EndInsert(uint64_t version);
  // The version of the oldest insert in flight; UINT64_MAX when there is none.
  uint64_t OldestInsert() const;

 private:
  EntryTable& table_;
  std::atomic<uint64_t> next_{1};
  std::mutex reserve_mu_;
  std::atomic<uint64_t> reserved_{0};  // persisted upper bound; written under reserve_mu_

  mutable std::mutex inflight_mu_;
  std::multiset<uint64_t> inflight_;  // GUARDED_BY(inflight_mu_)
};

}  // namespace edgecache::index
