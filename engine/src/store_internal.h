// Helpers the files that implement StoreImpl share (store_impl.cc, purge/purger.cc,
// verify.cc, index/entry_table.cc). Internal to the engine.
#pragma once

#include <string_view>

#include "edgecache/object.h"

namespace edgecache::internal {

inline bool HasTag(const ObjectInfo& info, std::string_view tag) {
  for (const auto& t : info.meta.tags) {
    if (t == tag) return true;
  }
  return false;
}

}  // namespace edgecache::internal
