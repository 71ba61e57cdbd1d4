#include "cache/ghost_list.h"

#include <algorithm>

namespace edgecache::cache {
namespace {

constexpr int kProbes = 7;  // with 10 bits per key: about 1% false positives
constexpr uint64_t kBitsPerKey = 10;

// The i-th probe of `hash` (double hashing) in a filter of `bits` bits.
uint64_t Probe(uint64_t hash, int i, uint64_t bits) {
  const uint64_t h1 = hash, h2 = (hash >> 32) | 1;
  return (h1 + static_cast<uint64_t>(i) * h2) % bits;
}

}  // namespace

void GhostList::Bloom::Reset(uint64_t new_quota) {
  quota = std::max<uint64_t>(new_quota, 1024);
  keys = 0;
  bits.assign((quota * kBitsPerKey + 63) / 64, 0);
}

void GhostList::Bloom::Add(uint64_t hash) {
  const uint64_t n = bits.size() * 64;
  for (int i = 0; i < kProbes; ++i) {
    const uint64_t b = Probe(hash, i, n);
    bits[b / 64] |= 1ull << (b % 64);
  }
  ++keys;
}

bool GhostList::Bloom::Contains(uint64_t hash) const {
  if (bits.empty()) return false;
  const uint64_t n = bits.size() * 64;
  for (int i = 0; i < kProbes; ++i) {
    const uint64_t b = Probe(hash, i, n);
    if ((bits[b / 64] & (1ull << (b % 64))) == 0) return false;
  }
  return true;
}

void GhostList::Add(uint64_t hash, uint64_t quota) {
  if (current_.bits.empty()) current_.Reset(quota);
  if (current_.keys >= current_.quota) {
    std::swap(previous_, current_);
    current_.Reset(quota);
  }
  current_.Add(hash);
}

bool GhostList::Contains(uint64_t hash) const {
  return current_.Contains(hash) || previous_.Contains(hash);
}

}  // namespace edgecache::cache
