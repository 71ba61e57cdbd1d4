// RFC 9110 / 9111 / 9213 rules for a shared cache, each checked through the real edgecache
// binary against an origin that answers with bytes written here from the RFC text
// (support/raw_origin.h), not by origin-sim. docs/conformance.md maps rules to tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "edgecache/store.h"
#include "http/http_date.h"
#include "support/http_client.h"
#include "support/node_fixture.h"
#include "support/raw_origin.h"

namespace edgecache {
namespace {

using testing::HttpConnection;
using testing::HttpResponse;
using testing::RawOrigin;
using testing::RawRequest;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }
std::string DateIn(int64_t seconds) { return http_util::FormatHttpDate(Now() + seconds); }

// A complete response: the status line, `lines` ("Name: value", in order), a Date of now
// unless one is given, framing and `Connection: close`.
std::string Response(int status, const std::vector<std::string>& lines,
                     const std::string& body = "stored body") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Status\r\n";
  bool has_date = false;
  for (const auto& line : lines) {
    out += line + "\r\n";
    has_date |= line.starts_with("Date:");
  }
  if (!has_date) out += "Date: " + DateIn(0) + "\r\n";
  const bool bodiless = status == 204 || status == 304;
  if (!bodiless) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "Connection: close\r\n\r\n" + (bodiless ? "" : body);
}

// The answer to a HEAD: Response()'s header for a body of `length` bytes, without it.
std::string HeadAnswer(int status, const std::vector<std::string>& lines, size_t length) {
  std::string out = Response(status, lines, std::string(length, 'x'));
  out.resize(out.size() - length);
  return out;
}

// An origin's answer to a GET of `body` (RFC 9110 §14): the range asked for as a 206 when
// the request has a single satisfiable byte range and If-Range (if any) is `etag`, else
// the whole as a 200.
std::string RangeAnswer(const RawRequest& r, const std::string& body, const std::string& etag,
                        std::vector<std::string> lines) {
  lines.push_back("ETag: " + etag);
  const std::string range = r.Header("range");
  const std::string if_range = r.Header("if-range");
  const size_t dash = range.find('-');
  if (!range.starts_with("bytes=") || dash == std::string::npos ||
      (!if_range.empty() && if_range != etag)) {
    return Response(200, lines, body);
  }
  const std::string a = range.substr(6, dash - 6), b = range.substr(dash + 1);
  size_t first, last = body.size() - 1;
  if (a.empty()) {
    first = body.size() - std::min<size_t>(std::stoul(b), body.size());
  } else {
    first = std::stoul(a);
    if (!b.empty()) last = std::min<size_t>(std::stoul(b), last);
  }
  lines.push_back("Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) +
                  "/" + std::to_string(body.size()));
  return Response(206, lines, body.substr(first, last - first + 1));
}

class ConformanceTest : public testing::NodeFixture {
 protected:
  void SetUp() override {
    raw_ = std::make_unique<RawOrigin>([this](const RawRequest& r) { return Answer(r); });
    ASSERT_NE(raw_->port(), 0);
    origin_port_ = raw_->port();
    StartNode();
  }

  // The node again, with a config file holding `toml`.
  void RestartWith(const std::string& toml) {
    node_.reset();
    const std::string conf = dir_.Sub("node.toml");
    std::ofstream(conf) << toml;
    StartNode({"--config", conf});
  }

  // Requests for `path` (the target without its query) are answered by `answer`.
  void Route(const std::string& path, std::function<std::string(const RawRequest&)> answer) {
    std::lock_guard lock(mu_);
    routes_[path] = std::move(answer);
  }
  void Route(const std::string& path, const std::string& bytes) {
    Route(path, [bytes](const RawRequest&) { return bytes; });
  }

  // How many requests for `path` reached the origin.
  int Origin(const std::string& path) const {
    int n = 0;
    for (const auto& r : raw_->Requests()) n += r.target.substr(0, r.target.find('?')) == path;
    return n;
  }

  // Two GETs: whether the second was answered without the origin.
  bool Reused(const std::string& path, const std::map<std::string, std::string>& headers = {}) {
    Get(path, headers);
    Get(path, headers);
    return Origin(path) == 1;
  }

  static int AgeOf(const HttpResponse& r) { return r.Has("age") ? std::stoi(r.Header("age")) : -1; }

  // Sends raw request bytes with Connection: close and returns everything the node sent.
  std::string RawExchange(const std::string& request) {
    HttpConnection c(port_);
    c.SendRaw(request);
    std::string all;
    char buf[4096];
    boost::system::error_code ec;
    for (size_t n; (n = c.ReadSome(buf, sizeof(buf), ec)) > 0;) all.append(buf, n);
    return all;
  }

  std::unique_ptr<RawOrigin> raw_;

 private:
  std::string Answer(const RawRequest& r) {
    std::function<std::string(const RawRequest&)> answer;
    {
      std::lock_guard lock(mu_);
      auto it = routes_.find(r.target.substr(0, r.target.find('?')));
      if (it == routes_.end()) return Response(404, {"Cache-Control: no-store"}, "no route\n");
      answer = it->second;
    }
    return answer(r);
  }

  std::mutex mu_;
  std::map<std::string, std::function<std::string(const RawRequest&)>> routes_;
};

// --- 1. Age (RFC 9111 §4.2.3, §5.1) ---

