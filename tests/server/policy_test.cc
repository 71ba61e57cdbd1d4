// RFC 9111 policy as pure functions: directives, dates, storage, age, serving.
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "http/http_date.h"
#include "policy/cache_policy.h"
#include "policy/directives.h"

namespace edgecache::policy {
namespace {

using http_util::FormatHttpDate;
using http_util::ParseHttpDate;

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
  EXPECT_EQ(Directives::Parse("max-age=99999999999").Seconds("max-age"), 2147483648LL);
}

TEST(DirectivesTest, ThousandsOfMadeUpDirectivesHideNoKnownOne) {
  // A hostile field: 20000 unknown directives around the ones that matter. Every known
  // one is still read, the first of a duplicate still wins, and at most 16 unknown ones
  // are kept (no field makes each lookup a scan of thousands).
  std::string field = "max-age=7";
  for (int i = 0; i < 20000; ++i) field += ", x-" + std::to_string(i) + "=" + std::to_string(i);
  field += ", private, max-age=9, no-store";
  Directives d = Directives::Parse(field);
  EXPECT_EQ(d.Seconds("max-age"), 7);
  EXPECT_TRUE(d.Has("private"));
  EXPECT_TRUE(d.Has("no-store"));
  EXPECT_TRUE(d.Has("x-0"));
  EXPECT_FALSE(d.Has("x-19999"));
  std::string dict = "max-age=7";
  for (int i = 0; i < 20000; ++i) dict += ", x-" + std::to_string(i);
  dict += ", no-store";
  auto targeted = Directives::ParseTargeted(dict);
  ASSERT_TRUE(targeted);
  EXPECT_EQ(targeted->Seconds("max-age"), 7);
  EXPECT_TRUE(targeted->Has("no-store"));
  // In a Dictionary a later member replaces an earlier one (RFC 8941 §4.2.2), however
  // far apart they are.
  std::string dup = "max-age=1";
  for (int i = 0; i < 40; ++i) dup += ", x-" + std::to_string(i);
  dup += ", max-age=9";
  ASSERT_TRUE(Directives::ParseTargeted(dup));
  EXPECT_EQ(Directives::ParseTargeted(dup)->Seconds("max-age"), 9);
}

// RFC 9111 §5.2: cache-directive = token [ "=" ( token / quoted-string ) ]; §1.2.1
// delta-seconds = 1*DIGIT; §4.2.1: with duplicates, use the first occurrence.
TEST(DirectivesTest, DeltaSecondsAreDigitsOnlyAndTheFirstDuplicateWins) {
  EXPECT_EQ(Directives::Parse("max-age=10, max-age=20").Seconds("max-age"), 10);
  Directives two_lines = Directives::Parse("max-age=1");
  two_lines.Add("max-age=1800");
  EXPECT_EQ(two_lines.Seconds("max-age"), 1);
  EXPECT_EQ(Directives::Parse("max-age=003600").Seconds("max-age"), 3600);
  EXPECT_EQ(Directives::Parse("max-age=\"3600\"").Seconds("max-age"), 3600);
  EXPECT_EQ(Directives::Parse("public , max-age=5 , no-cache").Seconds("max-age"), 5);
  for (const char* invalid :
       {"max-age=5.0", "max-age=a100", "max-age=100a", "max-age=-1", "max-age='3600'",
        "max-age = 5", "max-age =5", "max-age= 5", "max-age=", "max-age=\"5"}) {
    Directives d = Directives::Parse(invalid);
    EXPECT_TRUE(d.Has("max-age")) << invalid;  // present, so not "no max-age"
    EXPECT_FALSE(d.Seconds("max-age")) << invalid;
  }
  // A directive inside a quoted string is not a directive.
  Directives quoted = Directives::Parse("extension=\"max-age=100\", max-age=1");
  EXPECT_EQ(quoted.Seconds("max-age"), 1);
}

// RFC 9213 §2.1-2.2 and RFC 8941 §4.2.2: a Dictionary; invalid means ignored as a whole.
TEST(DirectivesTest, TargetedFieldsAreStructuredDictionaries) {
  auto d = Directives::ParseTargeted("max-age=3600, must-revalidate, foobar");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->Seconds("max-age"), 3600);
  EXPECT_TRUE(d->Has("must-revalidate"));
  EXPECT_EQ(Directives::ParseTargeted("max-age=99999999999")->Seconds("max-age"), 2147483648LL);
  EXPECT_FALSE(Directives::ParseTargeted("no-store=?0")->Has("no-store"));
  EXPECT_EQ(Directives::ParseTargeted("no-cache=\"Set-Cookie, X-A\"")->FieldNames("no-cache"),
            (std::vector<std::string>{"set-cookie", "x-a"}));
  EXPECT_EQ(Directives::ParseTargeted("private=(\"x-a\" x-b);p=1")->FieldNames("private"),
            (std::vector<std::string>{"x-a", "x-b"}));
  for (const char* invalid :
       {"", "  ", "max-age=10000, &&&&&", "max-age=\"10000\"", "max-age=3.5", "max-age=-1",
        "max-age =100", "max-age= 100", "MaX-aGe=3600", "no-store=5", "public=\"x\"", "max-age=10,",
        "max-age=1 2", "a=\"unterminated", "a=(1 2", "a=?2", "a=1234567890123456"}) {
    EXPECT_FALSE(Directives::ParseTargeted(invalid)) << "[" << invalid << "]";
  }
}

