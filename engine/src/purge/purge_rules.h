// Purge rules: how a purge by tag or by URL prefix takes effect at once, whatever the
// number of objects it covers.
//
// A purge allocates a version number P from the store's version counter and installs a
// rule "objects with tag T (or key prefix K) whose version is below P are gone (hard) or
// stale (soft)". Every lookup checks the entry it found against the rules, so the purge
// holds for every later lookup the moment the rule is installed. The rule is persisted
// before the purge returns; a background job then deletes (or marks stale) the covered
// entries and removes the rule.
//
// Thread safety: Snapshot() is lock-free (an atomic shared_ptr to an immutable set);
// Install and Remove are serialised by the caller (the Purger's publish guard, purger.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "edgecache/object.h"
#include "edgecache/status.h"

namespace edgecache::purge {

struct Rule {
  enum class Kind : char { kTag = 'T', kPrefix = 'P' };
  uint64_t seq = 0;  // covers entries with version < seq
  Kind kind = Kind::kTag;
  PurgeMode mode = PurgeMode::kHard;
  std::string value;  // the tag or the key prefix
};

std::string EncodeRule(const Rule& rule);  // the value stored under format::RuleKey(seq)
Status DecodeRule(uint64_t seq, std::string_view value, Rule* rule);

enum class Verdict { kKeep, kStale, kGone };

class RuleSet {
 public:
  bool empty() const { return by_tag_.empty() && prefixes_.empty(); }
  size_t size() const;
  Verdict Apply(const ObjectInfo& info) const;

 private:
  friend class PurgeRules;
  std::unordered_map<std::string, std::vector<Rule>> by_tag_;
  std::vector<Rule> prefixes_;
};

class PurgeRules {
 public:
  PurgeRules() : set_(std::make_shared<const RuleSet>()) {}

  std::shared_ptr<const RuleSet> Snapshot() const { return set_.load(std::memory_order_acquire); }
  void Install(const std::vector<Rule>& rules);
  void Remove(uint64_t seq);

 private:
  std::atomic<std::shared_ptr<const RuleSet>> set_;
};

}  // namespace edgecache::purge