TEST_F(ConformanceTest, AgeFromUpstreamCountsTowardsFreshnessAndIsSentOnEveryCachedResponse) {
  // Older than its lifetime on arrival: stale at once, and the client is told its age.
  Route("/age-7200", Response(200, {"Cache-Control: max-age=3600", "Age: 7200"}));
  HttpResponse first = Get("/age-7200");
  EXPECT_GE(AgeOf(first), 7200) << first.Header("age");
  EXPECT_LT(AgeOf(first), 7210);
  Get("/age-7200");
  EXPECT_EQ(Origin("/age-7200"), 2);

  // The response that filled the cache, and a later hit, carry the current age.
  Route("/age-30", Response(200, {"Cache-Control: max-age=3600", "Age: 30"}));
  EXPECT_GE(AgeOf(Get("/age-30")), 30);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  HttpResponse hit = Get("/age-30");
  EXPECT_GE(AgeOf(hit), 32) << hit.Header("cache-status");
  EXPECT_EQ(Origin("/age-30"), 1);

  // A response without Age that the cache stored still says how old it is.
  Route("/age-none", Response(200, {"Cache-Control: max-age=3600"}));
  EXPECT_GE(AgeOf(Get("/age-none")), 0);
  EXPECT_GE(AgeOf(Get("/age-none")), 0);
}

TEST_F(ConformanceTest, AgeIsParsedStrictlyFirstMemberOfAListAndCappedAtTwoToThe31) {
  // A list counts by its first member (on one line or several).
  Route("/age-prefix", Response(200, {"Cache-Control: max-age=3600", "Age: 0, 7200"}));
  EXPECT_TRUE(Reused("/age-prefix"));
  Route("/age-suffix", Response(200, {"Cache-Control: max-age=3600", "Age: 7200, 0"}));
  EXPECT_FALSE(Reused("/age-suffix"));
  Route("/age-lines", Response(200, {"Cache-Control: max-age=3600", "Age: 7200", "Age: 0"}));
  EXPECT_FALSE(Reused("/age-lines"));
  // Anything but a non-negative integer is ignored.
  for (const std::string bad : {"abc", "-7200", "7200.0", "7200;foo=bar", ""}) {
    const std::string path = "/age-bad" + std::to_string(std::hash<std::string>()(bad) % 100000);
    Route(path, Response(200, {"Cache-Control: max-age=3600", "Age: " + bad}));
    EXPECT_TRUE(Reused(path)) << "Age: " << bad;
  }
  // Past 2^31, 2^31.
  for (const std::string huge :
       {"2147483647", "2147483648", "2147483649", "99999999999999999999"}) {
    const std::string path = "/age-huge" + huge.substr(0, 12);
    Route(path, Response(200, {"Cache-Control: max-age=3600", "Age: " + huge}));
    HttpResponse r = Get(path);
    EXPECT_FALSE(Reused(path)) << huge;
    EXPECT_EQ(r.Header("age"), huge == "2147483647" ? huge : "2147483648");
  }
}

TEST_F(ConformanceTest, ApparentAgeFollowsTheOriginsDateAheadOrBehindTheNodesClock) {
  // Date 10 s behind, Expires 10 s ahead of the node's clock: lifetime 20 s, Age 25: stale.
  Route("/slow-date", Response(200, {"Date: " + DateIn(-10), "Expires: " + DateIn(10), "Age: 25"}));
  EXPECT_FALSE(Reused("/slow-date"));
  // Date 10 s ahead, Expires 20 s ahead: lifetime 10 s, Age 15: stale.
  Route("/fast-date", Response(200, {"Date: " + DateIn(10), "Expires: " + DateIn(20), "Age: 15"}));
  EXPECT_FALSE(Reused("/fast-date"));
  // Without Age, a Date 100 s in the past is an apparent age of 100 s.
  Route("/old-date", Response(200, {"Date: " + DateIn(-100), "Cache-Control: max-age=60"}));
  HttpResponse old = Get("/old-date");
  EXPECT_GE(AgeOf(old), 100);
  EXPECT_FALSE(Reused("/old-date"));
  // A Date ahead of the node's clock is no negative age: still fresh.
  Route("/future-date", Response(200, {"Date: " + DateIn(100), "Cache-Control: max-age=60"}));
  EXPECT_TRUE(Reused("/future-date"));
  // CDN-Cache-Control's lifetime is measured against the same age.
  Route("/cdn-age", Response(200, {"CDN-Cache-Control: max-age=3600", "Age: 7200"}));
  EXPECT_FALSE(Reused("/cdn-age"));
}

// --- 2. Expires and HTTP dates (RFC 9111 §5.3, RFC 9110 §5.6.7) ---

TEST_F(ConformanceTest, AnInvalidExpiresMeansAlreadyExpired) {
  // With a day-old Last-Modified, "no Expires" would be 2.4 hours of heuristic freshness.
  const std::string last_modified = "Last-Modified: " + DateIn(-86400);
  int i = 0;
  for (const std::string expires :
       {"0", "Thu, 18 Aug 2050 02:01:18 UTC", "Thu, 18 Aug 2050 02:01:18 AEST",
        "Thu, 18 Aug 50 02:01:18 GMT", "Thu 18 Aug 2050 02:01:18 GMT",
        "Thu, 18  Aug  2050 02:01:18 GMT", "Thu, 18-Aug-2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 02.01.18 GMT", "Thu, 18 Aug 2050 2:01:18 GMT"}) {
    const std::string path = "/bad-expires" + std::to_string(i++);
    Route(path, Response(200, {last_modified, "Expires: " + expires}));
    EXPECT_FALSE(Reused(path)) << "Expires: " << expires;
  }
  // Two lines, even of the same valid date, are not one Expires.
  const std::string future = "Expires: " + DateIn(3600);
  Route("/two-expires", Response(200, {last_modified, future, future}));
  EXPECT_FALSE(Reused("/two-expires"));
  Route("/one-expires", Response(200, {future}));
  EXPECT_TRUE(Reused("/one-expires"));
}

TEST_F(ConformanceTest, TheThreeDateFormatsAreAcceptedWhateverTheCaseOfNames) {
  int i = 0;
  for (const std::string expires :
       {"Thursday, 18-Aug-50 02:01:18 GMT", "Thu Aug 18 02:01:18 2050",
        "THU, 18 Aug 2050 02:01:18 GMT", "Thu, 18 AUG 2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 02:01:18 gMT"}) {
    const std::string path = "/good-expires" + std::to_string(i++);
    Route(path, Response(200, {"Expires: " + expires}));
    EXPECT_TRUE(Reused(path)) << "Expires: " << expires;
  }
}

