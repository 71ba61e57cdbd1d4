#include "purge/purge_rules.h"

#include <algorithm>

namespace edgecache::purge {
namespace {

Verdict Worse(Verdict a, Verdict b) { return static_cast<int>(a) > static_cast<int>(b) ? a : b; }

Verdict Of(const Rule& rule, uint64_t version) {
  if (version >= rule.seq) return Verdict::kKeep;
  return rule.mode == PurgeMode::kHard ? Verdict::kGone : Verdict::kStale;
}

}  // namespace

std::string EncodeRule(const Rule& rule) {
  std::string out;
  out.push_back(static_cast<char>(rule.kind));
  out.push_back(rule.mode == PurgeMode::kHard ? 'H' : 'S');
  out += rule.value;
  return out;
}

Status DecodeRule(uint64_t seq, std::string_view value, Rule* rule) {
  if (value.size() < 2 || (value[0] != 'T' && value[0] != 'P') ||
      (value[1] != 'H' && value[1] != 'S')) {
    return Status::Corruption("index: bad purge rule");
  }
  rule->seq = seq;
  rule->kind = static_cast<Rule::Kind>(value[0]);
  rule->mode = value[1] == 'H' ? PurgeMode::kHard : PurgeMode::kSoft;
  rule->value.assign(value.substr(2));
  return Status::OK();
}

size_t RuleSet::size() const {
  size_t n = prefixes_.size();
  for (const auto& [tag, rules] : by_tag_) n += rules.size();
  return n;
}

Verdict RuleSet::Apply(const ObjectInfo& info) const {
  Verdict v = Verdict::kKeep;
  if (!by_tag_.empty()) {
    for (const auto& tag : info.meta.tags) {
      auto it = by_tag_.find(tag);
      if (it == by_tag_.end()) continue;
      for (const Rule& r : it->second) v = Worse(v, Of(r, info.version));
    }
  }
  for (const Rule& r : prefixes_) {
    if (info.key.primary.starts_with(r.value)) v = Worse(v, Of(r, info.version));
  }
  return v;
}

void PurgeRules::Install(const std::vector<Rule>& rules) {
  // One copy of the set for the whole batch: a catch-up installs thousands at once.
  auto next = std::make_shared<RuleSet>(*Snapshot());
  for (const Rule& rule : rules) {
    if (rule.kind == Rule::Kind::kTag) {
      next->by_tag_[rule.value].push_back(rule);
    } else {
      next->prefixes_.push_back(rule);
    }
  }
  set_.store(std::move(next), std::memory_order_release);
}

void PurgeRules::Remove(uint64_t seq) {
  auto next = std::make_shared<RuleSet>(*Snapshot());
  auto has_seq = [seq](const Rule& r) { return r.seq == seq; };
  for (auto it = next->by_tag_.begin(); it != next->by_tag_.end();) {
    std::erase_if(it->second, has_seq);
    it = it->second.empty() ? next->by_tag_.erase(it) : std::next(it);
  }
  std::erase_if(next->prefixes_, has_seq);
  set_.store(std::move(next), std::memory_order_release);
}

}  // namespace edgecache::purge
