// StoreImpl: the Store behind edgecache/store.h, the glue that wires its units together
// (docs/architecture.md): the index (index/entry_table.h) and version clock, the segment
// files, the RAM cache, hit tracker and probation queue, purges (purge/purger.h),
// re-insertion and verify.
//
// Threads:
//  * callers: Lookup, List, purges, BeginInsert; AsyncRead submits and returns.
//  * I/O backend threads: run read completions (checksum verification, RAM-cache fill).
//  * workers_ (asio thread pool): insert chunk flushes and commits, group commits of small
//    inserts (group_commit.h), which may block on segment creation and index writes, and
//    drops of entries found bad by reads.
//  * maintenance_: one thread for background jobs (purge-rule cleanup, reclaimed-segment
//    cleanup, re-insertion, counter recount) and retiring purge rules.
//
// Locks, in acquisition order: the purger's publish guard (shared for publishing an entry,
// exclusive for installing a purge), then one entry stripe (EntryTable::Stripe: serialises
// read-modify-write of one index entry; a group commit's publish holds several, locked in
// address order), then leaf mutexes. The hit path (Lookup,
// AsyncRead from RAM) takes none of them.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "cache/hit_tracker.h"
#include "cache/probation.h"
#include "cache/ram_cache.h"
#include "edgecache/store.h"
#include "group_commit.h"
#include "index/entry_table.h"
#include "index/version_clock.h"
#include "insert.h"
#include "io/inflight.h"
#include "purge/purge_rules.h"
#include "purge/purger.h"
#include "segment/reinserter.h"
#include "segment/segment_manager.h"
#include "store_dir.h"

namespace edgecache {

class StoreImpl final : public Store, private Publisher {
 public:
  StoreImpl(const StoreOptions& options, std::string dir);
  ~StoreImpl() override;

  Status Init();

  Status BeginInsert(ObjectKey key, ObjectMeta meta, std::unique_ptr<InsertHandle>* out) override;
  Status Lookup(const ObjectKey& key, ObjectInfo* info) override;
  Status LookupVariant(std::string_view primary, const HeaderGetter& request_header,
                       std::shared_ptr<const ObjectInfo>* info) override;
  Status Variants(std::string_view primary, std::vector<ObjectInfo>* out) override;
  void AsyncRead(const ObjectInfo& info, uint64_t offset, size_t max_len,
                 ReadCallback done) override;
  bool ReadCached(const ObjectInfo& info, uint64_t offset, size_t max_len, BodySlice* out) override;
  Status UpdateMeta(const ObjectKey& key, uint64_t expected_version,
                    const ObjectMeta& meta) override;
  Status Remove(const ObjectKey& key) override;
  Status PurgeUrl(std::string_view primary, PurgeMode mode, uint64_t* affected) override;
  Status PurgeUrls(const std::vector<std::string>& primaries, PurgeMode mode,
                   std::vector<uint64_t>* affected) override;
  Status PurgeTag(std::string_view tag, PurgeMode mode, uint64_t* affected) override;
  Status PurgePrefix(std::string_view prefix, PurgeMode mode, uint64_t* affected) override;
  Status ApplyLoggedPurges(std::string_view log, std::string_view position,
                           const std::vector<LoggedPurge>& purges) override;
  Status LogPosition(std::string_view log, std::string* position) override;
  Status List(const ListOptions& options, std::vector<ObjectInfo>* out) override;
  StoreCounters Counters() const override;
  Status Verify(const VerifyOptions& options, VerifyReport* report) override;
  std::string_view IoBackendName() const override { return io_->Name(); }
  void WaitForBackgroundWork() override;

 private:
  static Status ValidateKey(const ObjectKey& key);
  Status ReadOnlyError() const;
  enum class Serve { kYes, kStale, kNo };

  // Publisher: checks that no purge or reclaim overtook each body, then writes the
  // entries, their tags, Vary names and segment membership in one batch per run of
  // distinct keys.
  void PublishAll(std::vector<ObjectInfo>* infos, std::vector<Status>* results) override;
  Status HoldOnProbation(cache::Probation::Item item) override;
  // A URL purge of the objects held on probation (their entry key has no secondary: a
  // response with Vary names is never held).
  void PurgeHeld(const std::vector<std::string>& primaries, PurgeMode mode,
                 std::vector<uint64_t>* affected);
  // One such run: infos[begin, end) with distinct keys (entry_keys[i] is infos[i]'s).
  // REQUIRES: the publish guard held.
  void PublishRun(std::vector<ObjectInfo>& infos, const std::vector<std::string>& entry_keys,
                  size_t begin, size_t end, std::vector<Status>* results);
  // Whether writing `info` must remove Vary names recorded for its primary key (it has
  // no Vary and no secondary key, and names are recorded).
  Status VaryRecorded(const ObjectInfo& info, bool* recorded);

