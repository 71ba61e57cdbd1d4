// PresenceFilter: see presence_filter.h.
#include "index/presence_filter.h"

#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <xxhash.h>

#include <algorithm>

namespace edgecache::index {
namespace {

constexpr uint64_t kBlockBytes = 64;  // one cache line
constexpr int kProbes = 8;
constexpr uint64_t kBitsPerKey = 16;

}  // namespace

PresenceFilter::PresenceFilter(uint64_t bytes)
    : blocks_(std::max<uint64_t>(1, bytes / kBlockBytes)),
      sized_keys_(blocks_ * kBlockBytes * 8 / kBitsPerKey) {
  void* p = ::mmap(nullptr, blocks_ * kBlockBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  // Without its memory the filter never answers: every key is a "maybe".
  words_ = p == MAP_FAILED ? nullptr : static_cast<uint64_t*>(p);
  // Every probe lands on a random block: in 4 KiB pages nearly each one also missed the
  // TLB. Huge pages where the kernel has them (a hint: without, the filter works the same).
  if (words_ != nullptr) ::madvise(p, blocks_ * kBlockBytes, MADV_HUGEPAGE);
}

PresenceFilter::~PresenceFilter() {
  if (words_ != nullptr) ::munmap(words_, blocks_ * kBlockBytes);
}

PresenceFilter::Probe PresenceFilter::ProbeFor(std::string_view primary) const {
  const uint64_t h = XXH3_64bits(primary.data(), primary.size());
  // The block from the hash's high bits (multiply-shift), the bits in it from its low ones.
  const uint64_t block = static_cast<uint64_t>((static_cast<unsigned __int128>(h) * blocks_) >> 64);
  return {block, static_cast<uint32_t>(h)};
}

void PresenceFilter::Add(std::string_view primary) {
  if (words_ == nullptr) return;
  Probe p = ProbeFor(primary);
  uint64_t* block = words_ + p.block * (kBlockBytes / 8);
  bool new_bit = false;
  for (int i = 0; i < kProbes; ++i) {
    const uint32_t bit = p.hash >> 23;  // 0..511
    const uint64_t mask = uint64_t{1} << (bit & 63);
    // Release: a reader that sees a write made after this sees the bit too.
    const uint64_t was =
        std::atomic_ref<uint64_t>(block[bit >> 6]).fetch_or(mask, std::memory_order_release);
    new_bit |= (was & mask) == 0;
    p.hash *= 0x9e3779b9u;
  }
  if (new_bit && distinct_.fetch_add(1, std::memory_order_relaxed) == sized_keys_ &&
      !full_warned_.exchange(true)) {
    spdlog::warn(
        "index presence filter holds the {} keys it was sized for: lookups of new URLs read "
        "the index until the store is opened again",
        sized_keys_);
  }
}

bool PresenceFilter::MayContain(std::string_view primary) const {
  if (!answering()) return true;
  Probe p = ProbeFor(primary);
  uint64_t* block = words_ + p.block * (kBlockBytes / 8);
  for (int i = 0; i < kProbes; ++i) {
    const uint32_t bit = p.hash >> 23;
    const uint64_t word =
        std::atomic_ref<uint64_t>(block[bit >> 6]).load(std::memory_order_acquire);
    if ((word & (uint64_t{1} << (bit & 63))) == 0) return false;
    p.hash *= 0x9e3779b9u;
  }
  return true;
}

void PresenceFilter::MarkFilled() { filled_.store(true, std::memory_order_release); }

bool PresenceFilter::answering() const {
  return words_ != nullptr && filled_.load(std::memory_order_acquire) &&
         distinct_.load(std::memory_order_relaxed) <= sized_keys_;
}

}  // namespace edgecache::index