// --- 3. Heuristic freshness (RFC 9111 §4.2.2, RFC 9110 §15.1) ---

TEST_F(ConformanceTest, OnlyHeuristicallyCacheableStatusesAreStoredWithoutExplicitFreshness) {
  const std::string last_modified = "Last-Modified: " + DateIn(-86400);
  for (int status : {200, 203, 204, 404, 405, 410, 414, 501}) {
    const std::string path = "/heuristic" + std::to_string(status);
    Route(path, Response(status, {last_modified}));
    EXPECT_TRUE(Reused(path)) << status;
  }
  for (int status : {201, 202, 403, 500, 502, 503, 504, 599}) {
    const std::string path = "/heuristic" + std::to_string(status);
    Route(path, Response(status, {last_modified}));
    EXPECT_FALSE(Reused(path)) << status;
  }
  // public makes any status storable, and then heuristically fresh (§4.2.2).
  Route("/heuristic599public", Response(599, {last_modified, "Cache-Control: public"}));
  EXPECT_TRUE(Reused("/heuristic599public"));
  // The heuristic is a fraction (10%) of the time since Last-Modified.
  Route("/fraction", Response(200, {"Last-Modified: " + DateIn(-1000)}));
  Get("/fraction");
  const std::string cs = Get("/fraction").Header("cache-status");
  ASSERT_NE(cs.find("ttl="), std::string::npos) << cs;
  const int ttl = std::stoi(cs.substr(cs.find("ttl=") + 4));
  EXPECT_LE(ttl, 100);
  EXPECT_GE(ttl, 95);
}

// --- 4. Invalidation (RFC 9111 §4.4) ---

TEST_F(ConformanceTest, ANonErrorResponseToAnyUnsafeMethodInvalidatesKnownOrNot) {
  for (const std::string method : {"POST", "PUT", "DELETE", "PATCH", "M-SEARCH", "FOO"}) {
    for (int status : {200, 303, 500}) {
      const std::string path = "/inv-" + method + "-" + std::to_string(status);
      Route(path, [status](const RawRequest& r) {
        if (r.method == "GET") return Response(200, {"Cache-Control: max-age=3600"});
        return Response(status, {"Cache-Control: no-store"}, "done");
      });
      ASSERT_TRUE(Reused(path)) << path;
      const std::string answer = RawExchange(method + " " + path +
                                             " HTTP/1.1\r\nHost: test.local\r\nContent-Length: "
                                             "3\r\nConnection: close\r\n\r\nabc");
      ASSERT_TRUE(answer.starts_with("HTTP/1.1 " + std::to_string(status))) << answer;
      Get(path);
      // A 2xx or 3xx invalidates; an error leaves the stored response alone.
      EXPECT_EQ(Origin(path), status < 400 ? 3 : 2) << path;
    }
  }
  // Same-origin Location and Content-Location are invalidated too; another host's are not.
  for (const std::string target : {"/loc-a", "/loc-b", "/loc-c"}) {
    Route(target, Response(200, {"Cache-Control: max-age=3600"}));
    ASSERT_TRUE(Reused(target));
  }
  Route("/loc-post", Response(201, {"Location: http://test.local/loc-a", "Content-Location: /loc-b",
                                    "Cache-Control: no-store"}));
  HttpConnection post(port_);
  EXPECT_EQ(post.Send("POST", "/loc-post", {}, "x").status, 201);
  Route("/loc-other", Response(200, {"Location: http://elsewhere.example/loc-c"}));
  EXPECT_EQ(post.Send("PUT", "/loc-other", {}, "x").status, 200);
  Get("/loc-a");
  Get("/loc-b");
  Get("/loc-c");
  EXPECT_EQ(Origin("/loc-a"), 2);
  EXPECT_EQ(Origin("/loc-b"), 2);
  EXPECT_EQ(Origin("/loc-c"), 1);
}

// --- 5. Interim responses (RFC 9110 §15.2) ---

TEST_F(ConformanceTest, InterimResponsesAreRelayedBeforeTheFinalOneAndNeverStored) {
  const std::string interim =
      "HTTP/1.1 102 Processing\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-My-Header: early\r\n\r\n";
  Route("/interim", interim + Response(200, {"Cache-Control: max-age=3600"}, "final"));
  const std::string request =
      "GET /interim HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n";
  const std::string first = RawExchange(request);
  const size_t processing = first.find("HTTP/1.1 102");
  const size_t early = first.find("HTTP/1.1 103");
  const size_t final_response = first.find("HTTP/1.1 200");
  ASSERT_NE(processing, std::string::npos) << first;
  ASSERT_NE(early, std::string::npos) << first;
  ASSERT_NE(final_response, std::string::npos) << first;
  EXPECT_LT(processing, early);
  EXPECT_LT(early, final_response);
  EXPECT_NE(first.find("Link: </style.css>; rel=preload", early), std::string::npos);
  // Their fields belong to them alone.
  EXPECT_EQ(first.find("X-My-Header", final_response), std::string::npos) << first;
  EXPECT_TRUE(first.ends_with("final"));

  // The stored response comes with no interim response.
  const std::string hit = RawExchange(request);
  EXPECT_TRUE(hit.starts_with("HTTP/1.1 200")) << hit;
  EXPECT_EQ(hit.find("X-My-Header"), std::string::npos);
  EXPECT_EQ(Origin("/interim"), 1);

  // An HTTP/1.0 client never gets a 1xx.
  Route("/interim10", interim + Response(200, {"Cache-Control: no-store"}, "final"));
  const std::string old_client = RawExchange("GET /interim10 HTTP/1.0\r\nHost: test.local\r\n\r\n");
  EXPECT_TRUE(old_client.starts_with("HTTP/1.1 200")) << old_client;
  EXPECT_EQ(old_client.find(" 103 "), std::string::npos);
}

