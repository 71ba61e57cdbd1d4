// GhostList: the keys recently dropped from probation (cache/probation.h), in fixed memory
// per key: two Bloom filters, the current one taking new keys and the previous one still
// answering, swapped (the previous one cleared) once the current one holds its quota. A
// key is remembered for between one and two quotas of later keys; a false positive (about
// 1%) only admits an object at once.
//
// Thread safety: none; the owner serialises calls.
#pragma once

#include <cstdint>
#include <vector>

namespace edgecache::cache {

class GhostList {
 public:
  // Remembers `hash`. When the current filter is full, the filters rotate and the new one
  // is sized for `quota` keys.
  void Add(uint64_t hash, uint64_t quota);
  bool Contains(uint64_t hash) const;

 private:
  struct Bloom {
    std::vector<uint64_t> bits;
    uint64_t keys = 0, quota = 0;
    void Reset(uint64_t quota);
    void Add(uint64_t hash);
    bool Contains(uint64_t hash) const;
  };
  Bloom current_, previous_;
};

}  // namespace edgecache::cache
