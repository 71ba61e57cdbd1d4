// StoredFieldsCache: the stored fields of a response as a hit writes them out
// (http_util::AppendStoredFields), kept for the objects served last on this thread, so a
// hot object's fields are checked and copied into its responses once, not on every hit.
//
// The key is the entry's version, which every Commit and UpdateMeta of an object changes
// and which no two entries share (edgecache/object.h), with the settings the lines depend
// on: a cached rendering is never that of another object or of older metadata.
// Direct-mapped, a fixed number of slots; lines longer than kMaxLines are not kept. 8192
// slots (~2.5 MB a thread when full of ~300-byte renderings): with 1024, a 10,000-object
// Zipf working set re-rendered on a third of its hits (docs/performance.md).
//
// Thread safety: none; each network thread has its own (ForThisThread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/object.h"

namespace edgecache::proxy {

class StoredFieldsCache {
 public:
  static constexpr size_t kSlots = 8192;
  static constexpr size_t kMaxLines = 4096;

  // The field lines of `info` without Via, Cache-Status and Content-Range (this node's own
  // to write) and, when `drop_etag`, without ETag; surrogate fields only when
  // `forward_surrogate`. Valid until the next call on this thread.
  std::string_view Get(const ObjectInfo& info, bool forward_surrogate, bool drop_etag);

  static StoredFieldsCache& ForThisThread();

 private:
  struct Slot {
    uint64_t version = 0;  // 0: empty (versions start at 1)
    bool forward_surrogate = false;
    bool drop_etag = false;
    std::string lines;
  };
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
  std::string uncached_;  // lines too long to keep, or of an entry without a version
};

}  // namespace edgecache::proxy