TEST(HttpDateTest, AcceptsTheThreeFormats) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(ParseHttpDate("yesterday"));
  EXPECT_FALSE(ParseHttpDate("0"));
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
}

// RFC 9110 §5.6.7: the grammar exactly (2DIGIT days and times, 4DIGIT years, single
// spaces, "GMT"); names of days, months and GMT compared case-insensitively.
TEST(HttpDateTest, IsStrictAboutTheGrammarNotAboutCase) {
  const int64_t aug_2050 = 2544400878;  // Thu, 18 Aug 2050 02:01:18 GMT
  EXPECT_EQ(ParseHttpDate("Thu, 18 Aug 2050 02:01:18 GMT"), aug_2050);
  EXPECT_EQ(ParseHttpDate("THU, 18 AUG 2050 02:01:18 gMT"), aug_2050);
  EXPECT_EQ(ParseHttpDate("Thursday, 18-Aug-50 02:01:18 GMT", kNow), aug_2050);
  EXPECT_EQ(ParseHttpDate("Thu Aug 18 02:01:18 2050"), aug_2050);
  EXPECT_EQ(ParseHttpDate("Mon Aug  8 02:01:18 2050"), aug_2050 - 10 * 86400);
  for (const char* invalid : {"Thu, 18 Aug 2050 02:01:18 UTC", "Thu, 18 Aug 2050 02:01:18 AEST",
                              "Thu, 18 Aug 50 02:01:18 GMT", "Thu 18 Aug 2050 02:01:18 GMT",
                              "Thu, 18  Aug  2050 02:01:18 GMT", "Thu, 18-Aug-2050 02:01:18 GMT",
                              "Thu, 18 Aug 2050 02.01.18 GMT", "Thu, 18 Aug 2050 2:01:18 GMT",
                              "Thu, 8 Aug 2050 02:01:18 GMT", "Thu, 18 Aug 2050 02:01:18 GMT ",
                              "Thu, 18 Aug 2050 02:01:18", "Thu, 31 Feb 2050 02:01:18 GMT",
                              "Thu, 18 Aug 2050 24:01:18 GMT", "Thu, 18 Aug 2050 02:01:18 GMTX",
                              "Thu, 18 Aug 20500 02:01:18 GMT", "Thursday, 18-Aug-50 02:01:18",
                              "Thu Aug 8 02:01:18 2050"}) {
    EXPECT_FALSE(ParseHttpDate(invalid)) << invalid;
  }
  // A two-digit year more than 50 years ahead is the most recent such year in the past.
  const int64_t in_2026 = 1795000000;
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", in_2026), 784111777);
  EXPECT_EQ(ParseHttpDate("Friday, 06-Nov-76 08:49:37 GMT", in_2026),
            ParseHttpDate("Fri, 06 Nov 2076 08:49:37 GMT"));
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-77 08:49:37 GMT", in_2026),
            ParseHttpDate("Sun, 06 Nov 1977 08:49:37 GMT"));
}

