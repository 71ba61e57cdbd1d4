// StoredFieldsCache: see stored_fields.h.
#include "proxy/stored_fields.h"

#include <bit>

#include "http/headers.h"

namespace edgecache::proxy {
namespace {

void Render(const ObjectInfo& info, bool forward_surrogate, bool drop_etag, std::string* out) {
  out->clear();
  if (drop_etag) {
    http_util::AppendStoredFields(info.meta, forward_surrogate,
                                  {"via", "cache-status", "content-range", "etag"}, out);
  } else {
    http_util::AppendStoredFields(info.meta, forward_surrogate,
                                  {"via", "cache-status", "content-range"}, out);
  }
}

}  // namespace

std::string_view StoredFieldsCache::Get(const ObjectInfo& info, bool forward_surrogate,
                                        bool drop_etag) {
  if (info.version == 0) {
    Render(info, forward_surrogate, drop_etag, &uncached_);
    return uncached_;
  }
  // Versions are consecutive: a multiplicative hash spreads them over the slots.
  static_assert(std::has_single_bit(kSlots));
  Slot& slot = slots_[(info.version * 0x9e3779b97f4a7c15ull) >> (64 - std::countr_zero(kSlots))];
  if (slot.version == info.version && slot.forward_surrogate == forward_surrogate &&
      slot.drop_etag == drop_etag) {
    return slot.lines;
  }
  Render(info, forward_surrogate, drop_etag, &uncached_);
  if (uncached_.size() > kMaxLines) return uncached_;
  slot.version = info.version;
  slot.forward_surrogate = forward_surrogate;
  slot.drop_etag = drop_etag;
  slot.lines = uncached_;
  return slot.lines;
}

StoredFieldsCache& StoredFieldsCache::ForThisThread() {
  thread_local StoredFieldsCache cache;
  return cache;
}

}  // namespace edgecache::proxy
