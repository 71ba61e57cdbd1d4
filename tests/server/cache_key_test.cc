// Cache keys and Accept-Encoding normalisation.
#include "proxy/cache_key.h"

#include <gtest/gtest.h>

namespace edgecache::proxy {
namespace {

TEST(CacheKeyTest, PercentEncodingAndDotSegmentsNormalised) {
  KeyOptions o;
  EXPECT_EQ(CacheKey("h", "/%7euser/a%2fb", o), CacheKey("h", "/~user/a%2Fb", o));
  EXPECT_EQ(CacheKey("h", "/a/./b/../c", o), "h/a/c");
  EXPECT_EQ(CacheKey("h", "/p?q=%41", o), "h/p?q=A");
  EXPECT_NE(CacheKey("h", "/a%2Fb", o), CacheKey("h", "/a/b", o));  // reserved stays encoded
  EXPECT_EQ(CacheKey("h", "/p?b=2&a=1", o), "h/p?b=2&a=1");         // order kept by default
}

TEST(CacheKeyTest, QuerySortingAndStripping) {
  KeyOptions o{true, {"utm_*", "fbclid", "gclid"}};
  EXPECT_EQ(CacheKey("h", "/p?b=2&utm_source=x&a=1&fbclid=y&utm_medium=z", o), "h/p?a=1&b=2");
  EXPECT_EQ(CacheKey("h", "/p?gclid=1", o), "h/p");
  EXPECT_EQ(CacheKey("h", "/p?flag&a=", o), "h/p?a=&flag");
  EXPECT_EQ(CacheKey("h", "/p?utmost=1", o), "h/p?utmost=1");  // not utm_
}

TEST(AcceptEncodingTest, ReducedToTheCodingsVariantsAreKeptFor) {
  EXPECT_EQ(NormalizeAcceptEncoding("gzip, deflate, br"), "br");
  EXPECT_EQ(NormalizeAcceptEncoding("br;q=1.0, gzip;q=0.8, *;q=0.1"), "br");
  EXPECT_EQ(NormalizeAcceptEncoding("gzip;q=1.0, br;q=0.5"), "gzip");
  EXPECT_EQ(NormalizeAcceptEncoding("br;q=0, gzip"), "gzip");
  EXPECT_EQ(NormalizeAcceptEncoding("deflate"), "identity");
  EXPECT_EQ(NormalizeAcceptEncoding("*"), "br");
  EXPECT_EQ(NormalizeAcceptEncoding("identity"), "identity");
}

}  // namespace
}  // namespace edgecache::proxy
