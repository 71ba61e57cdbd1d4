#include "store_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

#include "edgecache/thread_name.h"
#include "format/coding.h"
#include "format/index_layout.h"
#include "format/record.h"
#include "short_slice.h"
#include "store_internal.h"

namespace edgecache {

using index::Family;
using internal::HasTag;

Status Store::Open(const StoreOptions& options, const std::string& dir,
                   std::unique_ptr<Store>* out) {
  Status s = options.Validate();
  if (!s.ok()) return s;
  auto store = std::make_unique<StoreImpl>(options, dir);
  s = store->Init();
  if (!s.ok()) return s;
  *out = std::move(store);
  return Status::OK();
}

StoreImpl::StoreImpl(const StoreOptions& options, std::string dir)
    : options_(options),
      dir_(std::move(dir)),
      ram_(options.ram_cache_bytes),
      workers_(static_cast<size_t>(options.worker_threads)) {}

Status StoreImpl::Init() {
  // Background work (group commits, publishing, purge cleanup) in short turns on cores the
  // network threads share.
  NamePoolThreads(workers_, static_cast<size_t>(options_.worker_threads), "ec-store-",
                  [] { UseShortSlice(); });
  Status s = StoreDir::Open(options_, dir_, &dir_lock_);
  if (!s.ok()) return s;

  if (options_.io) {
    io_ = options_.io;
  } else {
    std::unique_ptr<IoBackend> io;
    s = MakeIoBackend(options_.io_backend, options_.io_threads, &io);
    if (!s.ok()) return s;
    io_ = std::move(io);
  }
  spdlog::info("store {}: I/O backend {}", dir_, io_->Name());

  s = index::EntryTable::Open(options_, dir_ + "/index", &table_);
  if (!s.ok()) return s;
  clock_ = std::make_unique<index::VersionClock>(*table_);
  s = LoadMeta();
  if (!s.ok()) return s;

  segments_ = std::make_unique<segment::SegmentManager>(
      options_, dir_ + "/segments", *io_, *table_,
      segment::SegmentManager::Hooks{
          .reclaimed = [this](uint64_t id) { Enqueue([this, id] { CleanupSegment(id); }); },
          .next_to_reclaim =
              [this](uint64_t id) {
                if (!options_.reinsert_hot_objects) return;
                Enqueue([this, id] {
                  reinserted_.fetch_add(reinserter_->Run(id), std::memory_order_relaxed);
                });
              },
      });
  std::vector<uint64_t> dead;
  s = segments_->Open(&dead);
  if (!s.ok()) return s;
  purger_ = std::make_unique<purge::Purger>(purge::Purger::Parts{
      .options = options_,
      .table = *table_,
      .clock = *clock_,
      .segments = *segments_,
      .enqueue = [this](std::function<void()> job) { Enqueue(std::move(job)); },
      .removed = [this](const ObjectInfo& info) { CountRemoved(info); },
      .closing = closing_,
  });
  std::vector<purge::Rule> loaded_rules;
  s = purger_->Load(&loaded_rules);
  if (!s.ok()) return s;
  reinserter_ = std::make_unique<segment::Reinserter>(segment::Reinserter::Parts{
      .options = options_,
      .table = *table_,
      .segments = *segments_,
      .io = *io_,
      .hits = hit_tracker_,
      .servable = [this](const ObjectInfo& info) { return Classify(info) == Serve::kYes; },
      .read = [this](const ObjectInfo& info, uint64_t offset, uint64_t length,
                     std::string* out) { return Read(info, out, offset, length); },
      .closing = closing_,
  });
  group_commit_ = std::make_unique<GroupCommit>(GroupCommit::Parts{
      .options = options_,
      .io = *io_,
      .segments = *segments_,
      .workers = workers_,
      .publisher = *this,
  });
  if (options_.admission == Admission::kProbation && !options_.read_only) {
    probation_ = std::make_unique<cache::Probation>(options_.probation_bytes, [this] {
      return static_cast<uint64_t>(std::max<int64_t>(0, objects_.load()));
    });
  }
  insert_parts_ = std::make_unique<InsertParts>(InsertParts{
      .options = options_,
      .io = *io_,
      .inflight = inflight_io_,
      .segments = *segments_,
      .workers = workers_,
      .clock = *clock_,
      .publisher = *this,
      .group = *group_commit_,
      .probation = probation_.get(),
  });

  maintenance_ = std::thread([this] {
    NameThisThread("ec-maintain");
    UseShortSlice();  // segment cleanup, purge rule cleanup, recounts: background work
    MaintenanceLoop();
  });
  if (!options_.read_only) {
    for (uint64_t id : dead) Enqueue([this, id] { CleanupSegment(id); });
    for (const purge::Rule& rule : loaded_rules) Enqueue([this, rule] { purger_->Cleanup(rule); });
  }
  if (!clean_open_) Enqueue([this] { Recount(); });
  return Status::OK();
}

StoreImpl::~StoreImpl() {
  {
    // Under the lock the maintenance thread checks closing_ with, so it cannot check it
    // just before this and then wait for a wake-up that has already been sent.
    std::lock_guard lock(jobs_mu_);
    closing_ = true;
  }
  jobs_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  inflight_io_.WaitIdle();
  workers_.join();
  // Abandons the held inserts (the clock they end in is still there); after the workers,
  // whose publishes of promoted objects read probation_.
  probation_.reset();
  if (table_ && segments_ && counts_valid_ && !options_.read_only) {
    std::string value;
    format::PutVarint64(&value, static_cast<uint64_t>(std::max<int64_t>(0, objects_)));
    format::PutVarint64(&value, static_cast<uint64_t>(std::max<int64_t>(0, body_bytes_)));
    Status s =
        table_->Put(Family::kMeta, format::kMetaCounters, value, /*sync=*/true, "record counters");
    if (!s.ok()) spdlog::warn("store {}: {}", dir_, s.ToString());
  }
  purger_.reset();
  reinserter_.reset();
  segments_.reset();
  table_.reset();
  io_.reset();
}

Status StoreImpl::ValidateKey(const ObjectKey& key) {
  if (key.primary.empty()) return Status::InvalidArgument("empty primary key");
  if (key.primary.find('\0') != std::string::npos ||
      key.secondary.find('\0') != std::string::npos) {
    return Status::InvalidArgument("key contains a NUL byte");
  }
  if (key.primary.size() + key.secondary.size() > (16u << 10)) {
    return Status::InvalidArgument("key longer than 16 KiB");
  }
  return Status::OK();
}

Status StoreImpl::ReadOnlyError() const {
  return Status::NotSupported("store " + dir_ + " is open read-only");
}

Status StoreImpl::LoadMeta() {
  std::string value;
  bool found = false;
  Status s = table_->Get(Family::kMeta, format::kMetaFormatVersion, &value, &found);
  if (!s.ok()) return s;
  if (!found && options_.read_only) {
    return Status::Corruption("index of " + dir_ + " records no format version");
  }
  const uint32_t version = !found              ? format::kStoreFormatVersion
                           : value.size() == 4 ? format::DecodeFixed32(value.data())
                                               : 0;
  if (version < format::kOldestStoreFormatVersion || version > format::kStoreFormatVersion) {
    return Status::Incompatible("index of " + dir_ + " has another format version");
  }
  // A new store records its version; an older one opened for writing is upgraded in place
  // (its layout is read as it is; see the marker, StoreDir).
  if (!found || (version < format::kStoreFormatVersion && !options_.read_only)) {
    std::string v;
    format::PutFixed32(&v, format::kStoreFormatVersion);
    s = table_->Put(Family::kMeta, format::kMetaFormatVersion, v, /*sync=*/true,
                    "record format version");
    if (!s.ok()) return s;
  }
  // A new store: its counters (zero) are exact. A recount would race the first inserts and
  // could overwrite the live counts with a snapshot's.
  if (!found) clean_open_ = counts_valid_ = true;

  s = clock_->Load();
  if (!s.ok()) return s;

  s = table_->Get(Family::kMeta, format::kMetaCounters, &value, &found);
  if (!s.ok()) return s;
  if (found) {
    format::Decoder d(value);
    objects_ = static_cast<int64_t>(d.Varint64());
    body_bytes_ = static_cast<int64_t>(d.Varint64());
    clean_open_ = counts_valid_ = d.ok();
    // Counters are only trusted after a clean close: remove them until the next one.
    if (!options_.read_only) {
      s = table_->Delete(Family::kMeta, format::kMetaCounters, /*sync=*/true, "clear counters");
      if (!s.ok()) return s;
    }
  }

  return Status::OK();
}

StoreImpl::Serve StoreImpl::Classify(const ObjectInfo& info) const {
  return Classify(info, *purger_->Rules());
}

StoreImpl::Serve StoreImpl::Classify(const ObjectInfo& info, const purge::RuleSet& rules) const {
  const uint64_t min_live = segments_->min_live();
  for (const BodyExtent& e : info.extents) {
    if (e.segment < min_live) return Serve::kNo;
  }
  if (!rules.empty()) {
    switch (rules.Apply(info)) {
      case purge::Verdict::kGone:
        return Serve::kNo;
      case purge::Verdict::kStale:
        return Serve::kStale;
      case purge::Verdict::kKeep:
        break;
    }
  }
  return info.invalidated ? Serve::kStale : Serve::kYes;
}

Status StoreImpl::Lookup(const ObjectKey& key, ObjectInfo* info) {
  std::shared_ptr<const ObjectInfo> found;
  Status s = LookupShared(key, &found);
  if (s.ok()) *info = *found;
  return s;
}

Status StoreImpl::LookupShared(const ObjectKey& key, std::shared_ptr<const ObjectInfo>* out) {
  Status s = ValidateKey(key);
  if (!s.ok()) return s;
  const std::string entry_key = format::EntryKey(key);
  // The rules as they were before the read: a rule is retired once its cleanup has deleted
  // the entries it covers, so an entry read before such a delete must be judged by a rule
  // set that still holds the rule (one taken after the read might not).
  const std::shared_ptr<const purge::RuleSet> rules = purger_->Rules();
  // A held object is newer than any index entry of its key: publishing one drops the held
  // objects older than it.
  std::shared_ptr<const ObjectInfo> info;
  if (ObjectInfo held; probation_ != nullptr && probation_->Find(entry_key, &held)) {
    info = std::make_shared<const ObjectInfo>(std::move(held));
  } else {
    s = table_->GetEntry(entry_key, &info);
    if (!s.ok()) return s;
  }
  const Serve serve = info != nullptr ? Classify(*info, *rules) : Serve::kNo;
  if (serve == Serve::kNo) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return Status::NotFound(info != nullptr ? "evicted or purged" : "not stored");
  }
  if ((serve == Serve::kStale) != info->invalidated) {  // stale by a rule, not by its entry
    auto marked = std::make_shared<ObjectInfo>(*info);
    marked->invalidated = serve == Serve::kStale;
    info = std::move(marked);
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  hit_tracker_.Hit(entry_key);
  *out = std::move(info);
  return Status::OK();
}

Status StoreImpl::LookupVariant(std::string_view primary, const HeaderGetter& request_header,
                                std::shared_ptr<const ObjectInfo>* info) {
  info->reset();
  ObjectKey key{std::string(primary), ""};
  std::vector<std::string> names;
  Status s = table_->GetVaryNames(key.primary, &names);
  if (!s.ok()) return s;
  if (!names.empty()) key.secondary = SecondaryKeyFor(names, request_header);
  s = LookupShared(key, info);
  if (s.IsNotFound()) {
    auto missing = std::make_shared<ObjectInfo>();
    missing->key = std::move(key);
    *info = std::move(missing);
  }
  return s;
}

void StoreImpl::AppendListed(std::string_view entry_key, ObjectInfo info,
                             const purge::RuleSet& rules, std::vector<ObjectInfo>* out) const {
  const Serve serve = Classify(info, rules);
  if (serve == Serve::kNo) return;
  info.invalidated = serve == Serve::kStale;
  info.hits = hit_tracker_.EstimateHits(entry_key);
  out->push_back(std::move(info));
}

Status StoreImpl::Variants(std::string_view primary, std::vector<ObjectInfo>* out) {
  out->clear();
  const std::shared_ptr<const purge::RuleSet> rules = purger_->Rules();  // before the reads
  return table_->Scan(Family::kEntries, format::EntryKeyPrefix(primary),
                      [&](std::string_view key, std::string_view value) {
                        ObjectInfo info;
                        if (!format::DecodeEntry(value, &info).ok()) return true;
                        format::SplitEntryKey(key, &info.key);
                        AppendListed(key, std::move(info), *rules, out);
                        return true;
                      });
}

Status StoreImpl::BeginInsert(ObjectKey key, ObjectMeta meta, std::unique_ptr<InsertHandle>* out) {
  if (options_.read_only) return ReadOnlyError();
  Status s = ValidateKey(key);
  if (!s.ok()) return s;
  for (const auto& tag : meta.tags) {
    if (tag.empty() || tag.find('\0') != std::string::npos) {
      return Status::InvalidArgument("empty tag or tag with a NUL byte");
    }
  }
  // While the segments have room, nothing needs filtering: every object is written.
  const bool hold = probation_ != nullptr && key.secondary.empty() && meta.vary.empty() &&
                    segments_->count() >= segments_->max_segments() &&
                    !probation_->InGhost(format::EntryKey(key));
  *out = NewInsert(*insert_parts_, std::move(key), std::move(meta), hold);
  return Status::OK();
}

Status StoreImpl::HoldOnProbation(cache::Probation::Item item) {
  const std::string entry_key = format::EntryKey(item.info.key);
  std::vector<cache::Probation::Item> promote, dropped;  // destroyed after the guard
  {
    auto guard = purger_->PublishGuard();
    Status s = purger_->Admit(&item.info);
    if (!s.ok()) return s;
    probation_->Add(entry_key, std::move(item), &promote, &dropped);
  }
  inserts_.fetch_add(1, std::memory_order_relaxed);
  for (cache::Probation::Item& held : promote) {
    // Counted as I/O in flight, so that closing the store waits for its publish.
    inflight_io_.Begin();
    held.promote(std::move(held.info), [this](Status s) {
      if (!s.ok() && !s.IsAborted()) spdlog::warn("store {}: promotion: {}", dir_, s.ToString());
      s.IgnoreError();
      inflight_io_.End();
    });
  }
  return Status::OK();
}

void StoreImpl::PurgeHeld(const std::vector<std::string>& primaries, PurgeMode mode,
                          std::vector<uint64_t>* affected) {
  if (probation_ == nullptr) return;
  std::vector<cache::Probation::Item> dropped;
  for (size_t i = 0; i < primaries.size(); ++i) {
    const std::string entry_key = format::EntryKey(ObjectKey{primaries[i], ""});
    const size_t before = dropped.size();
    bool held = false;
    if (mode == PurgeMode::kHard) {
      probation_->Erase(entry_key, UINT64_MAX, &dropped);
      held = dropped.size() > before;
    } else {
      held = probation_->Invalidate(entry_key);
    }
    if (held && affected != nullptr) ++(*affected)[i];
  }
}

void StoreImpl::PublishAll(std::vector<ObjectInfo>* infos, std::vector<Status>* results) {
  results->assign(infos->size(), Status::OK());
  auto guard = purger_->PublishGuard();
  std::vector<std::string> entry_keys;
  entry_keys.reserve(infos->size());
  for (const ObjectInfo& info : *infos) entry_keys.push_back(format::EntryKey(info.key));
  // Runs of distinct keys, each in one write batch: a key written twice in one batch would
  // read the entry it replaces from before the batch.
  size_t begin = 0;
  while (begin < infos->size()) {
    std::set<std::string_view> keys;
    size_t end = begin;
    while (end < infos->size() && keys.insert(entry_keys[end]).second) ++end;
    PublishRun(*infos, entry_keys, begin, end, results);
    begin = end;
  }
}

void StoreImpl::PublishRun(std::vector<ObjectInfo>& infos,
                           const std::vector<std::string>& entry_keys, size_t begin, size_t end,
                           std::vector<Status>* results) {
  // The entries' stripes, each locked once and in one order (no other path holds two).
  std::vector<std::mutex*> stripes;
  for (size_t i = begin; i < end; ++i) stripes.push_back(&table_->Stripe(entry_keys[i]));
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  for (std::mutex* m : stripes) m->lock();

  index::EntryTable::Batch batch(*table_);
  std::vector<std::optional<ObjectInfo>> replaced(end - begin);
  std::vector<cache::Probation::Item> held_older;  // held objects the new entries replace
  bool any = false;
  for (size_t i = begin; i < end; ++i) {
    ObjectInfo& info = infos[i];
    Status& s = (*results)[i];
    for (const BodyExtent& e : info.extents) {
      if (e.segment < segments_->min_live()) {
        s = Status::Aborted("segment reclaimed while the object was being written");
        break;
      }
    }
    if (s.ok()) s = purger_->Admit(&info);
    ObjectInfo old;
    bool found = false;
    if (s.ok()) s = table_->GetEntry(entry_keys[i], &old, &found);
    bool vary_recorded = false;
    if (s.ok()) s = VaryRecorded(info, &vary_recorded);
    if (!s.ok()) continue;
    batch.PutEntry(entry_keys[i], info, found ? &old : nullptr, vary_recorded);
    batch.AddSegmentMembers(entry_keys[i], info.extents);
    if (found) replaced[i - begin] = std::move(old);
    any = true;
  }
  Status written;
  if (any) {
    written = table_->Write(batch, options_.sync == SyncPolicy::kCommit, "write index entry");
    insert_batches_.fetch_add(1, std::memory_order_relaxed);
  }
  for (auto it = stripes.rbegin(); it != stripes.rend(); ++it) (*it)->unlock();
  if (!any) return;
  for (size_t i = begin; i < end; ++i) {
    Status& s = (*results)[i];
    if (!s.ok()) continue;
    if (!written.ok()) {
      s = written;
      continue;
    }
    if (replaced[i - begin]) CountRemoved(*replaced[i - begin]);
    if (probation_ != nullptr) probation_->Erase(entry_keys[i], infos[i].version, &held_older);
    objects_.fetch_add(1, std::memory_order_relaxed);
    body_bytes_.fetch_add(static_cast<int64_t>(infos[i].body_length), std::memory_order_relaxed);
    inserts_.fetch_add(1, std::memory_order_relaxed);
  }
  written.IgnoreError();
}

Status StoreImpl::UpdateMeta(const ObjectKey& key, uint64_t expected_version,
                             const ObjectMeta& meta) {
  if (options_.read_only) return ReadOnlyError();
  Status s = ValidateKey(key);
  if (!s.ok()) return s;
  const std::string entry_key = format::EntryKey(key);
  auto guard = purger_->PublishGuard();
  Status held;
  if (probation_ != nullptr &&
      probation_->UpdateMeta(entry_key, expected_version, meta, clock_->Next(), &held)) {
    return held;
  }
  std::lock_guard stripe(table_->Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  s = table_->GetEntry(entry_key, &info, &found);
  if (!s.ok()) return s;
  if (!found || Classify(info) == Serve::kNo) return Status::NotFound("not stored");
  if (info.version != expected_version) {
    return Status::Aborted("the entry changed since it was looked up");
  }
  ObjectInfo old = info;
  info.meta = meta;
  info.version = clock_->Next();
  info.invalidated = false;
  bool vary_recorded = false;
  s = VaryRecorded(info, &vary_recorded);
  if (!s.ok()) return s;
  index::EntryTable::Batch batch(*table_);
  batch.PutEntry(entry_key, info, &old, vary_recorded);
  return table_->Write(batch, options_.sync == SyncPolicy::kCommit, "update index entry");
}

Status StoreImpl::VaryRecorded(const ObjectInfo& info, bool* recorded) {
  *recorded = false;
  // Only an entry without Vary and without a secondary key removes recorded names.
  if (!info.meta.vary.empty() || !info.key.secondary.empty()) return Status::OK();
  std::vector<std::string> names;
  Status s = table_->GetVaryNames(info.key.primary, &names);  // cached by the lookup, mostly
  *recorded = !names.empty();
  return s;
}

void StoreImpl::CountRemoved(const ObjectInfo& info) {
  objects_.fetch_sub(1, std::memory_order_relaxed);
  body_bytes_.fetch_sub(static_cast<int64_t>(info.body_length), std::memory_order_relaxed);
}

Status StoreImpl::Remove(const ObjectKey& key) {
  if (options_.read_only) return ReadOnlyError();
  Status s = ValidateKey(key);
  if (!s.ok()) return s;
  const std::string entry_key = format::EntryKey(key);
  std::vector<cache::Probation::Item> held;
  if (probation_ != nullptr) probation_->Erase(entry_key, UINT64_MAX, &held);
  std::lock_guard stripe(table_->Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  s = table_->GetEntry(entry_key, &info, &found);
  if (!s.ok()) return s;
  if (!found) return held.empty() ? Status::NotFound("not stored") : Status::OK();
  index::EntryTable::Batch batch(*table_);
  batch.DeleteEntry(entry_key, info);
  s = table_->Write(batch, options_.sync == SyncPolicy::kCommit, "remove index entry");
  if (s.ok()) CountRemoved(info);
  return s;
}

Status StoreImpl::List(const ListOptions& options, std::vector<ObjectInfo>* out) {
  out->clear();
  const bool by_tag = !options.tag.empty();
  const std::string scan_prefix = by_tag ? format::TagKeyPrefix(options.tag) : options.prefix;
  std::string from = options.prefix;
  // Every entry key of a primary key P sorts before P + "\x01".
  if (!options.start_after.empty()) from = std::max(from, options.start_after + "\x01");
  const std::string start = (by_tag ? scan_prefix : std::string()) + from;
  const std::shared_ptr<const purge::RuleSet> rules = purger_->Rules();  // before the reads
  Status read;
  Status s = table_->Scan(by_tag ? Family::kTags : Family::kEntries, scan_prefix,
                          [&](std::string_view key, std::string_view value) {
                            if (out->size() >= options.limit) return false;
                            const std::string_view entry_key =
                                key.substr(by_tag ? scan_prefix.size() : 0);
                            if (!entry_key.starts_with(options.prefix))
                              return !(by_tag && entry_key > options.prefix);
                            ObjectInfo info;
                            if (by_tag) {
                              bool found = false;
                              read = table_->GetEntry(entry_key, &info, &found);
                              if (!read.ok()) return false;
                              if (!found || !HasTag(info, options.tag)) return true;
                            } else {
                              if (!format::DecodeEntry(value, &info).ok()) return true;
                              format::SplitEntryKey(entry_key, &info.key);
                            }
                            AppendListed(entry_key, std::move(info), *rules, out);
                            return true;
                          },
                          {.start = start});
  return s.ok() ? read : s;
}

Status StoreImpl::PurgeUrl(std::string_view primary, PurgeMode mode, uint64_t* affected) {
  std::vector<uint64_t> counts;
  Status s = PurgeUrls({std::string(primary)}, mode, affected ? &counts : nullptr);
  if (s.ok() && affected != nullptr) *affected = counts[0];
  return s;
}

Status StoreImpl::PurgeUrls(const std::vector<std::string>& primaries, PurgeMode mode,
                            std::vector<uint64_t>* affected) {
  if (options_.read_only) return ReadOnlyError();
  for (const std::string& primary : primaries) {
    if (primary.empty() || primary.find('\0') != std::string::npos) {
      return Status::InvalidArgument("bad primary key");
    }
  }
  Status s = purger_->PurgeUrls(primaries, mode, affected);
  if (s.ok()) PurgeHeld(primaries, mode, affected);
  return s;
}

Status StoreImpl::PurgeTag(std::string_view tag, PurgeMode mode, uint64_t* affected) {
  if (tag.empty()) return Status::InvalidArgument("empty tag");
  return InstallRule(purge::Rule::Kind::kTag, tag, mode, affected);
}

Status StoreImpl::PurgePrefix(std::string_view prefix, PurgeMode mode, uint64_t* affected) {
  return InstallRule(purge::Rule::Kind::kPrefix, prefix, mode, affected);
}

Status StoreImpl::InstallRule(purge::Rule::Kind kind, std::string_view value, PurgeMode mode,
                              uint64_t* affected) {
  if (options_.read_only) return ReadOnlyError();
  if (value.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("purge value contains a NUL byte");
  }
  return purger_->Install(kind, value, mode, affected);
}

Status StoreImpl::ApplyLoggedPurges(std::string_view log, std::string_view position,
                                    const std::vector<LoggedPurge>& purges) {
  if (options_.read_only) return ReadOnlyError();
  if (log.empty()) return Status::InvalidArgument("purge log without a name");
  std::vector<purge::Rule> rules;
  for (const LoggedPurge& purge : purges) {
    for (const std::string& value : purge.values) {
      if (value.find('\0') != std::string::npos)
        return Status::InvalidArgument("purge value contains a NUL byte");
      if (value.empty() && purge.kind != LoggedPurge::Kind::kPrefixes)
        return Status::InvalidArgument("empty URL or tag in a logged purge");
      if (purge.kind == LoggedPurge::Kind::kUrls) continue;
      purge::Rule& rule = rules.emplace_back();
      rule.kind = purge.kind == LoggedPurge::Kind::kTags ? purge::Rule::Kind::kTag
                                                         : purge::Rule::Kind::kPrefix;
      rule.mode = purge.mode;
      rule.value = value;
    }
  }
  // URL purges first, unsynced: the synced batch of rules and position comes after them in
  // the write-ahead log, and RocksDB recovers a prefix of that log.
  for (const LoggedPurge& purge : purges) {
    if (purge.kind != LoggedPurge::Kind::kUrls || purge.values.empty()) continue;
    Status s = purger_->PurgeUrls(purge.values, purge.mode, nullptr, /*sync=*/false);
    if (!s.ok()) return s;
    PurgeHeld(purge.values, purge.mode, nullptr);
  }
  return purger_->InstallAll(
      std::move(rules), {format::kMetaLogPositionPrefix + std::string(log), std::string(position)});
}

Status StoreImpl::LogPosition(std::string_view log, std::string* position) {
  bool found = false;
  Status s = table_->Get(Family::kMeta, format::kMetaLogPositionPrefix + std::string(log), position,
                         &found);
  if (s.ok() && !found) position->clear();
  return s;
}

StoreCounters StoreImpl::Counters() const {
  StoreCounters c;
  c.objects = static_cast<uint64_t>(std::max<int64_t>(0, objects_.load()));
  c.body_bytes = static_cast<uint64_t>(std::max<int64_t>(0, body_bytes_.load()));
  c.segments = segments_->count();
  c.segment_bytes = c.segments * options_.segment_bytes;
  c.capacity_bytes = options_.capacity_bytes;
  c.hits = hits_.load();
  c.misses = misses_.load();
  c.inserts = inserts_.load();
  c.insert_batches = insert_batches_.load();
  c.evictions = evictions_.load();
  c.reinserted = reinserted_.load();
  if (probation_ != nullptr) {
    c.probation_objects = probation_->objects();
    c.probation_bytes = probation_->bytes();
    c.promoted = probation_->promoted();
    c.not_admitted = probation_->not_admitted();
  }
  c.segments_reclaimed = segments_->reclaimed();
  c.written_bytes = segments_->allocated_bytes();
  c.purges = purger_->purges();
  c.purged_objects = purger_->purged_objects();
  c.ram_cache_hits = ram_hits_.load();
  c.disk_reads = disk_reads_.load();
  c.corrupt_reads = corrupt_reads_.load();
  c.io_errors = io_errors_.load();
  return c;
}

// --- background work ---

void StoreImpl::Enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_all();
}

void StoreImpl::WaitForBackgroundWork() {
  std::unique_lock lock(jobs_mu_);
  jobs_cv_.wait(lock, [this] { return (jobs_.empty() && !job_running_) || closing_; });
}

void StoreImpl::MaintenanceLoop() {
  std::unique_lock lock(jobs_mu_);
  while (!closing_) {
    if (!jobs_.empty()) {
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      job_running_ = true;
      lock.unlock();
      job();
      lock.lock();
      job_running_ = false;
      jobs_cv_.notify_all();
      continue;
    }
    if (purger_ && purger_->HasWaiting()) {
      lock.unlock();
      const bool waiting = purger_->RetireWaiting();
      lock.lock();
      if (waiting) jobs_cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    jobs_cv_.wait(lock);
  }
  jobs_cv_.notify_all();
}

void StoreImpl::CleanupSegment(uint64_t segment) {
  bool stopped = false;
  Status s = table_->ScanSegmentMembers(segment, [&](std::string_view member) {
    if (closing_) return !(stopped = true);  // the segment record stays; Open resumes
    const std::string entry_key(member);
    std::lock_guard stripe(table_->Stripe(entry_key));
    ObjectInfo info;
    bool found = false;
    Status r = table_->GetEntry(entry_key, &info, &found);
    if (!r.ok() || !found) {
      r.IgnoreError();
      return true;
    }
    bool dead = false;
    for (const BodyExtent& e : info.extents) dead = dead || e.segment < segments_->min_live();
    if (!dead) return true;  // replaced by a newer insert elsewhere
    index::EntryTable::Batch batch(*table_);
    batch.DeleteEntry(entry_key, info);
    r = table_->Write(batch, /*sync=*/false, "evict entry");
    if (!r.ok()) {
      spdlog::warn("store {}: {}", dir_, r.ToString());
      return !(stopped = true);
    }
    CountRemoved(info);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    return true;
  });
  if (stopped) return;
  index::EntryTable::Batch batch(*table_);
  batch.ForgetSegment(segment);
  if (s.ok()) s = table_->Write(batch, /*sync=*/false, "forget segment");
  if (!s.ok()) spdlog::warn("store {}: {}", dir_, s.ToString());
}

void StoreImpl::Recount() {
  int64_t objects = 0, bytes = 0;
  Status s = table_->Scan(Family::kEntries, "",
                          [&](std::string_view, std::string_view value) {
                            ObjectInfo info;
                            if (closing_) return false;
                            if (!format::DecodeEntry(value, &info).ok()) return true;
                            ++objects;
                            bytes += static_cast<int64_t>(info.body_length);
                            return true;
                          },
                          {.fill_cache = false});
  if (!s.ok() || closing_) {
    s.IgnoreError();
    return;
  }
  objects_ = objects;
  body_bytes_ = bytes;
  counts_valid_ = true;
}

}  // namespace edgecache