// --- 6. CDN-Cache-Control (RFC 9213) ---

TEST_F(ConformanceTest, CdnCacheControlReplacesCacheControlWhenValidAndIsIgnoredWhenNot) {
  const std::string far_expires = "Expires: " + DateIn(10000);
  const std::vector<std::tuple<std::string, std::string, bool>> cases = {
      {"no-store", "max-age=10000", true},
      {"max-age=10000", "no-store", false},
      {"max-age=10000", "private", false},
      {"max-age=10000", "no-cache", false},
      {"max-age=10000", "max-age=0", false},
      {"max-age=1", "foobar, max-age=3600", true},
      {"max-age=1", "max-age=99999999999", true},
      // Invalid: ignored as a whole, and Cache-Control applies.
      {"no-store", "max-age=10000, &&&&&", false},
      {"no-store", "max-age=\"10000\"", false},
      {"no-store", "max-age=10000.5", false},
      {"max-age=10000", "max-age =1", true},
  };
  int i = 0;
  for (const auto& [cc, cdn, reused] : cases) {
    const std::string path = "/cdn" + std::to_string(i++);
    Route(path, Response(200, {"Cache-Control: " + cc, "CDN-Cache-Control: " + cdn}));
    EXPECT_EQ(Reused(path), reused) << "Cache-Control: " << cc << " / CDN-Cache-Control: " << cdn;
  }
  // A valid one without freshness leaves Expires, not Cache-Control's max-age.
  Route("/cdn-none",
        Response(200, {"Cache-Control: max-age=10000", "CDN-Cache-Control: none", "Expires: 0"}));
  EXPECT_FALSE(Reused("/cdn-none"));
  Route("/cdn-none-expires",
        Response(200, {"Cache-Control: no-store", "CDN-Cache-Control: none", far_expires}));
  EXPECT_TRUE(Reused("/cdn-none-expires"));
}

// --- 7. Cache-Control parsing (RFC 9111 §1.2.2, §4.2.1, §5.2) ---

TEST_F(ConformanceTest, InvalidMaxAgeIsStaleAndTheFirstOfDuplicatesCounts) {
  const std::string far_expires = "Expires: " + DateIn(10000);
  int i = 0;
  // delta-seconds are digits only; an invalid max-age is stale, not "no max-age".
  for (const std::string cc :
       {"max-age = 3600", "max-age =3600", "max-age= 3600", "max-age=3600.0", "max-age=a3600",
        "max-age=3600a", "max-age='3600'", "max-age=-3600"}) {
    const std::string path = "/ccbad" + std::to_string(i++);
    Route(path, Response(200, {"Cache-Control: " + cc, far_expires}));
    EXPECT_FALSE(Reused(path)) << "Cache-Control: " << cc;
  }
  for (const std::string cc : {"max-age=\"3600\"", "max-age=003600", "public , max-age=3600 ",
                               "extension=\"max-age=1\", max-age=3600"}) {
    const std::string path = "/ccgood" + std::to_string(i++);
    Route(path, Response(200, {"Cache-Control: " + cc}));
    EXPECT_TRUE(Reused(path)) << "Cache-Control: " << cc;
  }
  // Duplicates: the first occurrence, on one line or across lines.
  Route("/dup-fresh-first", Response(200, {"Cache-Control: max-age=1800, max-age=1"}));
  Route("/dup-stale-first",
        Response(200, {"Cache-Control: max-age=1", "Cache-Control: max-age=1800"}));
  Get("/dup-fresh-first");
  Get("/dup-stale-first");
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  Get("/dup-fresh-first");
  Get("/dup-stale-first");
  EXPECT_EQ(Origin("/dup-fresh-first"), 1);
  EXPECT_EQ(Origin("/dup-stale-first"), 2);
}

// --- 8. When the origin cannot be reached (RFC 9111 §4.2.4, §5.2.2) ---

TEST_F(ConformanceTest, UnrevalidatableEntriesGet504OthersAreServedStaleOnOriginFailure) {
  // Each stored response is stale on arrival (Age past max-age).
  const std::vector<std::string> must = {"max-age=10, must-revalidate",
                                         "max-age=10, proxy-revalidate", "s-maxage=10",
                                         "max-age=10, no-cache"};
  for (size_t i = 0; i < must.size(); ++i) {
    Route("/must" + std::to_string(i), Response(200, {"Cache-Control: " + must[i], "Age: 20"}));
    Get("/must" + std::to_string(i));
  }
  Route("/plain", Response(200, {"Cache-Control: max-age=10", "Age: 20"}, "plain stale"));
  Get("/plain");
  Route("/plain503", [](const RawRequest&) { return Response(503, {}, "down"); });

  raw_.reset();  // the origin is gone: connections are refused
  for (size_t i = 0; i < must.size(); ++i) {
    HttpResponse r = Get("/must" + std::to_string(i));
    EXPECT_EQ(r.status, 504) << must[i] << " " << r.Header("cache-status");
  }
  // cache.stale_if_error_seconds (a day by default) lets the rest ride out the outage.
  HttpResponse stale = Get("/plain");
  EXPECT_EQ(stale.status, 200) << stale.Header("cache-status");
  EXPECT_EQ(stale.body, "plain stale");
  EXPECT_NE(stale.Header("cache-status").find("fwd=stale"), std::string::npos);
  EXPECT_GE(AgeOf(stale), 20);
  // Nothing stored at all: 502.
  EXPECT_EQ(Get("/never-stored").status, 502);
}

