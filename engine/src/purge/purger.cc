#include "purge/purger.h"

#include <spdlog/spdlog.h>

#include "format/coding.h"
#include "format/index_layout.h"
#include "store_internal.h"

namespace edgecache::purge {

using index::Family;
using internal::HasTag;

Status Purger::Load(std::vector<Rule>* loaded) {
  const std::string prefix = format::kMetaRulePrefix;
  Status bad;
  Status s =
      p_.table.Scan(Family::kMeta, prefix, [&](std::string_view key, std::string_view value) {
        Rule rule;
        bad = key.size() == prefix.size() + 8
                  ? DecodeRule(format::DecodeBigEndian64(key.data() + prefix.size()), value, &rule)
                  : Status::Corruption("index: bad rule key");
        if (!bad.ok()) return false;
        loaded->push_back(std::move(rule));
        return true;
      });
  if (s.ok() && bad.ok()) rules_.Install(*loaded);
  return s.ok() ? bad : s;
}

bool Purger::PurgeEntry(const std::string& entry_key, uint64_t seq, PurgeMode mode,
                        const std::function<bool(const ObjectInfo&)>& covered) {
  std::lock_guard stripe(p_.table.Stripe(entry_key));
  ObjectInfo info;
  bool found = false;
  Status s = p_.table.GetEntry(entry_key, &info, &found);
  if (!s.ok() || !found || info.version >= seq || !covered(info)) {
    s.IgnoreError();  // unreadable entries were dropped by GetEntry; nothing to purge
    return false;
  }
  index::EntryTable::Batch batch(p_.table);
  if (mode == PurgeMode::kHard) {
    batch.DeleteEntry(entry_key, info);
  } else {
    if (info.invalidated) return false;
    info.invalidated = true;
    batch.RewriteEntry(entry_key, info);
  }
  s = p_.table.Write(batch, /*sync=*/false, "purge entry");
  if (!s.ok()) {
    spdlog::warn("{}", s.ToString());
    return false;
  }
  if (mode == PurgeMode::kHard) p_.removed(info);
  purged_objects_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

Status Purger::PurgeUrls(const std::vector<std::string>& primaries, PurgeMode mode,
                         std::vector<uint64_t>* affected, bool sync) {
  if (affected != nullptr) affected->assign(primaries.size(), 0);
  Status s;
  for (size_t i = 0; i < primaries.size() && s.ok(); ++i) {
    const std::string& primary = primaries[i];
    uint64_t seq = 0;
    {
      std::unique_lock guard(mu_);
      seq = p_.clock.Next();
      // Inserts begun before this purge must not publish their (older) bodies afterwards.
      uint64_t oldest = p_.clock.OldestInsert();
      std::erase_if(url_purges_, [oldest](const auto& kv) { return kv.second.first <= oldest; });
      if (oldest < seq) {
        auto& slot = url_purges_[primary];
        if (slot.first == 0 || mode == PurgeMode::kHard) slot = {seq, mode};
        slot.first = seq;
      }
    }
    uint64_t n = 0;
    s = p_.table.Scan(
        Family::kEntries, format::EntryKeyPrefix(primary),
        [&](std::string_view key, std::string_view) {
          if (PurgeEntry(std::string(key), seq, mode, [](const ObjectInfo&) { return true; })) ++n;
          return true;
        });
    purges_.fetch_add(1, std::memory_order_relaxed);
    if (affected != nullptr) (*affected)[i] = n;
  }
  // One sync makes every purge of the list durable.
  if (s.ok() && sync) s = p_.table.SyncWal("sync purge");
  return s;
}

Status Purger::InstallRules(std::vector<Rule>* rules, const Record* record,
                            std::shared_ptr<const RuleSet>* before) {
  {
    std::unique_lock guard(mu_);
    *before = rules_.Snapshot();
    index::EntryTable::Batch batch(p_.table);
    for (Rule& rule : *rules) {
      rule.seq = p_.clock.Next();
      batch.PutMeta(format::RuleKey(rule.seq), EncodeRule(rule));
    }
    if (record != nullptr) batch.PutMeta(record->key, record->value);
    Status s = p_.table.Write(batch, /*sync=*/true, "record purge");
    if (!s.ok()) return s;
    rules_.Install(*rules);
  }
  purges_.fetch_add(rules->size(), std::memory_order_relaxed);
  return Status::OK();
}

Status Purger::InstallAll(std::vector<Rule> rules, const Record& record) {
  std::shared_ptr<const RuleSet> before;
  Status s = InstallRules(&rules, &record, &before);
  if (!s.ok()) return s;
  for (const Rule& rule : rules) p_.enqueue([this, rule] { Cleanup(rule); });
  return Status::OK();
}

Status Purger::Install(Rule::Kind kind, std::string_view value, PurgeMode mode,
                       uint64_t* affected) {
  std::vector<Rule> rules(1);
  rules[0].kind = kind;
  rules[0].mode = mode;
  rules[0].value = std::string(value);
  std::shared_ptr<const RuleSet> before;  // the rules without this one, for the count
  Status s = InstallRules(&rules, nullptr, &before);
  if (!s.ok()) return s;
  const Rule& rule = rules[0];
  // Counted once the purge is in effect, so the count never delays it, on a snapshot taken
  // before the cleanup starts.
  std::unique_ptr<index::EntryTable::Snapshot> snapshot;
  if (affected != nullptr) snapshot = p_.table.TakeSnapshot();
  p_.enqueue([this, rule] { Cleanup(rule); });
  if (affected == nullptr) return Status::OK();
  s = Count(rule, *before, *snapshot, affected);
  // The purge itself succeeded and is durable: a failed count is only logged.
  if (!s.ok()) spdlog::warn("{} (the purge is in effect)", s.ToString());
  return Status::OK();
}

Status Purger::Count(const Rule& rule, const RuleSet& before,
                     const index::EntryTable::Snapshot& snapshot, uint64_t* affected) {
  *affected = 0;
  const bool by_tag = rule.kind == Rule::Kind::kTag;
  const std::string prefix = by_tag ? format::TagKeyPrefix(rule.value) : rule.value;
  const uint64_t min_live = p_.segments.min_live();
  return p_.table.Scan(by_tag ? Family::kTags : Family::kEntries, prefix,
                       [&](std::string_view key, std::string_view value) {
                         const std::string_view entry_key = key.substr(by_tag ? prefix.size() : 0);
                         ObjectInfo info;
                         std::string entry;
                         if (by_tag) {
                           bool found = false;
                           Status r =
                               p_.table.Get(Family::kEntries, entry_key, &entry, &found, &snapshot);
                           if (!r.ok() || !found) {
                             r.IgnoreError();  // not countable; the cleanup will still see it
                             return true;
                           }
                           value = entry;
                         }
                         if (!format::DecodeEntry(value, &info).ok() ||
                             !format::SplitEntryKey(entry_key, &info.key) ||
                             info.version >= rule.seq || (by_tag && !HasTag(info, rule.value))) {
                           return true;
                         }
                         bool live = true;
                         for (const BodyExtent& e : info.extents)
                           live = live && e.segment >= min_live;
                         if (live && (before.empty() || before.Apply(info) != Verdict::kGone))
                           ++*affected;
                         return true;
                       },
                       {.snapshot = &snapshot, .fill_cache = false});
}

void Purger::Cleanup(const Rule& rule) {
  const bool by_tag = rule.kind == Rule::Kind::kTag;
  const std::string prefix = by_tag ? format::TagKeyPrefix(rule.value) : rule.value;
  auto covered = [&rule, by_tag](const ObjectInfo& info) {
    return by_tag ? HasTag(info, rule.value) : info.key.primary.starts_with(rule.value);
  };
  Status s = p_.table.Scan(by_tag ? Family::kTags : Family::kEntries, prefix,
                           [&](std::string_view key, std::string_view) {
                             if (p_.closing) return false;  // the rule stays; Open resumes it
                             PurgeEntry(std::string(key.substr(by_tag ? prefix.size() : 0)),
                                        rule.seq, rule.mode, covered);
                             return true;
                           });
  if (p_.closing) {
    s.IgnoreError();
    return;
  }
  if (s.ok()) s = p_.table.SyncWal("sync purge");
  if (!s.ok()) {
    spdlog::warn("purge cleanup stopped: {}", s.ToString());
    return;
  }
  if (!TryRetire(rule)) {
    std::lock_guard lock(retiring_mu_);
    retiring_.push_back(rule);
  }
}

bool Purger::HasWaiting() const {
  std::lock_guard lock(retiring_mu_);
  return !retiring_.empty();
}

bool Purger::RetireWaiting() {
  std::vector<Rule> pending;
  {
    std::lock_guard lock(retiring_mu_);
    pending.swap(retiring_);
  }
  std::erase_if(pending, [this](const Rule& r) { return TryRetire(r); });
  std::lock_guard lock(retiring_mu_);
  retiring_.insert(retiring_.end(), pending.begin(), pending.end());
  return !retiring_.empty();
}

bool Purger::TryRetire(const Rule& rule) {
  // An insert begun before the purge could still publish an old body: keep the rule
  // until every such insert has finished.
  if (p_.clock.OldestInsert() < rule.seq) return false;
  std::unique_lock guard(mu_);
  Status s =
      p_.table.Delete(Family::kMeta, format::RuleKey(rule.seq), /*sync=*/true, "retire purge rule");
  if (!s.ok()) {
    spdlog::warn("{}", s.ToString());
    return false;
  }
  rules_.Remove(rule.seq);
  return true;
}

Status Purger::Admit(ObjectInfo* info) const {
  switch (rules_.Snapshot()->Apply(*info)) {
    case Verdict::kGone:
      return Status::Aborted("purged while being written");
    case Verdict::kStale:
      info->invalidated = true;
      break;
    case Verdict::kKeep:
      break;
  }
  if (auto it = url_purges_.find(info->key.primary);
      it != url_purges_.end() && info->version < it->second.first) {
    if (it->second.second == PurgeMode::kHard) return Status::Aborted("purged while being written");
    info->invalidated = true;
  }
  return Status::OK();
}

}  // namespace edgecache::purge
