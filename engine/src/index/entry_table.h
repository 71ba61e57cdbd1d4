// EntryTable: the store's metadata index (RocksDB, laid out as format/index_layout.h
// says) behind the few operations the engine needs. It is the only engine code that sees
// RocksDB: everything else reads entries, scans key ranges and writes batches through it.
//
// Hot entries are read from RAM: GetEntry and GetVaryNames keep what they decode in an
// entry cache (options.entry_cache_bytes, a ShardedLru), so a hit on a hot object reads
// nothing from RocksDB however large the index grows. A URL's Vary names and, when it has
// none, its entry are one cached record under the URL: a request's lookup of both finds
// one record (entries with a secondary key are cached under their own key). That a URL
// has no entry (or no Vary names) is kept too. Every write of an entry or of Vary names
// goes through this class, which drops the records of the keys it wrote from the cache
// once the write is done; a read that raced a write never caches what it read
// (ShardedLru::PutIf). A URL never written is known absent without either
// (index/presence_filter.h): this class adds every URL it writes an entry or Vary names
// for, before the write, and fills the filter from the index at open. Snapshot reads and
// scans bypass the cache.
//
// Thread safety: all methods are thread-safe (RocksDB's guarantee). A Batch is used by one
// thread. Stripe() hands out the lock that serialises read-modify-write of one entry.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cache/sharded_lru.h"
#include "edgecache/object.h"
#include "edgecache/options.h"
#include "edgecache/status.h"
#include "index/presence_filter.h"

namespace rocksdb {
class DB;
class Snapshot;
class WriteBatch;
}  // namespace rocksdb

namespace edgecache::index {

struct IndexDb;

// The column families of format/index_layout.h.
enum class Family { kMeta, kEntries, kVary, kTags, kSegments };

class EntryTable {
 public:
  // A consistent read view of the whole index; reads and scans may be given one.
  class Snapshot {
   public:
    ~Snapshot();
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

   private:
    friend class EntryTable;
    explicit Snapshot(rocksdb::DB& db);
    rocksdb::DB& db_;
    const rocksdb::Snapshot* const snapshot_;
  };

  // Writes applied together by Write: all of them or none.
  class Batch {
   public:
    explicit Batch(const EntryTable& table);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

    // The entry, its tag keys (dropping the tags `old` had and `info` lacks) and the Vary
    // names of its primary key: those of `info`, or none when `info` has none and no
    // secondary key (removing the names recorded, which `vary_recorded` says there are).
    void PutEntry(std::string_view entry_key, const ObjectInfo& info, const ObjectInfo* old,
                  bool vary_recorded);
    // The entry's value only; its tag keys and Vary names stay as they are.
    void RewriteEntry(std::string_view entry_key, const ObjectInfo& info);
    // The entry and its tag keys.
    void DeleteEntry(std::string_view entry_key, const ObjectInfo& info);
    // An entry whose value does not decode (so its tags are unknown).
    void DeleteUndecodable(std::string_view entry_key);
    void DeleteTagKey(std::string_view tag_key);
    // A store metadata record (the default family): a purge rule, a log position.
    void PutMeta(std::string_view key, std::string_view value);
    // Records that the entry has chunks in the segments of `extents`. The batch writes one
    // member key per segment for all the entries it was given (a group commit's objects
    // share one), named by the lowest offset among them.
    void AddSegmentMembers(std::string_view entry_key, const std::vector<BodyExtent>& extents);
    // Forgets a reclaimed segment: its record and all its member keys.
    void ForgetSegment(uint64_t segment);

   private:
    friend class EntryTable;
    struct Members {
      uint64_t first_offset = UINT64_MAX;
      std::vector<std::string> entry_keys;
    };
    void PutSegmentMembers();  // by Write, once

    const IndexDb& db_;
    PresenceFilter* const presence_;  // null without one
    std::unique_ptr<rocksdb::WriteBatch> batch_;
    std::vector<std::string> written_;     // entry keys and primaries: dropped from the cache
    std::map<uint64_t, Members> members_;  // by segment
  };

  struct ScanOptions {
    std::string_view start;  // first key to visit when after the prefix; empty: the prefix
    const Snapshot* snapshot = nullptr;
    bool fill_cache = true;  // false for one-off whole-index scans
  };
  // Called for each key in order with its value (views valid during the call only);
  // returns false to stop the scan.
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;