TEST_F(ConformanceTest, OnlyIfCachedNeverReachesTheOrigin) {
  // RFC 9111 §5.2.1.7: "respond with either a stored response consistent with the other
  // constraints of the request or a 504 (Gateway Timeout) status code".
  Route("/oic-fresh", Response(200, {"Cache-Control: max-age=600"}, "fresh body"));
  Route("/oic-stale", Response(200, {"Cache-Control: max-age=10", "Age: 20"}, "stale body"));
  Route("/oic-no-cache", Response(200, {"Cache-Control: max-age=600, no-cache"}, "nc body"));
  for (const char* path : {"/oic-fresh", "/oic-stale", "/oic-no-cache"}) Get(path);
  const std::map<std::string, std::string> oic = {{"Cache-Control", "only-if-cached"}};

  HttpResponse fresh = Get("/oic-fresh", oic);
  EXPECT_EQ(fresh.status, 200);
  EXPECT_EQ(fresh.body, "fresh body");
  // Stale, or to be revalidated before every use: only the origin could answer.
  EXPECT_EQ(Get("/oic-stale", oic).status, 504);
  EXPECT_EQ(Get("/oic-no-cache", oic).status, 504);
  EXPECT_EQ(Get("/oic-never-stored", oic).status, 504);
  // max-stale makes the stale one consistent with the request.
  HttpResponse allowed = Get("/oic-stale", {{"Cache-Control", "only-if-cached, max-stale=60"}});
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.body, "stale body");
  for (const char* path : {"/oic-fresh", "/oic-stale", "/oic-no-cache"}) {
    EXPECT_EQ(Origin(path), 1) << path;
  }
  EXPECT_EQ(Origin("/oic-never-stored"), 0);
}

// --- 9. HEAD (RFC 9110 §9.3.2, RFC 9111 §4.3.5) ---

TEST_F(ConformanceTest, AHeadMissIsAnsweredOnceTheHeaderIsKnown) {
  // The body takes 5 s to arrive after the header.
  std::string slow = Response(200, {"Cache-Control: max-age=3600"}, "");
  slow.replace(slow.find("Content-Length: 0"), 17, "Content-Length: 4");
  for (int i = 0; i < 10; ++i) slow += RawOrigin::kPause;
  slow += "body";
  Route("/head-slow", slow);
  const auto started = std::chrono::steady_clock::now();
  HttpResponse head = testing::Fetch(port_, "HEAD", "/head-slow");
  EXPECT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.Header("content-length"), "4");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(3500));
  // The GET it filled the cache for still gets the whole body, from one origin request.
  HttpResponse get = Get("/head-slow");
  EXPECT_EQ(get.body, "body");
  EXPECT_EQ(Origin("/head-slow"), 1);
}

TEST_F(ConformanceTest, AHeadForAStoredResponseGoesToTheOriginAndItsAnswerUpdatesIt) {
  // Stored, stale on arrival; the HEAD answer's validators match: it updates the stored
  // header fields and freshness (§4.3.5), and the body is kept.
  Route("/head-update", [](const RawRequest& r) {
    if (r.method == "HEAD") {
      return HeadAnswer(200, {"ETag: \"v1\"", "Cache-Control: max-age=3600", "X-Template: 2"}, 11);
    }
    return Response(200, {"ETag: \"v1\"", "Cache-Control: max-age=10", "Age: 20", "X-Template: 1"});
  });
  EXPECT_EQ(Get("/head-update").Header("x-template"), "1");
  HttpResponse head = testing::Fetch(port_, "HEAD", "/head-update");
  EXPECT_EQ(head.status, 200);
  ASSERT_EQ(raw_->Requests().back().method, "HEAD");
  EXPECT_EQ(head.Header("x-template"), "2");
  HttpResponse get = Get("/head-update");
  EXPECT_EQ(get.body, "stored body");
  EXPECT_EQ(get.Header("x-template"), "2");
  EXPECT_NE(get.Header("cache-status").find("hit"), std::string::npos)
      << get.Header("cache-status");
  EXPECT_EQ(Origin("/head-update"), 2);

  // Different validators: the stored response is stale, and the next GET fetches anew.
  Route("/head-changed", [](const RawRequest& r) {
    if (r.method == "HEAD")
      return HeadAnswer(200, {"ETag: \"v2\"", "Cache-Control: max-age=3600"}, 11);
    return Response(200, {"ETag: \"v1\"", "Cache-Control: max-age=10", "Age: 20"});
  });
  Get("/head-changed");
  testing::Fetch(port_, "HEAD", "/head-changed");
  Get("/head-changed");
  EXPECT_EQ(Origin("/head-changed"), 3);
  EXPECT_EQ(raw_->Requests().back().method, "GET");
}

TEST_F(ConformanceTest, AChangedHeadAnswerOnAKeptAliveConnectionIsRelayed) {
  // As above, but the HEAD answer keeps its connection open (no "Connection: close"): the
  // connection goes back to the pool once, and the client still gets the answer.
  Route("/head-alive", [](const RawRequest& r) {
    if (r.method == "HEAD") {
      std::string alive = HeadAnswer(200, {"ETag: \"v2\"", "Cache-Control: max-age=3600"}, 11);
      alive.erase(alive.find("Connection: close\r\n"), 19);
      return alive;
    }
    return Response(200, {"ETag: \"v1\"", "Cache-Control: max-age=10", "Age: 20"});
  });
  Get("/head-alive");
  HttpResponse head = testing::Fetch(port_, "HEAD", "/head-alive");
  EXPECT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.Header("etag"), "\"v2\"");
  HttpResponse get = Get("/head-alive");
  EXPECT_EQ(get.status, 200) << get.error;
  EXPECT_EQ(get.body, "stored body");
  EXPECT_EQ(Origin("/head-alive"), 3);
}

// --- 10. Vary (RFC 9111 §4.1) ---