// The arithmetic that turns a parsed date into seconds agrees with the C library's timegm
// on every kind of date: leap days, centuries, year 0000 and 9999, a leap second.
TEST(HttpDateTest, SecondsAgreeWithTimegm) {
  std::mt19937 rng(20261204);
  static const char* kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static const char* kDayNames[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  auto check = [&](int year, int month, int day, int hour, int minute, int second) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const int64_t expected = static_cast<int64_t>(::timegm(&tm));  // also sets tm_wday
    char text[64];
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDayNames[tm.tm_wday],
                  day, kMonthNames[month], year, hour, minute, second);
    EXPECT_EQ(ParseHttpDate(text), expected) << text;
  };
  check(2000, 1, 29, 0, 0, 0);
  check(1900, 1, 28, 23, 59, 59);
  check(2100, 11, 31, 23, 59, 60);
  check(0, 0, 1, 0, 0, 0);
  check(9999, 11, 31, 23, 59, 59);
  check(1969, 11, 31, 23, 59, 59);
  static constexpr int kDaysIn[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int i = 0; i < 20000; ++i) {
    const int year = static_cast<int>(rng() % 10000), month = static_cast<int>(rng() % 12);
    check(year, month, 1 + static_cast<int>(rng() % kDaysIn[month]), static_cast<int>(rng() % 24),
          static_cast<int>(rng() % 60), static_cast<int>(rng() % 61));
  }
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

// RFC 9111 §5.3: an invalid Expires (any of them, when there are several lines) means
// "already expired"; §4.2.1: invalid freshness information is stale, not absent.
TEST(StoragePolicyTest, InvalidExpiresAndMaxAgeAreStaleNotAbsent) {
  PolicyOptions o;
  const std::string future = FormatHttpDate(kNow + 500);
  const std::string last_modified = FormatHttpDate(kNow - 100000);
  for (const std::string& expires : {std::string("0"), std::string("Thu, 18 Aug 2050 02:01:18 UTC"),
                                     std::string("Thu, 18  Aug 2050 02:01:18 GMT")}) {
    auto d = DecideStorage(
        Get(), Resp(200, {{"Expires", expires}, {"Last-Modified", last_modified}}), kNow, o);
    EXPECT_TRUE(d.store) << expires;
    EXPECT_EQ(d.freshness_lifetime, 0) << expires;  // not the Last-Modified heuristic
  }
  auto two = DecideStorage(Get(), Resp(200, {{"Expires", future}, {"Expires", future}}), kNow, o);
  EXPECT_EQ(two.freshness_lifetime, 0);
  for (const char* cc : {"max-age=5.0", "max-age=a100", "max-age = 5", "s-maxage=x, max-age=60"}) {
    auto d = DecideStorage(Get(), Resp(200, {{"Cache-Control", cc}, {"Expires", future}}), kNow, o);
    EXPECT_TRUE(d.store) << cc;
    EXPECT_EQ(d.freshness_lifetime, 0) << cc;  // not Expires' 500
  }
  EXPECT_EQ(DecideStorage(Get(), Resp(200, {{"Cache-Control", "max-age=1800, max-age=1"}}), kNow, o)
                .freshness_lifetime,
            1800);
}

// RFC 9213 §2.2: a valid CDN-Cache-Control replaces Cache-Control for this cache; an
// invalid one is ignored as a whole and Cache-Control applies.
TEST(StoragePolicyTest, CdnCacheControlReplacesCacheControlUnlessInvalid) {
  PolicyOptions o;
  auto decide = [&](std::string cc, std::string cdn) {
    return DecideStorage(Get(), Resp(200, {{"Cache-Control", cc}, {"CDN-Cache-Control", cdn}}),
                         kNow, o);
  };
  EXPECT_FALSE(decide("max-age=3600", "no-store").store);
  EXPECT_FALSE(decide("max-age=3600", "private").store);
  EXPECT_TRUE(decide("max-age=3600", "no-cache").flags & kNoCacheResponse);
  auto over_no_store = decide("no-store", "max-age=10000");
  EXPECT_TRUE(over_no_store.store);
  EXPECT_EQ(over_no_store.freshness_lifetime, 10000);
  EXPECT_EQ(decide("max-age=3600", "max-age=1").freshness_lifetime, 1);
  EXPECT_EQ(decide("max-age=1", "foobar, max-age=3600").freshness_lifetime, 3600);
  // Present and valid but without freshness: Cache-Control's max-age is not used.
  EXPECT_EQ(decide("max-age=3600", "none").freshness_lifetime, 0);
  EXPECT_FALSE(decide("max-age=3600", "none").flags & kMustRevalidate);
  EXPECT_FALSE(decide("no-store", "max-age=10000, &&&&&").store);
  EXPECT_FALSE(decide("no-store", "max-age=\"10000\"").store);
  EXPECT_EQ(decide("max-age=1", "max-age =100").freshness_lifetime, 1);
  // Several lines make one Dictionary.
  auto lines = DecideStorage(Get(),
                             Resp(200, {{"Cache-Control", "no-store"},
                                        {"CDN-Cache-Control", "public"},
                                        {"CDN-Cache-Control", "max-age=70"}}),
                             kNow, o);
  EXPECT_EQ(lines.freshness_lifetime, 70);
}

