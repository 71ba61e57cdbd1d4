// PresenceFilter: which primary keys (URLs) the index may hold, in RAM, so that looking up
// a URL that was never stored (every miss of new content) costs neither an entry-cache
// probe nor an index read, when it is looked up and again when its insert is published.
//
// A blocked Bloom filter over hashes of primary keys (one 64-byte block per key, 8 bits
// set in it; ~0.2% false positives at its sized number of keys). "Absent" is certain,
// "maybe" is checked in the index as before. A key is added before the first write that
// makes it visible (an entry or Vary names), and never removed: a purged or evicted URL
// stays a "maybe" until the next open, which fills a new filter by one scan of the index.
// That scan runs in the background; until it has finished every key is a "maybe". Keys
// added concurrently go into the filter being filled, so none is missed.
//
// It cannot grow: once more distinct keys than it was sized for have been added since the
// open, it stops answering (every key a "maybe", a warning logged) until the next open.
//
// Thread safety: all methods may be called concurrently from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace edgecache::index {

class PresenceFilter {
 public:
  // `bytes`: its size, rounded down to whole 64-byte blocks (at least one). Its pages are
  // mapped lazily (untouched blocks cost no RAM).
  explicit PresenceFilter(uint64_t bytes);
  ~PresenceFilter();
  PresenceFilter(const PresenceFilter&) = delete;
  PresenceFilter& operator=(const PresenceFilter&) = delete;

  // False when its memory could not be mapped: it then never answers.
  bool mapped() const { return words_ != nullptr; }

  void Add(std::string_view primary);
  // False only when `primary` was never added, and only once filled and while not full.
  bool MayContain(std::string_view primary) const;

  // Called once the open's scan has added every key the index held.
  void MarkFilled();
  bool answering() const;
  uint64_t sized_keys() const { return sized_keys_; }

 private:
  struct Probe {
    uint64_t block;
    uint32_t hash;
  };
  Probe ProbeFor(std::string_view primary) const;

  const uint64_t blocks_;
  const uint64_t sized_keys_;
  uint64_t* words_;                    // blocks_ * 8 words, zeroed by mmap; set bits only ever grow
  std::atomic<uint64_t> distinct_{0};  // adds that set a new bit: distinct keys, roughly
  std::atomic<bool> filled_{false};
  std::atomic<bool> full_warned_{false};
};

}  // namespace edgecache::index