TEST_F(ConformanceTest, EquivalentRequestsShareAVariant) {
  Route("/lang", Response(200, {"Cache-Control: max-age=3600", "Vary: Accept-Language"}));
  Get("/lang", {{"Accept-Language", "en-GB, de;q=0.8"}});
  for (const std::string same : {"de;q=0.8,en-gb", "EN-gb ,  DE ; q=0.8", "en-gb,de;q=0.8"}) {
    Get("/lang", {{"Accept-Language", same}});
    EXPECT_EQ(Origin("/lang"), 1) << same;
  }
  Get("/lang", {{"Accept-Language", "fr"}});
  EXPECT_EQ(Origin("/lang"), 2);
  // The origin saw what the client wrote.
  EXPECT_EQ(raw_->Requests().front().Header("accept-language"), "en-GB, de;q=0.8");

  // Several lines of a field are one list.
  Route("/foo", Response(200, {"Cache-Control: max-age=3600", "Vary: Foo"}));
  RawExchange("GET /foo HTTP/1.1\r\nHost: test.local\r\nFoo: 1, 2\r\nConnection: close\r\n\r\n");
  RawExchange(
      "GET /foo HTTP/1.1\r\nHost: test.local\r\nFoo: 1\r\nFoo: 2\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(Origin("/foo"), 1);
  RawExchange("GET /foo HTTP/1.1\r\nHost: test.local\r\nFoo: 2, 1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(Origin("/foo"), 2);  // an unknown field's order may matter
}

// --- 11. Partial content (RFC 9111 §3.3, §3.4) ---

TEST_F(ConformanceTest, AStoredPartAnswersRangesInsideItAndNothingElse) {
  RestartWith("[cache]\nrange_miss_fetch_full = false\n");  // ranges go to the origin
  Route("/part", [](const RawRequest& r) {
    return RangeAnswer(r, "0123456789", "\"p1\"", {"Cache-Control: max-age=3600", "X-Stored: 1"});
  });
  HttpResponse first = Get("/part", {{"Range", "bytes=4-"}});
  ASSERT_EQ(first.status, 206);
  EXPECT_EQ(first.body, "456789");
  EXPECT_EQ(raw_->Requests().back().Header("range"), "bytes=4-");
  for (const auto& [range, body, content_range] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"bytes=4-", "456789", "bytes 4-9/10"},
           {"bytes=6-8", "678", "bytes 6-8/10"},
           {"bytes=6-", "6789", "bytes 6-9/10"},
           {"bytes=-1", "9", "bytes 9-9/10"}}) {
    HttpResponse r = Get("/part", {{"Range", range}});
    EXPECT_EQ(r.status, 206) << range;
    EXPECT_EQ(r.body, body) << range;
    EXPECT_EQ(r.Header("content-range"), content_range) << range;
    EXPECT_EQ(r.Header("x-stored"), "1");
    EXPECT_NE(r.Header("cache-status").find("hit"), std::string::npos) << r.Header("cache-status");
  }
  EXPECT_EQ(Origin("/part"), 1);
  // Outside the stored part, or the whole: the origin is asked; never a partial as whole.
  HttpResponse outside = Get("/part", {{"Range", "bytes=0-1"}});
  EXPECT_EQ(outside.body, "01");
  EXPECT_EQ(Origin("/part"), 2);
  // A 206 whose body is not the range its Content-Range names is relayed, not stored.
  Route("/liar",
        Response(206, {"Cache-Control: max-age=3600", "Content-Range: bytes 0-9/20"}, "01234"));
  EXPECT_EQ(Get("/liar", {{"Range", "bytes=0-9"}}).body, "01234");
  Get("/liar", {{"Range", "bytes=0-4"}});
  EXPECT_EQ(Origin("/liar"), 2);
  HttpResponse whole = Get("/part");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, "0123456789");
  EXPECT_EQ(Origin("/part"), 3);
}

TEST_F(ConformanceTest, AStoredPrefixIsCompletedByAskingOnlyForTheRest) {
  RestartWith("[cache]\nrange_miss_fetch_full = false\n");
  Route("/prefix", [](const RawRequest& r) {
    return RangeAnswer(r, "0123456789", "\"v1\"",
                       {"Cache-Control: max-age=3600",
                        r.Header("range") == "bytes=0-4" ? "X-From: first" : "X-From: rest"});
  });
  ASSERT_EQ(Get("/prefix", {{"Range", "bytes=0-4"}}).body, "01234");
  HttpResponse complete = Get("/prefix");
  EXPECT_EQ(complete.status, 200);
  EXPECT_EQ(complete.body, "0123456789");
  EXPECT_EQ(complete.Header("content-length"), "10");
  EXPECT_FALSE(complete.Has("content-range"));
  EXPECT_EQ(complete.Header("x-from"), "rest");  // the newer response's fields (§3.4)
  const RawRequest rest = raw_->Requests().back();
  EXPECT_EQ(rest.Header("range"), "bytes=5-");
  EXPECT_EQ(rest.Header("if-range"), "\"v1\"");
  // Now stored whole.
  HttpResponse hit = Get("/prefix");
  EXPECT_EQ(hit.body, "0123456789");
  EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos)
      << hit.Header("cache-status");
  EXPECT_EQ(Get("/prefix", {{"Range", "bytes=7-"}}).body, "789");
  EXPECT_EQ(Origin("/prefix"), 2);

  // A range past the prefix is also served out of the completion.
  Route("/prefix2", [](const RawRequest& r) {
    return RangeAnswer(r, "abcdefghij", "\"v1\"", {"Cache-Control: max-age=3600"});
  });
  Get("/prefix2", {{"Range", "bytes=0-2"}});
  HttpResponse past = Get("/prefix2", {{"Range", "bytes=6-8"}});
  EXPECT_EQ(past.status, 206);
  EXPECT_EQ(past.body, "ghi");
  EXPECT_EQ(past.Header("content-range"), "bytes 6-8/10");
  EXPECT_EQ(raw_->Requests().back().Header("range"), "bytes=3-");
  EXPECT_EQ(Get("/prefix2").body, "abcdefghij");
  EXPECT_EQ(Origin("/prefix2"), 2);

  // A rest that is not the rest asked for is an origin error (502), never joined to the
  // stored part, and the part is still never served as the whole.
  Route("/wrong-rest", [](const RawRequest& r) {
    if (r.Header("range") == "bytes=0-4") {
      return RangeAnswer(r, "0123456789", "\"v1\"", {"Cache-Control: max-age=3600"});
    }
    return Response(206,
                    {"Cache-Control: max-age=3600", "ETag: \"v1\"", "Content-Range: bytes 6-9/10"},
                    "6789");
  });
  Get("/wrong-rest", {{"Range", "bytes=0-4"}});
  EXPECT_EQ(Get("/wrong-rest").status, 502);
  EXPECT_EQ(Get("/wrong-rest").status, 502);
  EXPECT_EQ(Get("/wrong-rest", {{"Range", "bytes=1-2"}}).body, "12");  // the part is intact
  EXPECT_EQ(Origin("/wrong-rest"), 3);

  // The representation changed (If-Range fails): the origin's 200 replaces the prefix.
  std::atomic<int> version = 1;  // read on the origin's thread
  Route("/changed", [&version](const RawRequest& r) {
    return RangeAnswer(r, version == 1 ? "0123456789" : "ABCDEFGHIJ",
                       "\"v" + std::to_string(version.load()) + "\"",
                       {"Cache-Control: max-age=3600"});
  });
  Get("/changed", {{"Range", "bytes=0-4"}});
  version = 2;
  EXPECT_EQ(Get("/changed").body, "ABCDEFGHIJ");
  EXPECT_EQ(Get("/changed").body, "ABCDEFGHIJ");
  EXPECT_EQ(Origin("/changed"), 2);
}