  // --- the read path (read.cc) ---
  // AsyncRead of an object found on probation: from the index entry it was promoted to, if
  // it was (same body version); NotFound otherwise.
  void ReadPromoted(const ObjectInfo& info, uint64_t offset, size_t max_len, ReadCallback done);
  // Where the bytes at `offset` of a body are: their chunk and their place in its record.
  struct ChunkSpan {
    BodyExtent extent;
    uint64_t chunk_start = 0;  // body offset of the chunk's first byte
    size_t data_at = 0;        // offset of the wanted bytes inside the chunk record
    size_t length = 0;         // bytes to return
  };
  static ChunkSpan Locate(const ObjectInfo& info, uint64_t offset, size_t max_len);
  // AsyncRead's disk path. `fill_cache`: verified chunks go into the RAM cache; `drop_bad`:
  // an entry whose chunk fails is dropped from the index.
  void ReadChunk(const ObjectInfo& info, uint64_t offset, size_t max_len, bool fill_cache,
                 bool drop_bad, ReadCallback done);
  // Drops the entry if it still has `version` (a read found its body bad or gone).
  void DropEntry(const std::string& entry_key, uint64_t version);
  // Verify's check of one entry's extents and body; adds to *report. False when it is bad.
  bool VerifyEntry(const std::string& entry_key, const ObjectInfo& info,
                   const VerifyOptions& options, VerifyReport* report);

  // Reads format version, version reservation and counters.
  Status LoadMeta();
  // Lookup's work, sharing the entry (one with `invalidated` set from the rules is a copy).
  Status LookupShared(const ObjectKey& key, std::shared_ptr<const ObjectInfo>* info);
  Serve Classify(const ObjectInfo& info) const;  // under the current purge rules
  // Under `rules`, taken before `info` was read (see Lookup).
  Serve Classify(const ObjectInfo& info, const purge::RuleSet& rules) const;
  // Variants and List: appends `info` as a listing shows it (stale or not, its estimated
  // hits), unless it is gone under `rules` (taken before the scan).
  void AppendListed(std::string_view entry_key, ObjectInfo info, const purge::RuleSet& rules,
                    std::vector<ObjectInfo>* out) const;
  void CountRemoved(const ObjectInfo& info);
  // PurgeTag and PurgePrefix: checks, then purger_->Install.
  Status InstallRule(purge::Rule::Kind kind, std::string_view value, PurgeMode mode,
                     uint64_t* affected);

  // Background jobs (run on maintenance_).
  void Enqueue(std::function<void()> job);
  void MaintenanceLoop();
  void CleanupSegment(uint64_t segment);
  void Recount();

  const StoreOptions options_;
  const std::string dir_;
  std::unique_ptr<StoreDir> dir_lock_;     // released last
  bool clean_open_ = false;                // counters were recorded by a clean close
  std::atomic<bool> counts_valid_{false};  // objects_/body_bytes_ are exact (not mid-recount)

  std::shared_ptr<IoBackend> io_;
  InflightIo inflight_io_;
  std::unique_ptr<index::EntryTable> table_;
  std::unique_ptr<index::VersionClock> clock_;
  std::unique_ptr<segment::SegmentManager> segments_;
  std::unique_ptr<segment::Reinserter> reinserter_;
  std::unique_ptr<InsertParts> insert_parts_;
  cache::RamCache ram_;
  cache::HitTracker hit_tracker_;
  std::unique_ptr<cache::Probation> probation_;  // Admission::kProbation only
  std::unique_ptr<purge::Purger> purger_;
  boost::asio::thread_pool workers_;
  std::unique_ptr<GroupCommit> group_commit_;

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::function<void()>> jobs_;  // GUARDED_BY(jobs_mu_)
  bool job_running_ = false;                // GUARDED_BY(jobs_mu_)
  std::atomic<bool> closing_{false};
  std::thread maintenance_;

  std::atomic<int64_t> objects_{0};
  std::atomic<int64_t> body_bytes_{0};
  mutable std::atomic<uint64_t> hits_{0}, misses_{0};
  std::atomic<uint64_t> inserts_{0}, insert_batches_{0}, evictions_{0}, reinserted_{0};
  std::atomic<uint64_t> ram_hits_{0}, disk_reads_{0}, corrupt_reads_{0}, io_errors_{0};
};

}  // namespace edgecache
