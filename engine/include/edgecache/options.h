// StoreOptions: everything Store::Open needs, with defaults and validation.
//
// Thread safety: a plain value, read once by Store::Open.
#pragma once

#include <cstdint>
#include <memory>

#include "edgecache/io_backend.h"
#include "edgecache/status.h"

namespace edgecache {

// What a successful commit promises.
enum class SyncPolicy {
  // Bodies and index entries reach the OS page cache before a commit is acknowledged.
  // Survives a killed process (kill -9), not a power loss. The default, as for every CDN
  // cache: a lost object is only a miss.
  kNone,
  // The body is fdatasync'ed before its index entry is written, and the index write is
  // synced: an acknowledged object survives a power loss. Costs one sync per commit.
  kCommit,
};

// Which objects an insert writes to the segments.
enum class Admission {
  // Every committed object.
  kAll,
  // A new object is first held in RAM, in a FIFO of probation_bytes, and served from there.
  // When the FIFO pushes it out it is written to the segments if it was requested again
  // while held, and forgotten otherwise; a forgotten key is remembered for a while (a ghost
  // list), and a new insert of it is written at once. Objects requested once are never
  // written (after S3-FIFO, SOSP'23). Also written at once: every object while the
  // segments have not yet filled the capacity, bodies larger than
  // min(chunk_bytes, probation_bytes / 8) and responses with Vary names. What is held in
  // probation is lost when the store closes or the process dies (a miss, nothing else).
  kProbation,
};

struct StoreOptions {
  // Bytes of disk the body segments may use, in total. When a new segment would exceed
  // it, the oldest segment is reclaimed whole (FIFO). Must hold at least 4 segments.
  uint64_t capacity_bytes = 1ull << 30;

  // Size of one segment file. At most 4 GiB (record offsets are 32-bit), at least 1 MiB.
  uint64_t segment_bytes = 64ull << 20;

  // Bodies are written and checksummed in chunks of at most this many bytes; a read of
  // any byte range verifies the whole chunks that cover it. At most segment_bytes / 4.
  uint32_t chunk_bytes = 256u << 10;

  // RAM cache for hot body chunks (sharded LRU). 0 disables it.
  uint64_t ram_cache_bytes = 64ull << 20;

  // RocksDB block cache for the index, which also holds its index and bloom filter
  // blocks: the index's memory does not grow with the number of objects.
  uint64_t index_cache_bytes = 32ull << 20;

  // Decoded index entries (and Vary names) of recently looked-up objects, in front of the
  // index: a hit on a hot object reads nothing from RocksDB. 0 disables it.
  uint64_t entry_cache_bytes = 32ull << 20;

  // A Bloom filter in RAM of the URLs the index holds: looking up a URL that was never
  // stored (every miss of new content) then reads neither the entry cache nor the index.
  // Filled at open by a background scan of the index; it stops answering (a warning says
  // so) once more URLs than it was sized for (one per 2 bytes of filter) were added, until the
  // next open. kAutoSize: 2 bytes per 4 KiB of capacity, between 16 MiB and 1 GiB (pages
  // are mapped as they are first used). 0: no filter. At most 4 GiB.
  static constexpr uint64_t kAutoSize = ~uint64_t{0};
  uint64_t presence_filter_bytes = kAutoSize;

  SyncPolicy sync = SyncPolicy::kNone;

  Admission admission = Admission::kAll;
  // RAM for objects on probation (Admission::kProbation only); at least 1 MiB.
  uint64_t probation_bytes = 64ull << 20;

  // Before the oldest segment is reclaimed, copy the objects in it that were hit since they
  // were stored (or last copied) into the active segment, so FIFO eviction keeps hot
  // objects as LRU would. Copies take at most half a segment per reclaim.
  bool reinsert_hot_objects = true;

  // Which I/O backend to use. kAuto tries io_uring and falls back to pread/pwrite.
  IoBackendKind io_backend = IoBackendKind::kAuto;

  // Threads of the pread/pwrite backend (unused by io_uring).
  int io_threads = 4;

  // Threads for blocking engine work: index writes at commit, syncs, background purge
  // and segment-reclaim cleanup.
  int worker_threads = 2;

  // Group commit of small inserts (one segment write and one index write for a batch):
  // while inserts keep coming, a batch waits until this many microseconds after the
  // previous batch's write began, so that it collects more of them. An insert after a quiet
  // spell is written at once. 0: a batch is whatever queued while the previous one was
  // being written (a serial writer is never held back).
  uint32_t commit_window_us = 0;

  // Create the store directory when it does not exist. When false, a missing store is
  // NotFound.
  bool create_if_missing = true;

  // Opens an existing store for reading only (admin tools on a stopped node's store):
  // nothing on disk changes (no recovery work, no new segment, no counters rewritten),
  // every write and purge is NotSupported, and a body that fails verification is reported
  // but its entry is not dropped. Takes a shared lock on the store: Busy while a node has
  // it open, and a node cannot open it while a read-only user has it.
  bool read_only = false;

  // When set, used instead of creating a backend from io_backend (for example a
  // fault-injecting wrapper in tests).
  std::shared_ptr<IoBackend> io;

  // OK, or InvalidArgument naming the option and the reason.
  Status Validate() const;
};

}  // namespace edgecache