TEST(StoragePolicyTest, RefusalsAndFlags) {
  PolicyOptions o;
  EXPECT_FALSE(DecideStorage(Get(), Resp(200, {{"Cache-Control", "no-store"}}), kNow, o).store);
  EXPECT_FALSE(DecideStorage(Get({{"Cache-Control", "no-store"}}),
                             Resp(200, {{"Cache-Control", "max-age=5"}}), kNow, o)
                   .store);
  EXPECT_FALSE(
      DecideStorage(Get(), Resp(200, {{"Cache-Control", "private, max-age=5"}}), kNow, o).store);
  // 206: one byte range of a known whole only (RFC 9111 §3.3).
  EXPECT_FALSE(DecideStorage(Get(), Resp(206, {{"Cache-Control", "max-age=5"}}), kNow, o).store);
  EXPECT_TRUE(
      DecideStorage(Get(),
                    Resp(206, {{"Cache-Control", "max-age=5"}, {"Content-Range", "bytes 4-9/10"}}),
                    kNow, o)
          .store);
  for (const char* bad :
       {"bytes 4-9/*", "bytes */10", "bytes 9-4/10", "bytes 4-10/10", "items 1-2/5"}) {
    EXPECT_FALSE(DecideStorage(Get(),
                               Resp(206, {{"Cache-Control", "max-age=5"}, {"Content-Range", bad}}),
                               kNow, o)
                     .store)
        << bad;
  }
  EXPECT_FALSE(DecideStorage(Get(),
                             Resp(206, {{"Cache-Control", "max-age=5"},
                                        {"Content-Range", "bytes 4-9/10"},
                                        {"Content-Type", "multipart/byteranges; boundary=x"}}),
                             kNow, o)
                   .store);
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

TEST(ServePolicyTest, TheReasonSaysWhoseDoingARevalidationIs) {
  using Reason = ServeDecision::Reason;
  PolicyOptions o;
  ObjectInfo info;
  info.meta.date = info.meta.request_time = info.meta.response_time = kNow - 100;
  info.meta.freshness_lifetime = 300;
  EXPECT_EQ(DecideServe(Get(), info, kNow, o).reason, Reason::kUsable);
  for (auto [header, reason] :
       std::vector<std::pair<std::string, Reason>>{{"no-cache", Reason::kRequestNoCache},
                                                   {"max-age=50", Reason::kRequestMaxAge},
                                                   {"min-fresh=250", Reason::kRequestMinFresh}}) {
    ServeDecision d = DecideServe(Get({{"Cache-Control", header.c_str()}}), info, kNow, o);
    EXPECT_EQ(d.reason, reason) << header;
    EXPECT_FALSE(d.StoredResponseNeedsIt()) << header;
    EXPECT_EQ(ReasonText(d.reason), "request " + header.substr(0, header.find('='))) << header;
  }
  info.meta.freshness_lifetime = 60;
  EXPECT_EQ(DecideServe(Get(), info, kNow, o).reason, Reason::kStale);
  EXPECT_TRUE(DecideServe(Get(), info, kNow, o).StoredResponseNeedsIt());
  info.meta.policy_flags = kNoCacheResponse;
  EXPECT_EQ(DecideServe(Get(), info, kNow, o).reason, Reason::kNoCache);
  info.invalidated = true;
  EXPECT_EQ(DecideServe(Get(), info, kNow, o).reason, Reason::kPurged);
  EXPECT_EQ(ReasonText(Reason::kPurged), "purged");
}

}  // namespace
}  // namespace edgecache::policy

#include "http/headers.h"
#include "http/range.h"

