// Purges: by URL (entries dropped or marked stale at once), and by tag or key prefix
// (a rule installed at once, persisted, then applied to the covered entries by a
// background job and retired: purge/purge_rules.h).
#include <spdlog/spdlog.h>

#include "format/coding.h"
#include "format/index_layout.h"
#include "format/record.h"
#include "store_impl.h"
#include "store_internal.h"

namespace edgecache {

using index::FromRocks;
using internal::HasTag;
using internal::WriteOpts;

// Applies a purge (rule `seq`, `mode`) to one entry if it is older than the purge.
// Returns whether the entry was removed or newly marked stale.
bool StoreImpl::PurgeEntry(const std::string& entry_key, uint64_t seq, PurgeMode mode,
                           const std::function<bool(const ObjectInfo&)>& covered) {
  std::lock_guard stripe(Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  Status s = ReadEntry(entry_key, &info, &found);
  if (!s.ok() || !found || info.version >= seq || !covered(info)) {
    s.IgnoreError();  // unreadable entries were dropped by ReadEntry; nothing to purge
    return false;
  }
  rocksdb::WriteBatch batch;
  if (mode == PurgeMode::kHard) {
    DeleteEntry(entry_key, info, &batch);
  } else {
    if (info.invalidated) return false;
    info.invalidated = true;
    batch.Put(index_.entries, entry_key, format::EncodeEntry(info));
  }
  s = FromRocks(index_.db->Write(WriteOpts(false), &batch), "purge entry");
  if (!s.ok()) {
    spdlog::warn("store {}: {}", dir_, s.ToString());
    return false;
  }
  if (mode == PurgeMode::kHard) CountRemoved(info);
  purged_objects_.fetch_add(1, std::memory_order_relaxed);
  return true;
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
  if (affected != nullptr) affected->assign(primaries.size(), 0);
  Status s;
  for (size_t i = 0; i < primaries.size() && s.ok(); ++i) {
    const std::string& primary = primaries[i];
    uint64_t seq = 0;
    {
      std::unique_lock rules_lock(rules_mu_);
      seq = NextVersion();
      // Inserts begun before this purge must not publish their (older) bodies afterwards.
      uint64_t oldest = OldestInflightInsert();
      std::erase_if(url_purges_, [oldest](const auto& kv) { return kv.second.first <= oldest; });
      if (oldest < seq) {
        auto& slot = url_purges_[primary];
        if (slot.first == 0 || mode == PurgeMode::kHard) slot = {seq, mode};
        slot.first = seq;
      }
    }
    uint64_t n = 0;
    const std::string prefix = format::EntryKeyPrefix(primary);
    std::unique_ptr<rocksdb::Iterator> it(
        index_.db->NewIterator(rocksdb::ReadOptions(), index_.entries));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (PurgeEntry(it->key().ToString(), seq, mode, [](const ObjectInfo&) { return true; })) ++n;
    }
    s = FromRocks(it->status(), "scan variants");
    purges_.fetch_add(1, std::memory_order_relaxed);
    if (affected != nullptr) (*affected)[i] = n;
  }
  // One sync makes every purge of the list durable.
  if (s.ok()) s = FromRocks(index_.db->SyncWAL(), "sync purge");
  return s;
}

Status StoreImpl::InstallRule(purge::Rule::Kind kind, std::string_view value, PurgeMode mode,
                              uint64_t* affected) {
  if (options_.read_only) return ReadOnlyError();
  if (value.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("purge value contains a NUL byte");
  }
  purge::Rule rule;
  rule.kind = kind;
  rule.mode = mode;
  rule.value = std::string(value);
  std::shared_ptr<const purge::RuleSet> before;  // the rules without this one, for the count
  {
    std::unique_lock rules_lock(rules_mu_);
    before = rules_.Snapshot();
    rule.seq = NextVersion();
    Status s = FromRocks(index_.db->Put(WriteOpts(true), index_.meta, format::RuleKey(rule.seq),
                                        purge::EncodeRule(rule)),
                         "record purge");
    if (!s.ok()) return s;
    rules_.Install(rule);
  }
  purges_.fetch_add(1, std::memory_order_relaxed);
  // Counted once the purge is in effect, so the count never delays it, on a snapshot taken
  // before the cleanup starts: the entries the rule covers that were servable (or stale)
  // under the rules before it.
  const rocksdb::Snapshot* snapshot = affected ? index_.db->GetSnapshot() : nullptr;
  Enqueue([this, rule] { CleanupRule(rule); });
  if (affected == nullptr) return Status::OK();
  *affected = 0;
  const bool by_tag = kind == purge::Rule::Kind::kTag;
  const std::string prefix = by_tag ? format::TagKeyPrefix(rule.value) : rule.value;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.snapshot = snapshot;
  std::unique_ptr<rocksdb::Iterator> it(
      index_.db->NewIterator(ro, by_tag ? index_.tags : index_.entries));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view entry_key = it->key().ToStringView().substr(by_tag ? prefix.size() : 0);
    ObjectInfo info;
    std::string value;
    if (by_tag && !index_.db->Get(ro, index_.entries, entry_key, &value).ok()) continue;
    if (!format::DecodeEntry(by_tag ? std::string_view(value) : it->value().ToStringView(), &info)
             .ok() ||
        !format::SplitEntryKey(entry_key, &info.key) || info.version >= rule.seq ||
        (by_tag && !HasTag(info, rule.value)))
      continue;
    if (Classify(info, *before) != Serve::kNo) ++*affected;
  }
  Status s = FromRocks(it->status(), "count purged entries");
  it.reset();
  index_.db->ReleaseSnapshot(snapshot);
  // The purge itself succeeded and is durable: a failed count is only logged.
  if (!s.ok()) spdlog::warn("store {}: {} (the purge is in effect)", dir_, s.ToString());
  return Status::OK();
}

