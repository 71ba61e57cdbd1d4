#include "index/version_clock.h"

#include <spdlog/spdlog.h>

#include "format/coding.h"
#include "format/index_layout.h"

namespace edgecache::index {
namespace {

constexpr uint64_t kVersionBlock = 1 << 20;

}  // namespace

Status VersionClock::Load() {
  std::string value;
  bool found = false;
  Status s = table_.Get(Family::kMeta, format::kMetaVersionReserved, &value, &found);
  if (!s.ok()) return s;
  if (found && value.size() != 8) return Status::Corruption("index: bad version reservation");
  if (found) next_ = format::DecodeBigEndian64(value.data());
  // Nothing is reserved beyond what the last run may have used: the first Next persists
  // a new block.
  reserved_ = next_.load();
  return Status::OK();
}

uint64_t VersionClock::Next() {
  uint64_t v = next_.fetch_add(1);
  if (v >= reserved_.load()) {
    std::lock_guard lock(reserve_mu_);
    while (v >= reserved_.load()) {
      uint64_t reserve = reserved_.load() + kVersionBlock;
      std::string value;
      format::PutBigEndian64(&value, reserve);
      Status s = table_.Put(Family::kMeta, format::kMetaVersionReserved, value, /*sync=*/true,
                            "reserve versions");
      // Going on is safe: versions only order entries against purges, and a restart after
      // this failure can at worst make an entry look older than a purge (a spurious miss).
      if (!s.ok()) spdlog::error("{}", s.ToString());
      reserved_ = reserve;
    }
  }
  return v;
}

uint64_t VersionClock::BeginInsert() {
  std::lock_guard lock(inflight_mu_);
  uint64_t version = Next();
  inflight_.insert(version);
  return version;
}

void VersionClock::EndInsert(uint64_t version) {
  std::lock_guard lock(inflight_mu_);
  inflight_.erase(inflight_.find(version));
}

uint64_t VersionClock::OldestInsert() const {
  std::lock_guard lock(inflight_mu_);
  return inflight_.empty() ? UINT64_MAX : *inflight_.begin();
}

}  // namespace edgecache::index