namespace edgecache::http_util {
namespace {

TEST(HeaderBlockTest, WritesTheWireFormAndLeavesOutWhatAStoredResponseMustNotReplay) {
  ObjectMeta meta;
  meta.headers = {{"Content-Type", "text/plain"}, {"Age", "30"},
                  {"Set-Cookie", "a=b"},          {"Content-Length", "99"},
                  {"Connection", "keep-alive"},   {"Surrogate-Key", "t1"},
                  {"Via", "1.1 origin"},          {"Cache-Control", "max-age=60"}};
  HeaderBlock block(206);
  std::string lines;
  AppendStoredFields(meta, /*forward_surrogate=*/false, {"via"}, &lines);
  block.AddLines(lines);
  block.Add("Age", "5");
  EXPECT_EQ(std::move(block).Finish(),
            "HTTP/1.1 206 Partial Content\r\nContent-Type: text/plain\r\n"
            "Cache-Control: max-age=60\r\nAge: 5\r\n\r\n");
  HeaderBlock surrogate(200);
  lines.clear();
  AppendStoredFields(meta, /*forward_surrogate=*/true, {}, &lines);
  surrogate.AddLines(lines);
  const std::string out = std::move(surrogate).Finish();
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(out.find("Surrogate-Key: t1\r\n"), std::string::npos);
  EXPECT_NE(out.find("Via: 1.1 origin\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);

  // Read back from disk, a field that no origin response could have carried is left out:
  // it must not split the response or add a field of its own.
  ObjectMeta bad;
  bad.headers = {{"X-Ok", "1"},         {"X-Split", "a\r\nX-Injected: 1"},
                 {"X-Bare-LF", "a\nb"}, {"X-Nul", std::string("a\0b", 3)},
                 {"Bad Name", "x"},     {"", "x"}};
  HeaderBlock hostile(200);
  lines.clear();
  AppendStoredFields(bad, false, {}, &lines);
  hostile.AddLines(lines);
  EXPECT_EQ(std::move(hostile).Finish(), "HTTP/1.1 200 OK\r\nX-Ok: 1\r\n\r\n");
}

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

// RFC 9111 §3.2: a newer response's fields replace the stored ones; the stored Age never
// survives (it described the older response); Set-Cookie and framing never come in.
TEST(MergeTest, NewerFieldsReplaceStoredOnesAndTheOldAgeGoes) {
  std::vector<std::pair<std::string, std::string>> stored = {
      {"Age", "30"}, {"ETag", "\"v1\""}, {"X-Kept", "1"}, {"Cache-Control", "max-age=10"}};
  http::response_header<> newer;
  newer.set(http::field::cache_control, "max-age=60");
  newer.set(http::field::set_cookie, "s=1");
  newer.set(http::field::content_length, "5");
  MergeNotModified(newer, &stored);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"ETag", "\"v1\""}, {"X-Kept", "1"}, {"Cache-Control", "max-age=60"}};
  EXPECT_EQ(stored, expected);
  newer.set(http::field::age, "5");  // the newer response's own Age is its to give
  MergeNotModified(newer, &stored);
  EXPECT_EQ(stored.back(), (std::pair<std::string, std::string>{"Age", "5"}));
}

TEST(RangeTest, TheRequestedRangeAndItsContentRange) {
  ByteRange r = RequestedRange("bytes=2-4", "", "\"v1\"", 0, 10);
  EXPECT_EQ(r.kind, ByteRange::kSatisfiable);
  EXPECT_EQ(ContentRangeValue(r, 10), "bytes 2-4/10");
  EXPECT_EQ(RequestedRange("bytes=2-4", "\"v1\"", "\"v1\"", 0, 10).kind, ByteRange::kSatisfiable);
  EXPECT_EQ(RequestedRange("bytes=2-4", "\"v0\"", "\"v1\"", 0, 10).kind, ByteRange::kIgnore);
  EXPECT_EQ(RequestedRange("", "", "\"v1\"", 0, 10).kind, ByteRange::kIgnore);
  r = RequestedRange("bytes=10-", "", "", 0, 10);
  EXPECT_EQ(r.kind, ByteRange::kUnsatisfiable);
  EXPECT_EQ(ContentRangeValue(r, 10), "bytes */10");
}

// RFC 9110 §14.4: Content-Range of one satisfied range with a known complete length.
TEST(RangeTest, ContentRangeIsOneRangeOfAKnownWhole) {
  auto cr = ParseContentRange("bytes 4-9/10");
  ASSERT_TRUE(cr);
  EXPECT_EQ(cr->first, 4u);
  EXPECT_EQ(cr->last, 9u);
  EXPECT_EQ(cr->complete_length, 10u);
  EXPECT_EQ(cr->size(), 6u);
  for (const char* bad :
       {"bytes 4-9/*", "bytes */10", "bytes 9-4/10", "bytes 4-10/10", "items 1-2/5",
        "bytes -4-9/10", "bytes 4-9", "bytes 99999999999999999999-1/2"}) {
    EXPECT_FALSE(ParseContentRange(bad)) << bad;
  }
}

}  // namespace
}  // namespace edgecache::http_util