Status StoreImpl::PurgeTag(std::string_view tag, PurgeMode mode, uint64_t* affected) {
  if (tag.empty()) return Status::InvalidArgument("empty tag");
  return InstallRule(purge::Rule::Kind::kTag, tag, mode, affected);
}

Status StoreImpl::PurgePrefix(std::string_view prefix, PurgeMode mode, uint64_t* affected) {
  return InstallRule(purge::Rule::Kind::kPrefix, prefix, mode, affected);
}

void StoreImpl::CleanupRule(const purge::Rule& rule) {
  const bool by_tag = rule.kind == purge::Rule::Kind::kTag;
  const std::string prefix = by_tag ? format::TagKeyPrefix(rule.value) : rule.value;
  auto covered = [&rule, by_tag](const ObjectInfo& info) {
    return by_tag ? HasTag(info, rule.value) : info.key.primary.starts_with(rule.value);
  };
  std::unique_ptr<rocksdb::Iterator> it(
      index_.db->NewIterator(rocksdb::ReadOptions(), by_tag ? index_.tags : index_.entries));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (closing_) return;  // the rule stays recorded; the next Open resumes it
    PurgeEntry(it->key().ToString().substr(by_tag ? prefix.size() : 0), rule.seq, rule.mode,
               covered);
  }
  Status s = FromRocks(it->status(), "purge scan");
  if (s.ok()) s = FromRocks(index_.db->SyncWAL(), "sync purge");
  if (!s.ok()) {
    spdlog::warn("store {}: purge cleanup stopped: {}", dir_, s.ToString());
    return;
  }
  if (!TryRetireRule(rule)) {
    std::lock_guard lock(jobs_mu_);
    retiring_.push_back(rule);
  }
}

bool StoreImpl::TryRetireRule(const purge::Rule& rule) {
  // An insert begun before the purge could still publish an old body: keep the rule
  // until every such insert has finished.
  if (OldestInflightInsert() < rule.seq) return false;
  std::unique_lock rules_lock(rules_mu_);
  Status s = FromRocks(index_.db->Delete(WriteOpts(true), index_.meta, format::RuleKey(rule.seq)),
                       "retire purge rule");
  if (!s.ok()) {
    spdlog::warn("store {}: {}", dir_, s.ToString());
    return false;
  }
  rules_.Remove(rule.seq);
  return true;
}

}  // namespace edgecache
