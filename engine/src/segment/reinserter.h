// Reinserter: before the oldest segment is reclaimed, copies the objects in it that were
// hit since they were written (or last copied) into the active segment, so FIFO eviction
// keeps the hot set. At most half a segment is copied per segment; each copy is read and
// verified, written as new chunk records, and swapped into the entry only if the entry did
// not change meanwhile (otherwise the copy is garbage, reclaimed with its segment).
//
// Thread safety: Run is called from one thread at a time (the store's maintenance thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cache/hit_tracker.h"
#include "edgecache/io_backend.h"
#include "edgecache/object.h"
#include "edgecache/options.h"
#include "index/entry_table.h"
#include "segment/segment_manager.h"

namespace edgecache::segment {

class Reinserter {
 public:
  struct Parts {
    const StoreOptions& options;
    index::EntryTable& table;
    SegmentManager& segments;
    IoBackend& io;
    cache::HitTracker& hits;
    // Whether an entry may be served as it is (not evicted, purged or stale).
    std::function<bool(const ObjectInfo&)> servable;
    // A verified read of `length` body bytes from `offset`.
    std::function<Status(const ObjectInfo&, uint64_t offset, uint64_t length, std::string*)> read;
    const std::atomic<bool>& closing;  // stop early: the store is closing
  };
  explicit Reinserter(Parts parts) : p_(std::move(parts)) {}

  // Copies the hot objects of `segment`; returns how many were re-inserted.
  uint64_t Run(uint64_t segment);

 private:
  // Writes a verified copy of info's body as new chunk records; their extents in *out.
  Status CopyBody(const ObjectInfo& info, std::vector<BodyExtent>* out);
  // Points the entry at the copy if it is unchanged since `info` was read.
  Status Swap(std::string_view entry_key, const ObjectInfo& info,
              const std::vector<BodyExtent>& extents, bool* swapped);

  Parts p_;
};

}  // namespace edgecache::segment
