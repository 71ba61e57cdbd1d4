// StoredFieldsCache: a rendering is only ever reused for the same entry version and the
// same settings; what it holds is what AppendStoredFields writes.
#include "proxy/stored_fields.h"

#include <gtest/gtest.h>

#include "http/headers.h"

namespace edgecache::proxy {
namespace {

ObjectInfo Info(uint64_t version, const std::string& tag) {
  ObjectInfo info;
  info.version = version;
  info.meta.headers = {{"Content-Type", "text/plain"}, {"ETag", "\"" + tag + "\""},
                       {"Surrogate-Key", "k"},         {"Via", "1.1 origin"},
                       {"Set-Cookie", "a=b"},          {"X-Bad", "a\r\nInjected: yes"}};
  return info;
}

std::string Direct(const ObjectInfo& info, bool forward_surrogate, bool drop_etag) {
  std::string out;
  if (drop_etag) {
    http_util::AppendStoredFields(info.meta, forward_surrogate,
                                  {"via", "cache-status", "content-range", "etag"}, &out);
  } else {
    http_util::AppendStoredFields(info.meta, forward_surrogate,
                                  {"via", "cache-status", "content-range"}, &out);
  }
  return out;
}

TEST(StoredFieldsCacheTest, ARenderingIsReusedOnlyForItsVersionAndSettings) {
  StoredFieldsCache cache;
  const ObjectInfo v1 = Info(1, "one");
  EXPECT_EQ(cache.Get(v1, false, false), "Content-Type: text/plain\r\nETag: \"one\"\r\n");
  EXPECT_EQ(cache.Get(v1, false, false), Direct(v1, false, false));
  EXPECT_EQ(cache.Get(v1, true, false), Direct(v1, true, false));  // with Surrogate-Key
  EXPECT_EQ(cache.Get(v1, false, true), "Content-Type: text/plain\r\n");
  // A version whose slot is the same as version 1's: it evicts it, never reads it.
  uint64_t twin = 2;
  while (((twin * 0x9e3779b97f4a7c15ull) >> 54) != ((1 * 0x9e3779b97f4a7c15ull) >> 54)) ++twin;
  const ObjectInfo other = Info(twin, "other");
  EXPECT_EQ(cache.Get(other, false, false), Direct(other, false, false));
  EXPECT_EQ(cache.Get(v1, false, false), Direct(v1, false, false));
  // An update of the same object comes with a new version, and with its own fields.
  const ObjectInfo updated = Info(3, "updated");
  EXPECT_EQ(cache.Get(updated, false, false), Direct(updated, false, false));
  // Lines too long to keep are rendered each time.
  ObjectInfo big = Info(4, std::string(StoredFieldsCache::kMaxLines, 'x'));
  EXPECT_EQ(cache.Get(big, false, false), Direct(big, false, false));
  EXPECT_EQ(cache.Get(big, false, false), Direct(big, false, false));
}

}  // namespace
}  // namespace edgecache::proxy
