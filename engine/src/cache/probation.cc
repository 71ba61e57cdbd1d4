#include "cache/probation.h"

#include <xxhash.h>

#include <algorithm>

namespace edgecache::cache {

namespace {

// Slots of the counting filter: about four per object the queue can hold (objects cost
// at least ~300 bytes, most far more), between 64 Ki and 4 Mi.
size_t SlotsFor(uint64_t capacity_bytes) {
  size_t slots = 1 << 16;
  while (slots < (4u << 20) && slots < capacity_bytes / 256) slots <<= 1;
  return slots;
}

}  // namespace

Probation::Probation(uint64_t capacity_bytes, std::function<uint64_t()> main_objects)
    : capacity_bytes_(capacity_bytes),
      max_body_bytes_(capacity_bytes / 8),
      main_objects_(std::move(main_objects)),
      slots_(SlotsFor(capacity_bytes)),
      held_per_slot_(std::make_unique<std::atomic<uint32_t>[]>(slots_)) {}

std::atomic<uint32_t>& Probation::Slot(std::string_view entry_key) const {
  return held_per_slot_[XXH3_64bits(entry_key.data(), entry_key.size()) & (slots_ - 1)];
}

uint64_t Probation::Cost(const std::string& entry_key, const Item& item) {
  constexpr uint64_t kOverhead = 256;  // map and list nodes, the item's own fields
  return kOverhead + 2 * entry_key.size() + item.record->size() +
         item.info.meta.headers.size() * 64;
}

bool Probation::InGhost(std::string_view entry_key) const {
  const uint64_t hash = XXH3_64bits(entry_key.data(), entry_key.size());
  std::lock_guard lock(mu_);
  return ghost_.Contains(hash);
}

Probation::Item Probation::Remove(std::unordered_map<std::string, Held>::iterator it) {
  bytes_ -= it->second.cost;
  Slot(it->first).fetch_sub(1, std::memory_order_relaxed);
  fifo_.erase(it->second.in_fifo);
  Item item = std::move(it->second.item);
  held_.erase(it);
  return item;
}

void Probation::Add(const std::string& entry_key, Item item, std::vector<Item>* promote,
                    std::vector<Item>* dropped) {
  const uint64_t quota = main_objects_();
  std::lock_guard lock(mu_);
  if (auto it = held_.find(entry_key); it != held_.end()) dropped->push_back(Remove(it));
  const uint64_t cost = Cost(entry_key, item);
  while (bytes_ + cost > capacity_bytes_ && !fifo_.empty()) {
    auto oldest = held_.find(fifo_.front());
    const bool requested = oldest->second.requested;
    if (requested) {
      ++promoted_;
    } else {
      ++not_admitted_;
      ghost_.Add(XXH3_64bits(oldest->first.data(), oldest->first.size()), quota);
    }
    (requested ? promote : dropped)->push_back(Remove(oldest));
  }
  fifo_.push_back(entry_key);
  held_.emplace(entry_key, Held{std::move(item), cost, false, std::prev(fifo_.end())});
  bytes_ += cost;
  Slot(entry_key).fetch_add(1, std::memory_order_relaxed);
}

bool Probation::Find(const std::string& entry_key, ObjectInfo* info) {
  if (Slot(entry_key).load(std::memory_order_relaxed) == 0) return false;
  std::lock_guard lock(mu_);
  auto it = held_.find(entry_key);
  if (it == held_.end()) return false;
  it->second.requested = true;
  *info = it->second.item.info;
  return true;
}

std::shared_ptr<const std::string> Probation::Record(const std::string& entry_key,
                                                     uint64_t body_version) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(entry_key);
  if (it == held_.end() || it->second.item.info.body_version != body_version) return nullptr;
  return it->second.item.record;
}

bool Probation::UpdateMeta(const std::string& entry_key, uint64_t expected_version,
                           const ObjectMeta& meta, uint64_t new_version, Status* result) {
  std::lock_guard lock(mu_);
  auto it = held_.find(entry_key);
  if (it == held_.end()) return false;
  ObjectInfo& info = it->second.item.info;
  if (info.version != expected_version) {
    *result = Status::Aborted("the entry changed since it was looked up");
    return true;
  }
  info.meta = meta;
  info.version = new_version;
  info.invalidated = false;
  *result = Status::OK();
  return true;
}

void Probation::Erase(const std::string& entry_key, uint64_t below_version,
                      std::vector<Item>* dropped) {
  std::lock_guard lock(mu_);
  auto it = held_.find(entry_key);
  if (it != held_.end() && it->second.item.info.version < below_version) {
    dropped->push_back(Remove(it));
  }
}

bool Probation::Invalidate(const std::string& entry_key) {
  std::lock_guard lock(mu_);
  auto it = held_.find(entry_key);
  if (it == held_.end()) return false;
  it->second.item.info.invalidated = true;
  return true;
}

uint64_t Probation::objects() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

uint64_t Probation::promoted() const {
  std::lock_guard lock(mu_);
  return promoted_;
}

uint64_t Probation::not_admitted() const {
  std::lock_guard lock(mu_);
  return not_admitted_;
}

uint64_t Probation::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace edgecache::cache
