// Store: the edgecache storage engine.
//
// A store is a directory holding a RocksDB index (metadata, Vary map, tag index, segment
// bookkeeping) and append-only body segment files written through an IoBackend. See
// docs/architecture.md and docs/storage-format.md.
//
//   std::unique_ptr<Store> store;
//   Status s = Store::Open(options, "/var/cache/edgecache", &store);
//   std::unique_ptr<InsertHandle> insert;
//   s = store->BeginInsert(key, meta, &insert);
//   s = insert->Append(body);              // any number of times, any sizes
//   s = insert->Commit();                   // now visible to Lookup
//   ObjectInfo info;
//   s = store->Lookup(key, &info);
//   store->AsyncRead(info, 0, SIZE_MAX, [](Status s, BodySlice slice) { ... });
//
// Errors are Status values; nothing throws across this API.
//
// Thread safety: Store is safe for concurrent use from any number of threads; lookups and
// reads take no store-wide lock. An InsertHandle belongs to one caller at a time. Callbacks
// run on engine threads (or inline, where a call says so): they must be quick and must not
// call blocking Store methods; post to your own executor (edgecache/asio.h does this for
// Asio handlers).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/object.h"
#include "edgecache/options.h"
#include "edgecache/status.h"

namespace edgecache {

using DoneCallback = std::function<void(Status)>;
using ReadCallback = std::function<void(Status, BodySlice)>;

// Streams one object's body into the store. Bytes are buffered up to one chunk and written
// as they fill, so memory per insert stays at about two chunks whatever the body size.
// Nothing is visible to readers before Commit succeeds. Destroying a handle that was not
// committed aborts the insert (its partly written space is reclaimed with its segment).
class InsertHandle {
 public:
  virtual ~InsertHandle() = default;

  // Adds body bytes. `done` runs once `data` has been copied and the caller may reuse it;
  // it may run inline. REQUIRES: the previous AsyncAppend's done has run; not committed.
  virtual void AsyncAppend(std::string_view data, DoneCallback done) = 0;

  // Adds as much of `data` as the insert takes without waiting for a write (all of it
  // unless both chunk buffers are busy) and sets `*taken` to that many bytes; the rest
  // goes through AsyncAppend. Never blocks and runs no callback, so a caller on an event
  // loop saves AsyncAppend's round trip through it. Errors (and `*taken` = 0) as
  // AsyncAppend's. REQUIRES: as AsyncAppend's.
  virtual Status AppendSome(std::string_view data, size_t* taken) = 0;

  // Writes what is buffered, waits for every write (and a sync under SyncPolicy::kCommit),
  // then publishes the index entry. Errors: NoSpace (disk full), IOError, Aborted (the
  // object was purged or its segment reclaimed while it was being written; nothing was
  // published). REQUIRES: no append outstanding; called at most once.
  virtual void AsyncCommit(DoneCallback done) = 0;

  // Blocking forms, for threads that may block (tools, tests, start-up).
  Status Append(std::string_view data);
  Status Commit();

