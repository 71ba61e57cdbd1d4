// SegmentManager: the body segment files of a store.
//
// Segments are fixed-size, preallocated, append-only files named by a never-reused id.
// Space is handed out by bumping the active segment's write offset; when it is full a new
// segment is created, and when the configured capacity would be exceeded the oldest
// segment is reclaimed whole (FIFO): the "oldest live segment" mark is persisted first,
// then the file is unlinked. An index entry that points below the mark is dead, so
// eviction takes effect at once; the entries themselves are dropped in the background
// (the store's job, via the segment-member keys: EntryTable::ScanSegmentMembers).
//
// Bookkeeping lives in the index: 'S' records in the segments column family and the
// min_live_segment meta key, written through the index::EntryTable this manager is given.
//
// Thread safety: all public methods are thread-safe. Get() takes no lock (an atomic
// snapshot of the segment table). Allocate() serialises on a short mutex; creating a new
// segment happens under it (once per segment_bytes of writes).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "edgecache/io_backend.h"
#include "edgecache/options.h"
#include "edgecache/status.h"
#include "index/entry_table.h"

namespace edgecache::segment {

// One open segment file. The fd stays open while anyone holds the shared_ptr, so a read
// that raced with a reclaim still completes (on the unlinked file).
struct Segment {
  Segment(uint64_t id, int fd) : id(id), fd(fd) {}
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const uint64_t id;
  const int fd;
};

struct Allocation {
  std::shared_ptr<Segment> segment;
  uint32_t offset = 0;
};

// Space the index (RocksDB: WAL preallocation, memtable flushes, compaction output) keeps
// on the store's file system: segments never grow into it.
inline constexpr uint64_t kIndexHeadroom = 64ull << 20;

class SegmentManager {
 public:
  using SegmentHook = std::function<void(uint64_t segment)>;
  struct Hooks {
    // After a segment was reclaimed, so the store can drop the entries that pointed into it.
    SegmentHook reclaimed;
    // After a roll that leaves the store at its budget, with the id of the segment the
    // next roll will reclaim: the chance to copy hot objects out of it.
    SegmentHook next_to_reclaim;
  };

  // Hooks run outside the allocation mutex, on the allocating thread.
  SegmentManager(const StoreOptions& options, std::string dir, IoBackend& io,
                 index::EntryTable& table, Hooks hooks);
  ~SegmentManager();

  // Loads the segment table from the index and the directory and deletes files that are
  // not (or no longer) part of the store (except under options.read_only, which changes
  // nothing and opens the files read-only). The first Allocate starts a fresh active
  // segment. Returns, in
  // *dead, ids that still have 'S' records but are below the live mark (their cleanup was
  // interrupted).
  Status Open(std::vector<uint64_t>* dead);

  // Reserves `bytes` (a whole chunk record) in the active segment. When the file system
  // is full before the store reaches its capacity, the oldest segments are reclaimed to
  // make room and the store keeps to the segments that fit from then on (logged once).
  // NoSpace only when not even one new segment fits.
  Status Allocate(uint32_t bytes, Allocation* out);

  // Segments the store keeps at most: capacity / segment_bytes, or fewer when the file
  // system holds less (found at Open or at a failed roll).
  size_t max_segments() const { return max_segments_.load(std::memory_order_relaxed); }

  // The open segment with this id, or null when it was reclaimed or never existed.
  std::shared_ptr<Segment> Get(uint64_t id) const;

  // Entries pointing at segments below this id are dead.
  uint64_t min_live() const { return min_live_.load(std::memory_order_acquire); }

  size_t count() const;
  // Bytes the live segment files take on disk (their sizes, whatever the options say).
  uint64_t FileBytes() const;
  uint64_t reclaimed() const { return reclaimed_.load(std::memory_order_relaxed); }
  // Bytes handed out by Allocate since Open: every body record written to a segment.
  uint64_t allocated_bytes() const { return allocated_bytes_.load(std::memory_order_relaxed); }

  // Name of a segment file, and its inverse (false for any other name).
  static std::string FileName(uint64_t id);
  static bool ParseFileName(const char* name, uint64_t* id);

 private:
  struct Table {
    std::vector<std::shared_ptr<Segment>> segments;  // ascending ids
  };

  Status CreateSegment(uint64_t id, std::shared_ptr<Segment>* out);  // REQUIRES: mu_ held
  // Caps max_segments_ to what the file system can hold besides the segments it has.
  Status FitToFileSystem();
  // Free bytes of the file system for unprivileged use (UINT64_MAX when unknown).
  uint64_t FreeBytes() const;
  Status ReclaimOldest(uint64_t* reclaimed_id);                  // REQUIRES: mu_ held
  void Publish(std::vector<std::shared_ptr<Segment>> segments);  // REQUIRES: mu_ held

  const StoreOptions& options_;
  const std::string dir_;  // .../segments
  IoBackend& io_;
  index::EntryTable& index_;
  const Hooks hooks_;
  std::atomic<size_t> max_segments_;

  std::atomic<std::shared_ptr<const Table>> table_;
  std::atomic<uint64_t> min_live_{1};
  std::atomic<uint64_t> reclaimed_{0};
  std::atomic<uint64_t> allocated_bytes_{0};

  std::mutex mu_;
  std::shared_ptr<Segment> active_;  // GUARDED_BY(mu_)
  uint64_t write_offset_ = 0;        // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;             // GUARDED_BY(mu_)
};

}  // namespace edgecache::segment
