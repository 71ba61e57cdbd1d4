// RFC 9111 policy as pure functions: directives, dates, storage, age, serving.
#include <gtest/gtest.h>

#include "policy/cache_policy.h"
#include "policy/directives.h"
#include "policy/http_date.h"

namespace edgecache::policy {
namespace {

constexpr int64_t kNow = 1800000000;

http::request_header<> Get(
    std::initializer_list<std::pair<const char*, const char*>> headers = {}) {
  http::request_header<> req;
  req.method(http::verb::get);
  req.target("/x");
  for (auto [k, v] : headers) req.insert(k, v);
  return req;
}

http::response_header<> Resp(unsigned status,
                             std::initializer_list<std::pair<const char*, std::string>> headers) {
  http::response_header<> r;
  r.result(status);
  r.set(http::field::date, FormatHttpDate(kNow));
  for (auto [k, v] : headers) r.insert(k, v);
  return r;
}

TEST(DirectivesTest, ParsesValuesQuotesAndCase) {
  Directives d =
      Directives::Parse("Max-Age=60, no-cache=\"Set-Cookie, X-A\", public , s-maxage=\"30\"");
  EXPECT_EQ(d.Seconds("max-age"), 60);
  EXPECT_EQ(d.Seconds("s-maxage"), 30);
  EXPECT_TRUE(d.Has("public"));
  EXPECT_EQ(d.FieldNames("no-cache"), (std::vector<std::string>{"set-cookie", "x-a"}));
  EXPECT_FALSE(Directives::Parse("max-age=abc").Seconds("max-age"));
  EXPECT_FALSE(Directives::Parse("max-age=10, max-age=20").Seconds("max-age"));  // conflicting
  EXPECT_EQ(Directives::Parse("max-age=99999999999").Seconds("max-age"), 2147483648LL);
}

TEST(HttpDateTest, AcceptsTheThreeFormats) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(ParseHttpDate("yesterday"));
  EXPECT_FALSE(ParseHttpDate("0"));
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(StoragePolicyTest, ExplicitFreshnessOrder) {
  PolicyOptions o;
  EXPECT_EQ(DecideStorage(Get(), Resp(200, {{"Cache-Control", "max-age=60"}}), kNow, o)
                .freshness_lifetime,
            60);
  EXPECT_EQ(DecideStorage(Get(), Resp(200, {{"Cache-Control", "max-age=60, s-maxage=90"}}), kNow, o)
                .freshness_lifetime,
            90);
  EXPECT_EQ(DecideStorage(
                Get(),
                Resp(200, {{"Cache-Control", "s-maxage=90"}, {"Surrogate-Control", "max-age=120"}}),
                kNow, o)
                .freshness_lifetime,
            120);
  auto cdn = DecideStorage(
      Get(), Resp(200, {{"Cache-Control", "private"}, {"CDN-Cache-Control", "max-age=150"}}), kNow,
      o);
  EXPECT_TRUE(cdn.store);  // CDN-Cache-Control governs; Cache-Control's private is for others
  EXPECT_EQ(cdn.freshness_lifetime, 150);
  EXPECT_EQ(DecideStorage(Get(), Resp(200, {{"Expires", FormatHttpDate(kNow + 500)}}), kNow, o)
                .freshness_lifetime,
            500);
  auto bad_expires = DecideStorage(Get(), Resp(200, {{"Expires", "0"}}), kNow, o);
  EXPECT_TRUE(bad_expires.store);
  EXPECT_EQ(bad_expires.freshness_lifetime, 0);
}

TEST(StoragePolicyTest, RefusalsAndFlags) {
  PolicyOptions o;
  EXPECT_FALSE(DecideStorage(Get(), Resp(200, {{"Cache-Control", "no-store"}}), kNow, o).store);
  EXPECT_FALSE(DecideStorage(Get({{"Cache-Control", "no-store"}}),
                             Resp(200, {{"Cache-Control", "max-age=5"}}), kNow, o)
                   .store);
  EXPECT_FALSE(
      DecideStorage(Get(), Resp(200, {{"Cache-Control", "private, max-age=5"}}), kNow, o).store);
  EXPECT_FALSE(DecideStorage(Get(), Resp(206, {{"Cache-Control", "max-age=5"}}), kNow, o).store);
  EXPECT_FALSE(DecideStorage(Get(),
                             Resp(200, {{"Vary", "Accept, *"}, {"Cache-Control", "max-age=5"}}),
                             kNow, o)
                   .store);
  EXPECT_FALSE(DecideStorage(Get(), Resp(418, {}), kNow, o).store);
  EXPECT_TRUE(DecideStorage(Get(), Resp(418, {{"Cache-Control", "max-age=5"}}), kNow, o).store);
  EXPECT_FALSE(DecideStorage(Get({{"Authorization", "x"}}),
                             Resp(200, {{"Cache-Control", "max-age=5"}}), kNow, o)
                   .store);
  EXPECT_TRUE(DecideStorage(Get({{"Authorization", "x"}}),
                            Resp(200, {{"Cache-Control", "s-maxage=5"}}), kNow, o)
                  .store);
  auto flags = DecideStorage(Get(),
                             Resp(200, {{"Cache-Control",
                                         "max-age=5, must-revalidate, immutable, "
                                         "stale-while-revalidate=30, stale-if-error=600"}}),
                             kNow, o);
  EXPECT_TRUE(flags.flags & kMustRevalidate);
  EXPECT_TRUE(flags.flags & kImmutable);
  EXPECT_EQ(flags.stale_while_revalidate, 30);
  EXPECT_EQ(flags.stale_if_error, 600);
  EXPECT_TRUE(DecideStorage(Get(), Resp(200, {{"Cache-Control", "no-cache"}}), kNow, o).flags &
              kNoCacheResponse);
}

TEST(StoragePolicyTest, QualifiedNoCacheAndPrivateStripFieldsMustUnderstandOverridesNoStore) {
  PolicyOptions o;
  auto nc = DecideStorage(
      Get(), Resp(200, {{"Cache-Control", "max-age=60, no-cache=\"Set-Cookie, X-A\""}}), kNow, o);
  EXPECT_TRUE(nc.store);
  EXPECT_FALSE(nc.flags & kNoCacheResponse);
  EXPECT_EQ(nc.strip_fields, (std::vector<std::string>{"set-cookie", "x-a"}));
  auto pv = DecideStorage(Get(), Resp(200, {{"Cache-Control", "max-age=60, private=\"X-User\""}}),
                          kNow, o);
  EXPECT_TRUE(pv.store);
  EXPECT_EQ(pv.strip_fields, (std::vector<std::string>{"x-user"}));
  EXPECT_TRUE(DecideStorage(Get(),
                            Resp(200, {{"Cache-Control", "max-age=60, must-understand, no-store"}}),
                            kNow, o)
                  .store);
  EXPECT_FALSE(
      DecideStorage(Get(), Resp(299, {{"Cache-Control", "max-age=60, must-understand, no-store"}}),
                    kNow, o)
          .store);
  EXPECT_FALSE(
      DecideStorage(Get(), Resp(299, {{"Cache-Control", "max-age=60, must-understand"}}), kNow, o)
          .store);
}

TEST(ServePolicyTest, ImmutableFreshResponseIgnoresClientNoCache) {
  PolicyOptions o;
  ObjectInfo info;
  info.meta.date = info.meta.request_time = info.meta.response_time = kNow;
  info.meta.freshness_lifetime = 300;
  info.meta.policy_flags = kImmutable;
  EXPECT_TRUE(DecideServe(Get({{"Cache-Control", "no-cache"}}), info, kNow, o).usable);
  info.meta.freshness_lifetime = 0;  // once stale, immutable no longer helps
  EXPECT_FALSE(DecideServe(Get({{"Cache-Control", "no-cache"}}), info, kNow + 10, o).usable);
}

TEST(StoragePolicyTest, HeuristicIsTenPercentOfLastModifiedAgeCapped) {
  PolicyOptions o;
  auto d =
      DecideStorage(Get(), Resp(200, {{"Last-Modified", FormatHttpDate(kNow - 5000)}}), kNow, o);
  EXPECT_TRUE(d.store);
  EXPECT_EQ(d.freshness_lifetime, 500);
  EXPECT_TRUE(d.flags & kHeuristic);
  auto capped = DecideStorage(
      Get(), Resp(200, {{"Last-Modified", FormatHttpDate(kNow - 100 * 86400)}}), kNow, o);
  EXPECT_EQ(capped.freshness_lifetime, 86400);
}

TEST(AgeTest, FollowsRfc9111Section423) {
  ObjectMeta m;
  m.date = kNow - 10;  // generated 10 s before it arrived: apparent age 10
  m.request_time = kNow - 3;
  m.response_time = kNow;      // response delay 3
  m.headers = {{"Age", "5"}};  // corrected age value 8
  EXPECT_EQ(CurrentAge(m, kNow), 10);
  EXPECT_EQ(CurrentAge(m, kNow + 100), 110);
  m.headers = {{"Age", "50"}};
  EXPECT_EQ(CurrentAge(m, kNow), 53);
  // A huge Age (found by cache_control_fuzz: it overflowed) is capped at 2^31.
  m.headers = {{"Age", std::string(40, '1')}};
  EXPECT_EQ(CurrentAge(m, kNow), kDeltaSecondsCap + 3);
  EXPECT_GT(CurrentAge(m, INT64_MAX), 0);
}

TEST(AgeTest, AgeIsParsedStrictly) {
  EXPECT_EQ(ParseAge("7200"), 7200);
  EXPECT_EQ(ParseAge(" 10 "), 10);
  EXPECT_EQ(ParseAge("10, 20"), 10);  // a list-valued Age: its first member
  EXPECT_EQ(ParseAge("99999999999999999999999"), kDeltaSecondsCap);
  EXPECT_EQ(ParseAge("2147483649"), kDeltaSecondsCap);
  EXPECT_EQ(ParseAge("-5"), std::nullopt);
  EXPECT_EQ(ParseAge("1.5"), std::nullopt);
  EXPECT_EQ(ParseAge("0x10"), std::nullopt);
  EXPECT_EQ(ParseAge(""), std::nullopt);
}

TEST(ServePolicyTest, RequestDirectives) {
  PolicyOptions o;
  ObjectInfo info;
  info.meta.date = info.meta.request_time = info.meta.response_time = kNow - 100;
  info.meta.freshness_lifetime = 300;  // age 100, ttl 200
  EXPECT_TRUE(DecideServe(Get(), info, kNow, o).usable);
  EXPECT_FALSE(DecideServe(Get({{"Cache-Control", "no-cache"}}), info, kNow, o).usable);
  EXPECT_FALSE(DecideServe(Get({{"Pragma", "no-cache"}}), info, kNow, o).usable);
  o.honour_client_no_cache = false;
  EXPECT_TRUE(DecideServe(Get({{"Cache-Control", "no-cache"}}), info, kNow, o).usable);
  o.honour_client_no_cache = true;
  EXPECT_FALSE(DecideServe(Get({{"Cache-Control", "max-age=50"}}), info, kNow, o).usable);
  EXPECT_TRUE(DecideServe(Get({{"Cache-Control", "max-age=150"}}), info, kNow, o).usable);
  EXPECT_FALSE(DecideServe(Get({{"Cache-Control", "min-fresh=250"}}), info, kNow, o).usable);

  info.meta.freshness_lifetime = 60;  // stale by 40
  EXPECT_FALSE(DecideServe(Get(), info, kNow, o).usable);
  EXPECT_TRUE(DecideServe(Get({{"Cache-Control", "max-stale"}}), info, kNow, o).usable);
  EXPECT_TRUE(DecideServe(Get({{"Cache-Control", "max-stale=50"}}), info, kNow, o).usable);
  EXPECT_FALSE(DecideServe(Get({{"Cache-Control", "max-stale=10"}}), info, kNow, o).usable);
  info.meta.policy_flags = kMustRevalidate;
  EXPECT_FALSE(DecideServe(Get({{"Cache-Control", "max-stale"}}), info, kNow, o).usable);
  info.meta.policy_flags = 0;
  info.meta.freshness_lifetime = 300;
  info.invalidated = true;  // soft-purged
  EXPECT_FALSE(DecideServe(Get(), info, kNow, o).usable);
}

}  // namespace
}  // namespace edgecache::policy