  // Bytes appended so far.
  virtual uint64_t size() const = 0;
  // XXH3-64 of the bytes appended so far: once the body is complete, the body_hash the
  // committed entry will have (so a caller can tell a body it already stores).
  virtual uint64_t body_hash() const = 0;
};

struct VerifyOptions {
  bool repair = false;
  // Called every few thousand entries with the number checked so far (may be empty).
  std::function<void(uint64_t checked)> progress;
  size_t max_problems = 100;  // descriptions kept in VerifyReport::problems
  // When set (and it becomes true), Verify stops early with Aborted.
  const std::atomic<bool>* cancel = nullptr;
};

struct VerifyReport {
  uint64_t entries = 0;                 // index entries examined
  uint64_t verified_bytes = 0;          // body bytes read from disk and checksum-verified
  uint64_t corrupt = 0;                 // entries whose body failed verification or a read
  uint64_t dangling = 0;                // entries pointing into a reclaimed or missing segment
  uint64_t undecodable = 0;             // entries whose index value does not decode
  uint64_t orphaned_tag_keys = 0;       // tag index keys whose entry is gone or lacks the tag
  uint64_t orphaned_segment_files = 0;  // segment files the index does not know
  uint64_t segment_bytes = 0;           // bytes of the live segment files
  uint64_t referenced_bytes = 0;        // of those, bytes holding chunks of live entries
  uint64_t repaired = 0;                // entries and keys removed by repair
  std::vector<std::string> problems;    // "primary key: what is wrong", at most max_problems
  bool ok() const { return corrupt + dangling + undecodable + orphaned_tag_keys == 0; }
};

struct ListOptions {
  std::string prefix;       // primary keys starting with this ("" for all)
  std::string tag;          // only objects carrying this tag ("" for any)
  std::string start_after;  // resume after this primary key (paging)
  size_t limit = 1000;
};

// A purge taken from a replicated purge log (a point of presence's, whose nodes all apply
// the same log): what to purge, by primary key, tag or key prefix.
struct LoggedPurge {
  enum class Kind { kUrls, kTags, kPrefixes };
  Kind kind = Kind::kUrls;
  std::vector<std::string> values;  // primary keys, tags or key prefixes; may be empty
  PurgeMode mode = PurgeMode::kHard;
};

class Store {
 public:
  // Opens (or creates, per options.create_if_missing) the store in `dir`. Refuses, with a
  // status naming the reason: invalid options (InvalidArgument), a store of another format
  // version (Incompatible), a store held by another process (Busy). Opening never scans
  // segments: after a crash, bad bodies are found when read. Never deletes data that is
  // not the store's own garbage.
  static Status Open(const StoreOptions& options, const std::string& dir,
                     std::unique_ptr<Store>* out);

  // Closes cleanly: waits for background work and in-flight I/O, records counters.
  // REQUIRES: no InsertHandle outlives the store; no call is in progress.
  virtual ~Store() = default;

  // Starts an insert of `key`. The new object replaces any stored one at Commit.
  // InvalidArgument for a malformed key. Key and metadata are taken by value: a caller
  // done with its own moves them in, and nothing is copied.
  virtual Status BeginInsert(ObjectKey key, ObjectMeta meta,
                             std::unique_ptr<InsertHandle>* out) = 0;

  // Metadata of a stored object, without touching its body. NotFound when absent, evicted,
  // hard-purged, or dropped as corrupt. A soft-purged object is returned with
  // info->invalidated set. Counts a hit or a miss. May block on an index block read.
  virtual Status Lookup(const ObjectKey& key, ObjectInfo* info) = 0;

  // Lookup of the variant a request would get: the secondary key is computed from the Vary
  // header names stored for `primary` and the request's headers. On NotFound, (*info)->key
  // is the key looked up (its secondary is empty when `primary` has no Vary names); on
  // other errors *info is null. The object is shared with the store's entry cache, not
  // copied: the request path's lookup of a hot object allocates nothing.
  virtual Status LookupVariant(std::string_view primary, const HeaderGetter& request_header,
                               std::shared_ptr<const ObjectInfo>* info) = 0;

  // Every stored variant of `primary` (soft-purge state applied), without counting hits.
  virtual Status Variants(std::string_view primary, std::vector<ObjectInfo>* out) = 0;

  // Reads body bytes of `info` from `offset`: `done` receives a verified slice of at most
  // `max_len` bytes that ends at or before the end of the chunk holding `offset`, so a
  // caller streams a body with consecutive calls. Every chunk is checksum-verified before
  // any of its bytes are returned; a chunk that fails (or an I/O error) gives Corruption /
  // IOError and the entry is dropped from the index, so it is a miss from then on.
  // `done` runs inline on a RAM-cache hit, otherwise on an I/O thread.
  // REQUIRES: offset < info.body_length (an empty body has nothing to read).
  virtual void AsyncRead(const ObjectInfo& info, uint64_t offset, size_t max_len,
                         ReadCallback done) = 0;