  // Opens (creating when missing, unless options.read_only) the index at `path`.
  static Status Open(const StoreOptions& options, const std::string& path,
                     std::unique_ptr<EntryTable>* out);
  ~EntryTable();

  // Reads and decodes one entry, its key filled in. An entry that does not decode is
  // reported missing, and deleted so it is not decoded again (unless read-only).
  Status GetEntry(std::string_view entry_key, ObjectInfo* info, bool* found);
  // The same, shared with the entry cache rather than copied (null when missing).
  Status GetEntry(std::string_view entry_key, std::shared_ptr<const ObjectInfo>* info);
  // The Vary header names recorded for a primary key (none when it has no Vary).
  Status GetVaryNames(std::string_view primary, std::vector<std::string>* names);
  // One raw value, as of `snapshot` when given.
  Status Get(Family family, std::string_view key, std::string* value, bool* found,
             const Snapshot* snapshot = nullptr);
  // Visits the entry keys recorded as having a chunk in `segment` (both key forms; an entry
  // may be visited more than once, and may since have moved or gone).
  Status ScanSegmentMembers(uint64_t segment,
                            const std::function<bool(std::string_view entry_key)>& visit);
  // Visits the keys of `family` that start with `prefix`.
  Status Scan(Family family, std::string_view prefix, const Visitor& visit,
              const ScanOptions& options);
  Status Scan(Family family, std::string_view prefix, const Visitor& visit) {
    return Scan(family, prefix, visit, ScanOptions());
  }

  // `sync`: durable (the write-ahead log synced) before returning. `what` names the
  // write in an error.
  Status Put(Family family, std::string_view key, std::string_view value, bool sync,
             std::string_view what);
  Status Delete(Family family, std::string_view key, bool sync, std::string_view what);
  Status Write(Batch& batch, bool sync, std::string_view what);
  // Makes every earlier unsynced write durable.
  Status SyncWal(std::string_view what);

  std::unique_ptr<Snapshot> TakeSnapshot();

  // The lock that serialises read-modify-write of an entry (one of 64, by key hash).
  std::mutex& Stripe(std::string_view entry_key);

  uint64_t cache_usage() const { return cache_.usage(); }
  // Whether the presence filter answers (filled, not full): lookups of URLs never written
  // read nothing.
  bool presence_filter_answering() const { return presence_ != nullptr && presence_->answering(); }

 private:
  // A cached read. Under a URL (primary key): its Vary names and, when it has none, its
  // entry without a secondary key. Under an entry key with a secondary key: that entry.
  struct Cached {
    ObjectInfo info;
    std::vector<std::string> vary;
    bool found = false;  // whether the index has the entry
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>()(key); }
  };

  EntryTable(std::unique_ptr<IndexDb> db, const StoreOptions& options, std::string path);
  // The cached record of a URL (read into the cache when missing).
  Status GetUrl(std::string_view primary, std::shared_ptr<const Cached>* out);
  // The entry a record holds, sharing the record (null when it has none).
  static std::shared_ptr<const ObjectInfo> EntryOf(std::shared_ptr<const Cached> cached);
  // Reads and decodes the entry of `entry_key` from the index (an undecodable one is
  // deleted and reported missing).
  Status ReadEntry(std::string_view entry_key, ObjectInfo* info, bool* found, std::string* value);
  // After a write of an entry or of Vary names (`key`: an entry key or a URL): its cached
  // records are stale.
  void Drop(std::string_view key);
  // After a write of `family`.
  void Written(Family family, std::string_view key);
  // Before a write of `family`: the key's URL joins the presence filter.
  void WillWrite(Family family, std::string_view key);
  // On filler_: adds every URL of the index to presence_, then marks it filled.
  void FillPresence();
  // False when the presence filter knows that `primary` has no entry and no Vary names.
  bool MayBePresent(std::string_view primary) const {
    return presence_ == nullptr || presence_->MayContain(primary);
  }

  const std::unique_ptr<IndexDb> db_;
  const bool read_only_;
  const std::string path_;
  std::array<std::mutex, 64> stripes_;
  // Entry keys (primary '\0' secondary) and URLs (primary keys) never collide.
  cache::ShardedLru<std::string, std::shared_ptr<const Cached>, KeyHash, std::equal_to<>> cache_;
  std::unique_ptr<PresenceFilter> presence_;  // null when read-only or configured off
  std::atomic<bool> closing_{false};
  std::thread filler_;
};

}  // namespace edgecache::index