// --- 12. Replicas with their own ETags (the same bytes, another validator) ---

// One counter from the node's /metrics (0 when absent).
uint64_t MetricOf(uint16_t admin_port, const std::string& name) {
  const std::string body = testing::Fetch(admin_port, "GET", "/metrics").body;
  const size_t at = body.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::stoull(body.substr(at + name.size() + 2));
}

// A counter that is bumped once a response is out (the client may see the response
// first): its value once it reaches `expected`, or after 5 s whatever it is.
uint64_t AwaitMetric(uint16_t admin_port, const std::string& name, uint64_t expected) {
  uint64_t v = 0;
  for (int i = 0; i < 250 && (v = MetricOf(admin_port, name)) != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return v;
}

TEST_F(ConformanceTest, ARevalidationAnsweredWithTheStoredBytesKeepsTheStoredBody) {
  // Replicas behind a balancer, each mixing its inode into the ETag: the same bytes under
  // a new ETag on every request.
  std::atomic<int> replica{0};
  const std::string same(5000, 's');
  Route("/replicated", [&](const RawRequest&) {
    return Response(
        200, {"Cache-Control: max-age=0", "ETag: \"r" + std::to_string(++replica) + "\""}, same);
  });
  std::atomic<int> version{0};
  Route("/changing", [&](const RawRequest&) {
    const int v = ++version;
    return Response(200, {"Cache-Control: max-age=0", "ETag: \"v" + std::to_string(v) + "\""},
                    std::string(5000, static_cast<char>('a' + v)));
  });
  ASSERT_EQ(Get("/replicated").body, same);
  // Written once the response was sent (a small body is committed meanwhile).
  uint64_t written = 0;
  for (int i = 0; i < 500 && written <= same.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    written = MetricOf(admin_port_, "edgecache_store_written_bytes_total");
  }
  ASSERT_GT(written, same.size());
  for (int i = 2; i <= 3; ++i) {
    HttpResponse r = Get("/replicated");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, same);
    EXPECT_EQ(r.Header("etag"), "\"r" + std::to_string(i) + "\"");  // the new metadata
  }
  // A conditional request with the newest validator is answered 304 after the revalidation.
  EXPECT_EQ(Get("/replicated", {{"If-None-Match", "\"r4\""}}).status, 304);
  EXPECT_EQ(Origin("/replicated"), 4);
  EXPECT_EQ(MetricOf(admin_port_, "edgecache_store_written_bytes_total"), written)
      << "the same bytes were written again";
  EXPECT_EQ(AwaitMetric(admin_port_, "edgecache_revalidations_total{outcome=\"same_bytes\"}", 3),
            3u);
  EXPECT_EQ(MetricOf(admin_port_, "edgecache_revalidations_total{outcome=\"replaced\"}"), 0u);

  // New bytes replace the body, are written, and are counted as such.
  Get("/changing");
  EXPECT_EQ(Get("/changing").body, std::string(5000, 'c'));
  EXPECT_EQ(AwaitMetric(admin_port_, "edgecache_revalidations_total{outcome=\"replaced\"}", 1), 1u);
  // A client holding the version before gets the new bytes in full, with their ETag.
  HttpResponse changed = Get("/changing", {{"If-None-Match", "\"v2\""}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, std::string(5000, 'd'));
  EXPECT_EQ(changed.Header("etag"), "\"v3\"");
  EXPECT_GE(MetricOf(admin_port_, "edgecache_store_written_bytes_total"), written + 15000);
}

TEST_F(ConformanceTest, AlwaysContentEtagsLetClientsKeepTheirCopyAcrossReplicas) {
  RestartWith("[cache]\ncontent_etag = \"always\"\n");
  std::atomic<int> replica{0};
  const std::string same(5000, 's');
  Route("/replicated", [&](const RawRequest&) {
    return Response(
        200, {"Cache-Control: max-age=0", "ETag: \"r" + std::to_string(++replica) + "\""}, same);
  });
  // The miss is relayed before the content ETag is known: without the origin's ETag.
  HttpResponse miss = Get("/replicated");
  EXPECT_EQ(miss.body, same);
  EXPECT_FALSE(miss.Has("etag"));
  // The next answer comes from the store (revalidated: another replica, another ETag, the
  // same bytes) with the content ETag.
  HttpResponse second = Get("/replicated");
  EXPECT_EQ(second.body, same);
  const std::string content = second.Header("etag");
  ASSERT_TRUE(content.starts_with("\"ec-")) << content;
  for (int i = 0; i < 3; ++i) {
    HttpResponse again = Get("/replicated", {{"If-None-Match", content}});
    EXPECT_EQ(again.status, 304);
    EXPECT_EQ(again.Header("etag"), content);
  }
  EXPECT_EQ(Origin("/replicated"), 5);
  EXPECT_EQ(AwaitMetric(admin_port_, "edgecache_revalidations_total{outcome=\"same_bytes\"}", 4),
            4u);
  // The origin's ETag (of the replica that answered last) still matches.
  EXPECT_EQ(Get("/replicated", {{"If-None-Match", "\"r6\""}}).status, 304);
}

TEST_F(ConformanceTest, StoredValuesThatCouldNotHaveBeenParsedAreNeverWrittenOut) {
  // An entry whose validator and Cache-Control hold a CR LF (a store damaged or written by
  // something else): neither the revalidation sent to the origin nor a 304 to a client
  // may carry the injected line.
  Route("/poisoned", Response(200, {"Cache-Control: max-age=600", "ETag: \"a\"",
                                    "Last-Modified: " + DateIn(-3600)}));
  ASSERT_EQ(Get("/poisoned").status, 200);
  ASSERT_EQ(node_->Stop(), 0);
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir_.Sub("store"), &store).ok());
    std::vector<ObjectInfo> listed;
    ASSERT_TRUE(store->List({}, &listed).ok());
    ASSERT_EQ(listed.size(), 1u);
    ObjectMeta meta = listed[0].meta;
    meta.etag = "\"a\"\r\nX-Injected: etag";
    for (auto& [name, value] : meta.headers) {
      if (name == "Cache-Control") value = "max-age=600\r\nX-Injected: cc";
    }
    ASSERT_TRUE(store->UpdateMeta(listed[0].key, listed[0].version, meta).ok());
  }
  StartNode();
  // A client's conditional while fresh: a 304 from the store, without the bad line.
  const std::string all =
      RawExchange("GET /poisoned HTTP/1.1\r\nHost: test.local\r\nIf-Modified-Since: " + DateIn(0) +
                  "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(all.starts_with("HTTP/1.1 304")) << all;
  EXPECT_EQ(all.find("X-Injected"), std::string::npos) << all;
  // A forced revalidation: the origin gets If-Modified-Since, never the bad If-None-Match.
  Get("/poisoned", {{"Cache-Control", "no-cache"}});
  ASSERT_EQ(Origin("/poisoned"), 2);
  const std::string head = raw_->Requests().back().head;
  EXPECT_NE(head.find("If-Modified-Since:"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-Injected"), std::string::npos) << head;
  EXPECT_EQ(head.find("If-None-Match"), std::string::npos) << head;
}

// --- 13. Framing of relayed bodies (RFC 9112 §6.3, §7.1) ---

// Decodes a chunked body exactly as RFC 9112 §7.1 writes one: each chunk its size in hex,
// CRLF, the data, CRLF; then "0", CRLF, no trailer fields, CRLF. False on any other byte;
// `rest` is what follows the last chunk.
bool DecodeChunked(std::string_view wire, std::string* body, std::string_view* rest) {
  body->clear();
  for (;;) {
    const size_t eol = wire.find("\r\n");
    if (eol == std::string_view::npos || eol == 0) return false;
    size_t size = 0;
    for (char c : wire.substr(0, eol)) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
      size = size * 16 + static_cast<size_t>(std::stoi(std::string(1, c), nullptr, 16));
    }
    wire.remove_prefix(eol + 2);
    if (size == 0) {
      if (!wire.starts_with("\r\n")) return false;
      *rest = wire.substr(2);
      return true;
    }
    if (wire.size() < size + 2 || wire.substr(size, 2) != "\r\n") return false;
    body->append(wire.substr(0, size));
    wire.remove_prefix(size + 2);
  }
}

TEST_F(ConformanceTest, ABodyOfUnknownLengthReachesTheClientInWellFormedChunks) {
  // No Content-Length: the body ends when the origin closes (RFC 9112 §6.3, rule 8), and
  // it comes in three pieces half a second apart. To an HTTP/1.1 client the node frames
  // it as chunks, whether it stores the response (relayed from the fill) or not (passed).
  for (const std::string cc : {"max-age=3600", "no-store"}) {
    const std::string path = "/unknown-length-" + cc.substr(0, cc.find('='));
    Route(path, "HTTP/1.1 200 OK\r\nDate: " + DateIn(0) + "\r\nCache-Control: " + cc +
                    "\r\nConnection: close\r\n\r\nfirst piece, " + std::string(RawOrigin::kPause) +
                    "second, " + std::string(RawOrigin::kPause) + "third");
    const std::string all =
        RawExchange("GET " + path + " HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n");
    const size_t head_end = all.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << all;
    const std::string head = all.substr(0, head_end + 2);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 200 ")) << head;
    EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
    std::string body;
    std::string_view rest;
    ASSERT_TRUE(DecodeChunked(std::string_view(all).substr(head_end + 4), &body, &rest)) << all;
    EXPECT_EQ(body, "first piece, second, third") << cc;
    EXPECT_TRUE(rest.empty()) << rest;
  }
  // The stored one is a hit next, framed by its now known length.
  HttpResponse hit = Get("/unknown-length-max-age");
  EXPECT_EQ(hit.body, "first piece, second, third");
  EXPECT_EQ(hit.Header("content-length"), "26");
  EXPECT_EQ(Origin("/unknown-length-max-age"), 1);
  EXPECT_EQ(Get("/unknown-length-no-store").body, "first piece, second, third");
  EXPECT_EQ(Origin("/unknown-length-no-store"), 2);
}

}  // namespace
}  // namespace edgecache