  // The slice AsyncRead would deliver, when its chunk is in the RAM cache: true and *out
  // set, without any I/O or thread hand-off; false (and nothing done) otherwise. Lets a
  // caller send a cached body in the same write as its headers.
  virtual bool ReadCached(const ObjectInfo& info, uint64_t offset, size_t max_len,
                          BodySlice* out) = 0;

  // Blocking: the whole body (or `length` bytes from `offset`) into *out.
  Status Read(const ObjectInfo& info, std::string* out, uint64_t offset = 0,
              uint64_t length = UINT64_MAX);

  // Replaces the metadata of a stored object without rewriting its body (a 304
  // revalidation). `expected_version` is the version the caller looked up: Aborted when the
  // entry changed since (replaced or purged meanwhile), NotFound when it is gone. The
  // stored tags and Vary names are replaced by meta's.
  virtual Status UpdateMeta(const ObjectKey& key, uint64_t expected_version,
                            const ObjectMeta& meta) = 0;

  // Removes one variant. NotFound when absent.
  virtual Status Remove(const ObjectKey& key) = 0;

  // Every variant of one URL, hard or soft. Durable when it returns. `affected` (may be
  // null) receives the number of variants removed or marked stale.
  virtual Status PurgeUrl(std::string_view primary, PurgeMode mode, uint64_t* affected) = 0;

  // PurgeUrl of every primary key in the list, with one sync for all of them: durable when
  // it returns, and much faster than a call per URL for long lists. InvalidArgument (and
  // nothing purged) when any key is malformed. `affected` (may be null) receives one count
  // per key.
  virtual Status PurgeUrls(const std::vector<std::string>& primaries, PurgeMode mode,
                           std::vector<uint64_t>* affected) = 0;

  // Every object carrying `tag`, or whose primary key starts with `prefix`. Takes effect
  // for every later Lookup before it returns, whatever the number of objects (a purge rule
  // checked at lookup), and is durable when it returns. The index entries are removed (or
  // marked stale) in the background. `affected` (may be null, which skips the work)
  // receives the number of index entries the purge covers, counted by a scan of the tag
  // index (keys only) or of the prefix's entries after the purge is in effect; entries of
  // segments reclaimed but not yet cleaned up may be among them.
  virtual Status PurgeTag(std::string_view tag, PurgeMode mode, uint64_t* affected) = 0;
  virtual Status PurgePrefix(std::string_view prefix, PurgeMode mode, uint64_t* affected) = 0;

  // Applies `purges` (as PurgeUrls, PurgeTag and PurgePrefix do) and records that the log
  // named `log` was applied up to `position`, durably and together, with one sync: after
  // a crash either the position and every purge before it hold or the position is the old
  // one, so a follower of the log resumes exactly after the last purges it applied. With
  // no purge (or no values) it records the position only. InvalidArgument for a malformed
  // value (nothing purged, the position unchanged).
  virtual Status ApplyLoggedPurges(std::string_view log, std::string_view position,
                                   const std::vector<LoggedPurge>& purges) = 0;
  // The position last recorded for `log`; "" when none was.
  virtual Status LogPosition(std::string_view log, std::string* position) = 0;

  // Objects by primary-key prefix and/or tag, in key order, purge state applied.
  virtual Status List(const ListOptions& options, std::vector<ObjectInfo>* out) = 0;

  virtual StoreCounters Counters() const = 0;

  // Checks the whole store: reads and checksum-verifies every live entry's body from disk
  // (not from the RAM cache), and looks for entries whose segment is gone, tag index keys
  // without their entry, segment files the index does not know, and segment space no
  // entry references. Without options.repair nothing changes (not even a bad entry is
  // dropped); with it, bad entries and orphaned tag keys are removed (NotSupported on a
  // read-only store). Runs on the calling thread; may take long on a large store.
  virtual Status Verify(const VerifyOptions& options, VerifyReport* report) = 0;

  // "io_uring" or "pread/pwrite" (or the injected backend's name).
  virtual std::string_view IoBackendName() const = 0;

  // Waits until background cleanup (purge rules, reclaimed segments) queued so far is done.
  virtual void WaitForBackgroundWork() = 0;
};

}  // namespace edgecache
