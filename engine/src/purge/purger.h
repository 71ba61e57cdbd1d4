// Purger: purges by URL (the entries of a primary key dropped or marked stale at once) and
// by tag or key prefix (a rule installed at once and persisted, so lookups honour it from
// then on; applied to the covered entries by a background cleanup; retired once no insert
// older than it is in flight). It owns the purge rules (purge_rules.h) and the recent URL
// purges that inserts begun before them must honour when they publish.
//
// Thread safety: all public methods are thread-safe. Lock order: the publish guard
// (shared while an entry is published, exclusive while a purge is installed), then an
// entry stripe (index::EntryTable::Stripe), then the purger's leaf mutex.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edgecache/object.h"
#include "edgecache/options.h"
#include "edgecache/status.h"
#include "edgecache/store.h"
#include "index/entry_table.h"
#include "index/version_clock.h"
#include "purge/purge_rules.h"
#include "segment/segment_manager.h"

namespace edgecache::purge {

class Purger {
 public:
  struct Parts {
    const StoreOptions& options;
    index::EntryTable& table;
    index::VersionClock& clock;
    const segment::SegmentManager& segments;  // an entry in a reclaimed segment is gone
    // Runs a job on the store's maintenance thread.
    std::function<void(std::function<void()>)> enqueue;
    // An entry a purge removed (the store's counters).
    std::function<void(const ObjectInfo&)> removed;
    const std::atomic<bool>& closing;  // stop background work early: the store is closing
  };
  explicit Purger(Parts parts) : p_(std::move(parts)) {}

  // Puts the rules the index records into effect; returns them in *loaded, whose cleanup
  // (Cleanup) is still due.
  Status Load(std::vector<Rule>* loaded);

  // A metadata record written in the batch of purge rules (a purge log's position).
  struct Record {
    std::string key, value;
  };

  // Drops or marks the entries of each primary key; with `sync`, the write-ahead log is then
  // synced once for all of them.
  Status PurgeUrls(const std::vector<std::string>& primaries, PurgeMode mode,
                   std::vector<uint64_t>* affected, bool sync = true);
  // Installs a tag or prefix purge and queues its cleanup. *affected, when asked for:
  // the stored entries it covers that were servable before it.
  Status Install(Rule::Kind kind, std::string_view value, PurgeMode mode, uint64_t* affected);
  // Installs `rules` (kind, mode and value each; their versions are given here) and
  // `record` in one durable write, and queues their cleanups.
  Status InstallAll(std::vector<Rule> rules, const Record& record);
  // Applies an installed rule to the entries it covers (on the maintenance thread).
  void Cleanup(const Rule& rule);
  // Retires the cleaned rules no older insert can still need; true while some wait.
  bool RetireWaiting();
  bool HasWaiting() const;

  // The rules in effect, lock-free.
  std::shared_ptr<const RuleSet> Rules() const { return rules_.Snapshot(); }

  // Publishing an entry: held (shared) while it is checked by Admit and written, so no
  // purge is installed in between.
  std::shared_lock<std::shared_mutex> PublishGuard() { return std::shared_lock(mu_); }
  // REQUIRES: PublishGuard held. Aborted when a purge since `info`'s insert began removes
  // it; marks it invalidated when one only makes it stale.
  Status Admit(ObjectInfo* info) const;

  uint64_t purges() const { return purges_.load(std::memory_order_relaxed); }
  uint64_t purged_objects() const { return purged_objects_.load(std::memory_order_relaxed); }

 private:
  // Applies a purge (version `seq`, `mode`) to one entry if it is older than the purge and
  // `covered`. Whether the entry was removed or newly marked stale.
  bool PurgeEntry(const std::string& entry_key, uint64_t seq, PurgeMode mode,
                  const std::function<bool(const ObjectInfo&)>& covered);
  // The entries `rule` covers that were servable under `before`, as of `snapshot`.
  Status Count(const Rule& rule, const RuleSet& before, const index::EntryTable::Snapshot& snapshot,
               uint64_t* affected);
  bool TryRetire(const Rule& rule);
  // Gives `rules` their versions, writes them (and `record`, when given) in one synced
  // batch and puts them in effect; *before: the rules without them.
  Status InstallRules(std::vector<Rule>* rules, const Record* record,
                      std::shared_ptr<const RuleSet>* before);

  const Parts p_;
  PurgeRules rules_;
  mutable std::shared_mutex mu_;  // the publish guard; exclusive to install or retire
  // primary key -> (purge version, mode); pruned once no older insert is in flight.
  std::unordered_map<std::string, std::pair<uint64_t, PurgeMode>> url_purges_;  // GUARDED_BY(mu_)
  mutable std::mutex retiring_mu_;
  std::vector<Rule> retiring_;  // GUARDED_BY(retiring_mu_): cleaned, awaiting older inserts
  std::atomic<uint64_t> purges_{0}, purged_objects_{0};
};

}  // namespace edgecache::purge
