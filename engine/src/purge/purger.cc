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

using index::Family;
using internal::HasTag;

// Applies a purge (rule `seq`, `mode`) to one entry if it is older than the purge.
// Returns whether the entry was removed or newly marked stale.
bool StoreImpl::PurgeEntry(const std::string& entry_key, uint64_t seq, PurgeMode mode,
                           const std::function<bool(const ObjectInfo&)>& covered) {
  std::lock_guard stripe(table_->Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  Status s = table_->GetEntry(entry_key, &info, &found);
  if (!s.ok() || !found || info.version >= seq || !covered(info)) {
    s.IgnoreError();  // unreadable entries were dropped by ReadEntry; nothing to purge
    return false;
  }
  index::EntryTable::Batch batch(*table_);
  if (mode == PurgeMode::kHard) {
    batch.DeleteEntry(entry_key, info);
  } else {
    if (info.invalidated) return false;
    info.invalidated = true;
    batch.RewriteEntry(entry_key, info);
  }
  s = table_->Write(batch, /*sync=*/false, "purge entry");
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
      seq = clock_->Next();
      // Inserts begun before this purge must not publish their (older) bodies afterwards.
      uint64_t oldest = clock_->OldestInsert();
      std::erase_if(url_purges_, [oldest](const auto& kv) { return kv.second.first <= oldest; });
      if (oldest < seq) {
        auto& slot = url_purges_[primary];
        if (slot.first == 0 || mode == PurgeMode::kHard) slot = {seq, mode};
        slot.first = seq;
      }
    }
    uint64_t n = 0;
    s = table_->Scan(
        Family::kEntries, format::EntryKeyPrefix(primary),
        [&](std::string_view key, std::string_view) {
          if (PurgeEntry(std::string(key), seq, mode, [](const ObjectInfo&) { return true; })) ++n;
          return true;
        });
    purges_.fetch_add(1, std::memory_order_relaxed);
    if (affected != nullptr) (*affected)[i] = n;
  }
  // One sync makes every purge of the list durable.
  if (s.ok()) s = table_->SyncWal("sync purge");
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
    rule.seq = clock_->Next();
    Status s = table_->Put(Family::kMeta, format::RuleKey(rule.seq), purge::EncodeRule(rule),
                           /*sync=*/true, "record purge");
    if (!s.ok()) return s;
    rules_.Install(rule);
  }
  purges_.fetch_add(1, std::memory_order_relaxed);
  // Counted once the purge is in effect, so the count never delays it, on a snapshot taken
  // before the cleanup starts: the entries the rule covers that were servable (or stale)
  // under the rules before it.
  std::unique_ptr<index::EntryTable::Snapshot> snapshot;
  if (affected != nullptr) snapshot = table_->TakeSnapshot();
  Enqueue([this, rule] { CleanupRule(rule); });
  if (affected == nullptr) return Status::OK();
  *affected = 0;
  const bool by_tag = kind == purge::Rule::Kind::kTag;
  const std::string prefix = by_tag ? format::TagKeyPrefix(rule.value) : rule.value;
  Status s = table_->Scan(
      by_tag ? Family::kTags : Family::kEntries, prefix,
      [&](std::string_view key, std::string_view value) {
        const std::string_view entry_key = key.substr(by_tag ? prefix.size() : 0);
        ObjectInfo info;
        std::string entry;
        bool found = true;
        if (by_tag) {
          Status r = table_->Get(Family::kEntries, entry_key, &entry, &found, snapshot.get());
          if (!r.ok() || !found) {
            r.IgnoreError();  // not countable; the cleanup will still see it
            return true;
          }
          value = entry;
        }
        if (format::DecodeEntry(value, &info).ok() && format::SplitEntryKey(entry_key, &info.key) &&
            info.version < rule.seq && (!by_tag || HasTag(info, rule.value)) &&
            Classify(info, *before) != Serve::kNo)
          ++*affected;
        return true;
      },
      {.snapshot = snapshot.get(), .fill_cache = false});
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
  Status s = table_->Scan(by_tag ? Family::kTags : Family::kEntries, prefix,
                          [&](std::string_view key, std::string_view) {
                            if (closing_) return false;  // the rule stays; Open resumes it
                            PurgeEntry(std::string(key.substr(by_tag ? prefix.size() : 0)),
                                       rule.seq, rule.mode, covered);
                            return true;
                          });
  if (closing_) {
    s.IgnoreError();
    return;
  }
  if (s.ok()) s = table_->SyncWal("sync purge");
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
  if (clock_->OldestInsert() < rule.seq) return false;
  std::unique_lock rules_lock(rules_mu_);
  Status s =
      table_->Delete(Family::kMeta, format::RuleKey(rule.seq), /*sync=*/true, "retire purge rule");
  if (!s.ok()) {
    spdlog::warn("store {}: {}", dir_, s.ToString());
    return false;
  }
  rules_.Remove(rule.seq);
  return true;
}

}  // namespace edgecache
