// Probation: the RAM queue of Admission::kProbation (edgecache/options.h), after S3-FIFO
// (Yang et al., SOSP'23). A new object's whole body, as the sealed chunk record it would be
// written as, is held here in a FIFO bounded in bytes, and lookups and reads are served
// from it. When the FIFO pushes an object out, one that was requested again while held is
// promoted (the caller writes it to the segments); one that was not is dropped and its key
// goes into a ghost list (cache/ghost_list.h), which the store consults before holding a
// new insert.
//
// A held object keeps its insert in flight (index::VersionClock): purges treat it as an
// insert not yet committed, so its promotion is admitted by the same checks as a commit.
//
// Thread safety: all methods are thread-safe (one mutex). Find of a key that is not held
// takes no lock: a counter per hash slot of the held keys (a counting filter) answers it
// first, so a hit on a written object costs a hash and a load. Items handed back (to
// promote, or dropped) are the caller's to run or destroy, outside any engine lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/ghost_list.h"
#include "edgecache/object.h"
#include "edgecache/status.h"
#include "edgecache/store.h"

namespace edgecache::cache {

// The segment id of a held object's one extent (no segment has it): reads of it are served
// from the probation queue.
inline constexpr uint64_t kProbationSegment = UINT64_MAX;

class Probation {
 public:
  struct Item {
    ObjectInfo info;                            // its one extent is in kProbationSegment
    std::shared_ptr<const std::string> record;  // the sealed chunk record of the whole body
    // Writes the body to the segments and publishes it with the item's current `info`,
    // then runs `done` (on an engine thread). Owns the insert: destroying it without a
    // call abandons the insert.
    std::function<void(ObjectInfo info, DoneCallback done)> promote;
  };

  // `main_objects`: how many objects the segments hold, the size of the ghost list.
  Probation(uint64_t capacity_bytes, std::function<uint64_t()> main_objects);

  // The largest body held; larger ones are written at once.
  uint64_t max_body_bytes() const { return max_body_bytes_; }

  bool InGhost(std::string_view entry_key) const;

  // Holds `item` (replacing the key's item). The items this pushes out go to *promote
  // (requested again while held) or *dropped (their keys now in the ghost list).
  void Add(const std::string& entry_key, Item item, std::vector<Item>* promote,
           std::vector<Item>* dropped);

  // The held entry of `entry_key`, counted as requested again.
  bool Find(const std::string& entry_key, ObjectInfo* info);
  // The record of the held body of version `body_version`; null when not held.
  std::shared_ptr<const std::string> Record(const std::string& entry_key,
                                            uint64_t body_version) const;

  // UpdateMeta of a held entry: true when the key is held (then *result is set: OK, or
  // Aborted when its version is not `expected_version`).
  bool UpdateMeta(const std::string& entry_key, uint64_t expected_version, const ObjectMeta& meta,
                  uint64_t new_version, Status* result);

  // Removes the key's item if its version is below `below_version` (into *dropped).
  void Erase(const std::string& entry_key, uint64_t below_version, std::vector<Item>* dropped);
  // Marks the key's item stale (a soft purge); true when one is held.
  bool Invalidate(const std::string& entry_key);

  uint64_t objects() const;
  uint64_t bytes() const;
  uint64_t promoted() const;      // items pushed out to be promoted
  uint64_t not_admitted() const;  // items pushed out unrequested (into the ghost list)

 private:
  struct Held {
    Item item;
    uint64_t cost = 0;       // bytes counted against the capacity
    bool requested = false;  // looked up again while held
    std::list<std::string>::iterator in_fifo;
  };
  static uint64_t Cost(const std::string& entry_key, const Item& item);
  std::atomic<uint32_t>& Slot(std::string_view entry_key) const;
  // Removes `it`. REQUIRES: mu_ held.
  Item Remove(std::unordered_map<std::string, Held>::iterator it);

  const uint64_t capacity_bytes_;
  const uint64_t max_body_bytes_;
  const std::function<uint64_t()> main_objects_;
  // Held keys per hash slot (changed under mu_, read without it); a power of two.
  const size_t slots_;
  std::unique_ptr<std::atomic<uint32_t>[]> held_per_slot_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Held> held_;  // GUARDED_BY(mu_)
  std::list<std::string> fifo_;                 // GUARDED_BY(mu_): oldest first
  uint64_t bytes_ = 0;                          // GUARDED_BY(mu_)
  uint64_t promoted_ = 0, not_admitted_ = 0;    // GUARDED_BY(mu_)
  GhostList ghost_;                             // GUARDED_BY(mu_)
};

}  // namespace edgecache::cache