#include "http/headers.h"

namespace edgecache::http_util {
namespace {

TEST(RangeTest, SingleByteRangesParsedOthersIgnored) {
  auto r = ParseRange("bytes=0-99", 1000);
  EXPECT_EQ(r.kind, ByteRange::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 99u);
  r = ParseRange("bytes=900-", 1000);
  EXPECT_EQ(r.first, 900u);
  EXPECT_EQ(r.last, 999u);
  r = ParseRange("bytes=-100", 1000);
  EXPECT_EQ(r.first, 900u);
  r = ParseRange("bytes=500-5000", 1000);
  EXPECT_EQ(r.last, 999u);
  r = ParseRange("bytes=-5000", 1000);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(ParseRange("bytes=1000-", 1000).kind, ByteRange::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 1000).kind, ByteRange::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-1,5-6", 1000).kind, ByteRange::kIgnore);
  EXPECT_EQ(ParseRange("bytes=9-1", 1000).kind, ByteRange::kIgnore);
  EXPECT_EQ(ParseRange("items=0-1", 1000).kind, ByteRange::kIgnore);
  EXPECT_EQ(ParseRange("bytes=a-b", 1000).kind, ByteRange::kIgnore);
}

TEST(RangeTest, IfRangeComparesStrongly) {
  EXPECT_TRUE(IfRangeMatches("\"v1\"", "\"v1\"", 0));
  EXPECT_FALSE(IfRangeMatches("W/\"v1\"", "W/\"v1\"", 0));
  EXPECT_FALSE(IfRangeMatches("\"v1\"", "W/\"v1\"", 0));
  EXPECT_FALSE(IfRangeMatches("\"v2\"", "\"v1\"", 0));
  EXPECT_TRUE(IfRangeMatches("Sun, 06 Nov 1994 08:49:37 GMT", "", 784111777));
  EXPECT_FALSE(IfRangeMatches("Sun, 06 Nov 1994 08:49:38 GMT", "", 784111777));
}

}  // namespace
}  // namespace edgecache::http_util
