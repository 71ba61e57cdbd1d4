// The caching proxy end to end: the real edgecache and origin-sim binaries on loopback
// ports, real HTTP, one rule per test (docs/conformance.md maps rules to these tests).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "edgecache/store.h"
#include "support/http_client.h"
#include "support/node_fixture.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "version/version.h"

namespace edgecache {
namespace {

using testing::ChildProcess;
using testing::Fetch;
using testing::HttpConnection;
using testing::HttpResponse;

class ProxyTest : public testing::NodeFixture {};

// --- storage and hits ---

TEST_F(ProxyTest, MissIsStoredThenHitServedFromCache) {
  HttpResponse miss = Get("/hit?cc=max-age=300&size=5000");
  ASSERT_EQ(miss.status, 200) << miss.error;
  EXPECT_EQ(miss.body.size(), 5000u);
  EXPECT_NE(miss.Header("cache-status").find("fwd=miss"), std::string::npos)
      << miss.Header("cache-status");
  EXPECT_NE(miss.Header("cache-status").find("stored"), std::string::npos);
  EXPECT_EQ(miss.Header("via"), "1.1 edgecache");

  HttpResponse hit = Get("/hit?cc=max-age=300&size=5000");
  ASSERT_EQ(hit.status, 200);
  EXPECT_EQ(hit.body, miss.body);
  EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos)
      << hit.Header("cache-status");
  EXPECT_TRUE(hit.Has("age"));
  EXPECT_EQ(hit.Header("etag"), miss.Header("etag"));
  EXPECT_EQ(OriginCount("/hit"), 1);
}

TEST_F(ProxyTest, ResponsesThatMustNotBeStoredAreNot) {
  for (const std::string target :
       {"/ns?cc=no-store", "/pv?cc=private,max-age=60", "/ck?cc=max-age=60&setcookie=1",
        "/vs?cc=max-age=60&vary=*", "/sc?cc=max-age=60&sc=no-store"}) {
    Get(target);
    HttpResponse again = Get(target);
    EXPECT_NE(again.Header("cache-status").find("fwd=miss"), std::string::npos) << target;
    std::string path = target.substr(0, target.find('?'));
    EXPECT_EQ(OriginCount(path), 2) << target;
  }
  // Authorization: shared caches only store when the response says they may.
  Get("/auth?cc=max-age=60", {{"Authorization", "Bearer x"}});
  Get("/auth?cc=max-age=60", {{"Authorization", "Bearer x"}});
  EXPECT_EQ(OriginCount("/auth"), 2);
  Get("/authpub?cc=public,max-age=60", {{"Authorization", "Bearer x"}});
  Get("/authpub?cc=public,max-age=60", {{"Authorization", "Bearer x"}});
  EXPECT_EQ(OriginCount("/authpub"), 1);
}

TEST_F(ProxyTest, FreshnessPrecedenceCdnCacheControlSurrogateSmaxageMaxageExpires) {
  // CDN-Cache-Control governs this cache over Cache-Control (RFC 9213).
  Get("/cdn?cc=no-cache&cdncc=max-age=100");
  HttpResponse r = Get("/cdn?cc=no-cache&cdncc=max-age=100");
  EXPECT_NE(r.Header("cache-status").find("hit"), std::string::npos) << r.Header("cache-status");
  EXPECT_EQ(r.Header("cache-control"), "no-cache");  // still sent on to clients
  // Surrogate-Control max-age, then s-maxage over max-age, then Expires.
  for (auto [target, ttl] : {std::pair<std::string, int>{"/sur?sc=max-age=200&cc=max-age=5", 200},
                             {"/smax?cc=max-age=5,s-maxage=300", 300},
                             {"/exp?expires=400", 400}}) {
    Get(target);
    HttpResponse hit = Get(target);
    std::string cs = hit.Header("cache-status");
    ASSERT_NE(cs.find("ttl="), std::string::npos) << target << " " << cs;
    int got = std::stoi(cs.substr(cs.find("ttl=") + 4));
    EXPECT_LE(got, ttl) << target;
    EXPECT_GE(got, ttl - 3) << target;
  }
}

TEST_F(ProxyTest, HeuristicFreshnessOnlyFromLastModified) {
  // Last-Modified 10 days before Date: 10% = 1 day, capped at heuristic_max (1 day).
  const int64_t ten_days_ago = std::time(nullptr) - 10 * 86400;
  const std::string target = "/heur?lm=" + std::to_string(ten_days_ago);
  Get(target);
  HttpResponse hit = Get(target);
  EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos)
      << hit.Header("cache-status");
  // No Last-Modified and no explicit freshness: stored, but revalidated before reuse.
  Get("/noheur?lm=none");
  HttpResponse again = Get("/noheur?lm=none");
  EXPECT_NE(again.Header("cache-status").find("fwd=stale"), std::string::npos)
      << again.Header("cache-status");
  // A status that is not cacheable by default is not stored without explicit freshness.
  Get("/teapot?status=418");
  Get("/teapot?status=418");
  EXPECT_EQ(OriginCount("/teapot"), 2);
}

TEST_F(ProxyTest, AgeCountsTheAgeTheResponseArrivedWith) {
  Get("/aged?cc=max-age=100&age=40");
  HttpResponse hit = Get("/aged?cc=max-age=100&age=40");
  ASSERT_TRUE(hit.Has("age"));
  EXPECT_GE(std::stoi(hit.Header("age")), 40);
  std::string cs = hit.Header("cache-status");
  int ttl = std::stoi(cs.substr(cs.find("ttl=") + 4));
  EXPECT_LE(ttl, 60);
  // Already older than its lifetime: stale on arrival.
  Get("/old?cc=max-age=10&age=50");
  HttpResponse stale = Get("/old?cc=max-age=10&age=50");
  EXPECT_NE(stale.Header("cache-status").find("fwd=stale"), std::string::npos);
}

// --- revalidation ---

TEST_F(ProxyTest, StaleEntryRevalidatesWith304AndServesStoredBody) {
  HttpResponse first = Get("/reval?cc=max-age=0&size=3000");
  HttpResponse second = Get("/reval?cc=max-age=0&size=3000");
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.body, first.body);
  EXPECT_NE(second.Header("cache-status").find("fwd=stale"), std::string::npos)
      << second.Header("cache-status");
  EXPECT_NE(second.Header("cache-status").find("fwd-status=304"), std::string::npos);
  EXPECT_EQ(OriginCount("/reval", "conditional"), 1);
  EXPECT_EQ(OriginCount("/reval", "not_modified"), 1);
}

TEST_F(ProxyTest, RevalidationWith200ReplacesTheEntry) {
  HttpResponse v1 = Get("/change?cc=max-age=0");
  Fetch(origin_port_, "GET", "/__bump?path=/change");
  HttpResponse v2 = Get("/change?cc=max-age=0");
  EXPECT_NE(v2.body, v1.body);
  EXPECT_NE(v2.body.find("#v2"), std::string::npos);
  HttpResponse v2_again = Get("/change?cc=max-age=0");
  EXPECT_EQ(v2_again.body, v2.body);
  EXPECT_NE(v2_again.Header("cache-status").find("fwd-status=304"), std::string::npos);
}

TEST_F(ProxyTest, RevalidationWith404RemovesTheEntry) {
  HttpResponse v1 = Get("/gone?cc=max-age=0");
  Fetch(origin_port_, "GET", "/__status?path=/gone&status=410");
  HttpResponse gone = Get("/gone?cc=max-age=0");
  EXPECT_EQ(gone.status, 410);
  EXPECT_NE(gone.Header("cache-status").find("fwd-status=410"), std::string::npos);
  HttpResponse metrics = Fetch(admin_port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("edgecache_revalidations_total{outcome=\"removed\"} 1"),
            std::string::npos)
      << metrics.body;
  // The resource comes back changed: the 200 stored first is never served again.
  Fetch(origin_port_, "GET", "/__status?path=/gone&status=0");
  Fetch(origin_port_, "GET", "/__bump?path=/gone");
  HttpResponse back = Get("/gone?cc=max-age=0");
  EXPECT_EQ(back.status, 200);
  EXPECT_NE(back.body, v1.body);
  EXPECT_NE(back.body.find("#v2"), std::string::npos);
}

TEST_F(ProxyTest, ResponseNoCacheRevalidatesEveryTime) {
  Get("/nc?cc=no-cache,max-age=600");
  HttpResponse r = Get("/nc?cc=no-cache,max-age=600");
  EXPECT_NE(r.Header("cache-status").find("fwd=stale"), std::string::npos)
      << r.Header("cache-status");
  EXPECT_EQ(OriginCount("/nc", "conditional"), 1);
}

TEST_F(ProxyTest, ClientNoCacheForcesRevalidation) {
  Get("/cnc?cc=max-age=600");
  HttpResponse r = Get("/cnc?cc=max-age=600", {{"Cache-Control", "no-cache"}});
  EXPECT_NE(r.Header("cache-status").find("fwd=request"), std::string::npos)
      << r.Header("cache-status");
  EXPECT_EQ(OriginCount("/cnc", "conditional"), 1);
  HttpResponse p = Get("/cnc?cc=max-age=600", {{"Pragma", "no-cache"}});
  EXPECT_EQ(OriginCount("/cnc", "conditional"), 2);
}

TEST_F(ProxyTest, OriginDownOrSlowGives502Or504NeverAHang) {
  HttpResponse slow_ok = Get("/slowok?delay_ms=100&cc=max-age=60");
  EXPECT_EQ(slow_ok.status, 200);
  // A stale entry whose origin hangs: 504 within the origin timeout (here 1 s).
  node_.reset();
  StartNode({"--config", [&] {
               std::string path = dir_.Sub("fast-timeout.toml");
               std::ofstream(path) << "[timeouts]\norigin_ms = 1000\n";
               return path;
             }()});
  auto start = std::chrono::steady_clock::now();
  HttpResponse hang = Get("/hang?fail=hang");
  EXPECT_EQ(hang.status, 504);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  HttpResponse reset = Get("/reset?fail=reset");
  EXPECT_EQ(reset.status, 502);
  origin_.reset();  // the origin is gone altogether
  HttpResponse down = Get("/anything");
  EXPECT_EQ(down.status, 502);
}

TEST_F(ProxyTest, BodyCutByOriginIsNeitherStoredNorPassedAsComplete) {
  HttpConnection c(port_);
  HttpResponse cut = c.Send("GET", "/cut?fail=cut&size=200000&cc=max-age=60");
  EXPECT_FALSE(cut.complete);
  EXPECT_LT(cut.body.size(), 200000u);
  HttpResponse again = Get("/cut?fail=cut&size=200000&cc=max-age=60");
  EXPECT_EQ(OriginCount("/cut"), 2);  // nothing was stored
  EXPECT_EQ(again.Header("cache-status").find("hit"), std::string::npos);
}

TEST_F(ProxyTest, ObjectsOverTheSizeLimitStreamThroughUnstored) {
  node_.reset();
  std::string path = dir_.Sub("small-objects.toml");
  std::ofstream(path) << "[limits]\nmax_object_bytes = \"64KiB\"\n";
  StartNode({"--config", path});
  for (const std::string target :
       {"/huge?cc=max-age=60&size=100000", "/hugechunked?cc=max-age=60&size=100000&chunked=1"}) {
    HttpResponse first = Get(target);
    // The first fetch may still be winding down after its client has every byte; a request
    // in that window would (rightly) be collapsed into it and not reach the origin.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    HttpResponse second = Get(target);
    EXPECT_EQ(first.body.size(), 100000u) << target;
    EXPECT_EQ(second.body, first.body) << target;
    EXPECT_EQ(second.Header("cache-status").find("hit"), std::string::npos) << target;
    EXPECT_EQ(OriginCount(target.substr(0, target.find('?'))), 2) << target;
  }
  HttpResponse small = Get("/small?cc=max-age=60&size=1000");
  EXPECT_NE(Get("/small?cc=max-age=60&size=1000").Header("cache-status").find("hit"),
            std::string::npos);
}

TEST_F(ProxyTest, CorruptStoredBodyIsAMissNeverServed) {
  HttpResponse first = Get("/rot?cc=max-age=600&size=3000");
  ASSERT_EQ(node_->Stop(), 0);
  // Bit rot: flip a byte inside the stored body in every segment file.
  int flipped = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("store/segments"))) {
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t at = bytes.find("/rot#v1|");
    if (at == std::string::npos) continue;
    f.seekp(static_cast<std::streamoff>(at + 1500));
    f.put(static_cast<char>(bytes[at + 1500] ^ 0x20));
    ++flipped;
  }
  ASSERT_EQ(flipped, 1);
  StartNode();
  HttpResponse again = Get("/rot?cc=max-age=600&size=3000");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);  // fetched again, not the damaged copy
  EXPECT_NE(again.Header("cache-status").find("fwd=miss"), std::string::npos)
      << again.Header("cache-status");
  EXPECT_EQ(OriginCount("/rot"), 2);
  HttpResponse healed = Get("/rot?cc=max-age=600&size=3000");
  EXPECT_NE(healed.Header("cache-status").find("hit"), std::string::npos);
  EXPECT_EQ(healed.body, first.body);
}

// --- stale serving (RFC 5861) ---

TEST_F(ProxyTest, StaleIfErrorServesStaleWhenTheOriginFails) {
  // Stale on arrival (Age 20 > max-age 10), inside its stale-if-error window.
  const std::string url = "/sie?cc=max-age=10,stale-if-error=600&age=20&size=500";
  HttpResponse stored = Get(url);
  Fetch(origin_port_, "GET", "/__status?path=/sie&status=503");
  HttpResponse on_5xx = Get(url);
  EXPECT_EQ(on_5xx.status, 200);
  EXPECT_EQ(on_5xx.body, stored.body);
  EXPECT_NE(on_5xx.Header("cache-status").find("fwd=stale"), std::string::npos)
      << on_5xx.Header("cache-status");
  EXPECT_NE(on_5xx.Header("cache-status").find("fwd-status=503"), std::string::npos);
  // must-revalidate forbids it; so does staleness beyond the window.
  Get("/siemr?cc=max-age=10,stale-if-error=600,must-revalidate&age=20");
  Fetch(origin_port_, "GET", "/__status?path=/siemr&status=503");
  EXPECT_EQ(Get("/siemr?cc=max-age=10,stale-if-error=600,must-revalidate&age=20").status, 503);
  Get("/sieold?cc=max-age=10,stale-if-error=60&age=2000");
  Fetch(origin_port_, "GET", "/__status?path=/sieold&status=500");
  EXPECT_EQ(Get("/sieold?cc=max-age=10,stale-if-error=60&age=2000").status, 500);
  // A request's max-stale allows it too.
  Get("/siems?cc=max-age=10,stale-if-error=60&age=2000");
  Fetch(origin_port_, "GET", "/__status?path=/siems&status=502");
  EXPECT_EQ(Get("/siems?cc=max-age=10,stale-if-error=60&age=2000").status, 502);
  EXPECT_EQ(
      Get("/siems?cc=max-age=10,stale-if-error=60&age=2000", {{"Cache-Control", "max-stale=3600"}})
          .status,
      200);
  // A response naming no stale-if-error gets cache.stale_if_error_seconds (a day).
  Get("/siedefault?cc=max-age=10&age=2000");
  Fetch(origin_port_, "GET", "/__status?path=/siedefault&status=503");
  EXPECT_EQ(Get("/siedefault?cc=max-age=10&age=2000").status, 200);
  // The origin gone altogether: stale, not 502.
  origin_.reset();
  HttpResponse down = Get(url);
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.body, stored.body);
  EXPECT_NE(down.Header("cache-status").find("origin unreachable"), std::string::npos);
}

TEST_F(ProxyTest, StaleWhileRevalidateServesAtOnceAndRefreshesOnceInTheBackground) {
  const std::string url = "/swr?cc=max-age=10,stale-while-revalidate=600&age=20&delay_ms=300";
  HttpResponse first = Get(url);
  ASSERT_EQ(first.status, 200);
  // Ten concurrent requests for the stale entry: all answered from cache without waiting
  // for the (slow) origin, and one background revalidation between them.
  std::vector<std::thread> clients;
  std::atomic<int> stale_hits{0};
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back([&] {
      auto start = std::chrono::steady_clock::now();
      HttpResponse r = Get(url);
      if (r.status == 200 && r.body == first.body &&
          r.Header("cache-status").find("stale-while-revalidate") != std::string::npos &&
          std::chrono::steady_clock::now() - start < std::chrono::milliseconds(250)) {
        ++stale_hits;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(stale_hits.load(), 10);
  for (int i = 0; i < 100 && OriginCount("/swr", "not_modified") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(OriginCount("/swr", "conditional"), 1);
  EXPECT_EQ(OriginCount("/swr"), 2);
  // Once that revalidation is done, the next stale hit may start another one.
  HttpResponse after = Get(url);
  EXPECT_NE(after.Header("cache-status").find("stale-while-revalidate"), std::string::npos);
  for (int i = 0; i < 100 && OriginCount("/swr", "conditional") < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(OriginCount("/swr", "conditional"), 2);
  // Outside the window (and with no window at all) the client waits for the origin.
  Get("/noswr?cc=max-age=10&age=20");
  HttpResponse waited = Get("/noswr?cc=max-age=10&age=20");
  EXPECT_NE(waited.Header("cache-status").find("fwd-status=304"), std::string::npos);
}

// --- invalidation (RFC 9111 §4.4) ---

TEST_F(ProxyTest, UnsafeMethodsInvalidateTargetLocationAndContentLocation) {
  Get("/inv/a?cc=max-age=600");
  Get("/inv/b");  // not cached (no freshness) - irrelevant
  Get("/inv/loc");
  Get("/inv/loc?cc=max-age=600");
  Get("/inv/cloc?cc=max-age=600");
  Get("/inv/keep?cc=max-age=600");
  // POST to /inv/a?cc=max-age=600 answers with Location and Content-Location headers.
  HttpResponse post = Fetch(port_, "POST",
                            "/inv/a?cc=max-age=600&hdr=Location:/inv/loc?cc=max-age=600"
                            "&hdr=Content-Location:http://test.local/inv/cloc?cc=max-age=600",
                            {}, "data");
  EXPECT_EQ(post.status, 200);
  // The POST's own target is a different cache key (its query differs); invalidate it directly.
  Fetch(port_, "DELETE", "/inv/a?cc=max-age=600");
  EXPECT_NE(Get("/inv/a?cc=max-age=600").Header("cache-status").find("fwd=miss"),
            std::string::npos);
  EXPECT_NE(Get("/inv/loc?cc=max-age=600").Header("cache-status").find("fwd=miss"),
            std::string::npos);
  EXPECT_NE(Get("/inv/cloc?cc=max-age=600").Header("cache-status").find("fwd=miss"),
            std::string::npos);
  EXPECT_NE(Get("/inv/keep?cc=max-age=600").Header("cache-status").find("hit"), std::string::npos);
  // A failed unsafe request invalidates nothing.
  Get("/inv/fail?cc=max-age=600");
  Fetch(origin_port_, "GET", "/__status?path=/inv/fail&status=500");
  Fetch(port_, "PUT", "/inv/fail?cc=max-age=600", {}, "x");
  Fetch(origin_port_, "GET", "/__status?path=/inv/fail&status=0");
  EXPECT_NE(Get("/inv/fail?cc=max-age=600").Header("cache-status").find("hit"), std::string::npos);
}

// --- this node's Via ---

TEST_F(ProxyTest, ResponseViaCanBeTurnedOffButOriginsStillGetIt) {
  const std::string url = "/via?cc=max-age=600&echo=1";
  HttpResponse miss = Get(url);
  EXPECT_EQ(miss.Header("via"), "1.1 edgecache");
  node_.reset();
  std::string conf = dir_.Sub("novia.toml");
  std::ofstream(conf) << "response_via = false\n";
  StartNode({"--config", conf});
  HttpResponse fetched = Get("/via2?cc=max-age=600&echo=1");
  EXPECT_FALSE(fetched.Has("via")) << fetched.Header("via");
  EXPECT_NE(fetched.body.find("Via: 1.1 edgecache"), std::string::npos) << fetched.body;
  HttpResponse hit = Get("/via2?cc=max-age=600&echo=1");
  EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos);
  EXPECT_FALSE(hit.Has("via"));
  HttpResponse refused = Get("/x#fragment");
  EXPECT_EQ(refused.status, 400);
  EXPECT_FALSE(refused.Has("via"));
}

// --- validators the origin forgot ---

TEST_F(ProxyTest, ValidatorsTheOriginForgotAreSynthesised) {
  const std::string url = "/novalidators?cc=max-age=600&etag=none&lm=none&size=4000";
  Get(url);
  HttpResponse hit = Get(url);
  ASSERT_NE(hit.Header("cache-status").find("hit"), std::string::npos);
  const std::string lm = hit.Header("last-modified");
  ASSERT_FALSE(lm.empty()) << "no synthesised Last-Modified";
  EXPECT_FALSE(hit.Has("etag"));  // content ETags are opt-in
  EXPECT_EQ(Get(url, {{"If-Modified-Since", lm}}).status, 304);
  EXPECT_EQ(Get(url, {{"If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}}).status, 200);

  // Switched off, nothing is made up: no Last-Modified, so no 304 for a date.
  node_.reset();
  std::string off = dir_.Sub("nolm.toml");
  std::ofstream(off) << "[cache]\nsynthesize_last_modified = false\n";
  StartNode({"--config", off});
  Get(url);
  HttpResponse plain = Get(url);
  EXPECT_NE(plain.Header("cache-status").find("hit"), std::string::npos);
  EXPECT_FALSE(plain.Has("last-modified"));
  EXPECT_EQ(Get(url, {{"If-Modified-Since", lm}}).status, 200);

  // Two replicas of a fleet with content ETags agree on the ETag of the same bytes, so a
  // client's If-None-Match gets a 304 from either.
  node_.reset();
  std::string conf = dir_.Sub("etag.toml");
  std::ofstream(conf) << "[cache]\ncontent_etag = true\n";
  StartNode({"--config", conf});
  testing::TempDir other_store;
  ChildProcess replica(EDGECACHE_BIN,
                       {"--listen", "127.0.0.1:0", "--origin", OriginUrl(), "--store",
                        other_store.Sub("s"), "--config", conf, "--log-level", "error"});
  const uint16_t replica_port = replica.WaitForPort("edgecache: listening on");
  ASSERT_NE(replica_port, 0);
  HttpResponse a = Get(url);
  Fetch(replica_port, "GET", url);
  HttpResponse b = Fetch(replica_port, "GET", url);
  const std::string etag = a.Header("etag");
  ASSERT_TRUE(etag.starts_with("\"ec-")) << etag;
  EXPECT_EQ(b.Header("etag"), etag);
  EXPECT_EQ(Fetch(replica_port, "GET", url, {{"If-None-Match", etag}}).status, 304);
  EXPECT_EQ(Get(url, {{"If-None-Match", etag}}).status, 304);
  // An origin ETag is never replaced.
  Get("/withetag?cc=max-age=600&etag=v7");
  EXPECT_EQ(Get("/withetag?cc=max-age=600&etag=v7").Header("etag"), "\"v7\"");
}

// --- tiered caching ---

TEST_F(ProxyTest, EdgesBehindAParentMakeOneOriginRequest) {
  // node_ is the parent (shield); three edges send their misses to it.
  node_.reset();
  StartNode({"--name", "shield"});
  const std::string parent = "http://127.0.0.1:" + std::to_string(port_);
  std::vector<std::unique_ptr<testing::TempDir>> stores;
  std::vector<std::unique_ptr<ChildProcess>> edges;
  std::vector<uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    stores.push_back(std::make_unique<testing::TempDir>());
    edges.push_back(std::make_unique<ChildProcess>(
        EDGECACHE_BIN,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--origin", OriginUrl(), "--parent",
                                 parent, "--name", "edge" + std::to_string(i), "--store",
                                 stores.back()->Sub("s"), "--log-level", "error"}));
    ports.push_back(edges.back()->WaitForPort("edgecache: listening on"));
    ASSERT_NE(ports.back(), 0);
  }
  const std::string url = "/tiered?cc=max-age=600&size=2000";
  std::vector<HttpResponse> responses;
  for (uint16_t p : ports) responses.push_back(Fetch(p, "GET", url));
  for (const auto& r : responses) {
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, responses[0].body);
  }
  EXPECT_EQ(OriginCount("/tiered"), 1);
  // The parent's Cache-Status is kept in the chain, closest to the origin first.
  EXPECT_EQ(responses[0].Header("cache-status").find("shield; fwd=miss"), 0u)
      << responses[0].Header("cache-status");
  EXPECT_NE(responses[0].Header("cache-status").find(", edge0; fwd=miss"), std::string::npos);
  EXPECT_EQ(responses[1].Header("cache-status").find("shield; hit"), 0u)
      << responses[1].Header("cache-status");
  EXPECT_NE(responses[1].Header("cache-status").find(", edge1; fwd=miss; fwd-status=200; stored"),
            std::string::npos);
  EXPECT_EQ(responses[1].Header("via"), "1.1 shield, 1.1 edge1");
  // An edge hit shows only its own entry.
  HttpResponse edge_hit = Fetch(ports[2], "GET", url);
  EXPECT_EQ(edge_hit.Header("cache-status").find("edge2; hit"), 0u)
      << edge_hit.Header("cache-status");
  EXPECT_EQ(OriginCount("/tiered"), 1);
}

TEST_F(ProxyTest, ImmutableMustUnderstandAndNoCacheFieldNames) {
  // no-cache="X-Secret": stored and reused without revalidation, minus that field.
  const std::string nc = "/ncf?cc=max-age=600,no-cache=%22X-Secret%22&hdr=X-Secret:s3cret";
  HttpResponse first = Get(nc);
  EXPECT_EQ(first.Header("x-secret"), "s3cret");  // the response it came with is whole
  HttpResponse hit = Get(nc);
  EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos)
      << hit.Header("cache-status");
  EXPECT_FALSE(hit.Has("x-secret"));
  // must-understand with a status this cache understands overrides no-store.
  Get("/mu?cc=max-age=600,must-understand,no-store");
  EXPECT_NE(Get("/mu?cc=max-age=600,must-understand,no-store").Header("cache-status").find("hit"),
            std::string::npos);
  // immutable: a client's reload does not reach the origin while the entry is fresh.
  Get("/imm?cc=max-age=600,immutable");
  HttpResponse reload = Get("/imm?cc=max-age=600,immutable", {{"Cache-Control", "no-cache"}});
  EXPECT_NE(reload.Header("cache-status").find("hit"), std::string::npos)
      << reload.Header("cache-status");
  EXPECT_EQ(OriginCount("/imm"), 1);
}

// --- request collapsing ---

TEST_F(ProxyTest, HundredConcurrentMissesMakeOneOriginRequest) {
  const std::string url = "/cold?cc=max-age=600&size=20000&delay_ms=300";
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([&] {
      HttpResponse r = Get(url);
      if (r.status == 200 && r.body.size() == 20000 && r.body.starts_with("/cold#v1|")) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(OriginCount("/cold"), 1);

  // An uncacheable response releases the waiters to the origin, each once.
  std::vector<std::thread> more;
  std::atomic<int> ok2{0};
  for (int i = 0; i < 10; ++i) {
    more.emplace_back([&] {
      if (Get("/hot-uncacheable?cc=no-store&delay_ms=200").status == 200) ++ok2;
    });
  }
  for (auto& t : more) t.join();
  EXPECT_EQ(ok2.load(), 10);
  EXPECT_EQ(OriginCount("/hot-uncacheable"), 10);
}

TEST_F(ProxyTest, ConnectionsOnEveryNetworkThreadShareFetchesAndTheStore) {
  // Four network threads, connections dealt out in turn: eight clients at once land on
  // every thread, yet one origin fetch serves them all, and what one thread stored the
  // others serve. Each keep-alive client then misses on its own URLs through its thread's
  // pooled origin connections.
  node_.reset();
  StartNode({"--threads", "4"});
  const std::string url = "/threads-shared?cc=max-age=600&size=30000&delay_ms=300";
  std::vector<HttpResponse> first(8);
  {
    std::vector<std::thread> clients;
    for (auto& r : first) clients.emplace_back([&r, this, &url] { r = Get(url); });
    for (auto& t : clients) t.join();
  }
  for (const auto& r : first) {
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body.size(), 30000u);
    EXPECT_EQ(r.body, first[0].body);
  }
  EXPECT_EQ(OriginCount("/threads-shared"), 1);
  std::atomic<int> hits{0}, misses{0};
  {
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&, c] {
        HttpConnection conn(port_);
        for (int i = 0; i < 5; ++i) {
          HttpResponse hit = conn.Send("GET", url);
          if (hit.body == first[0].body &&
              hit.Header("cache-status").find("hit") != std::string::npos)
            ++hits;
          const std::string own = "/threads-own/" + std::to_string(c) + "/" + std::to_string(i) +
                                  "?cc=max-age=600&size=" + std::to_string(1000 + c * 10 + i);
          HttpResponse miss = conn.Send("GET", own);
          if (miss.status == 200 && miss.body.size() == static_cast<size_t>(1000 + c * 10 + i))
            ++misses;
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  EXPECT_EQ(hits.load(), 40);
  EXPECT_EQ(misses.load(), 40);
  EXPECT_EQ(OriginCount("/threads-shared"), 1);
}

TEST_F(ProxyTest, CollapsedRequestsAreStreamedWhileTheResponseArrives) {
  // The origin answers after 300 ms and trickles the body (8 parts, 100 ms apart).
  // Followers that arrive before its first byte get the leader's response as it streams;
  // the body is held only for them. Followers that arrive mid-body (its first bytes are
  // gone) wait for the end and get it from the store. The origin is asked once.
  auto run = [&](const std::string& url, size_t size, int followers, int after_ms,
                 const std::string& expect) {
    std::thread leader([&] { EXPECT_EQ(Get(url).body.size(), size); });
    std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
    std::vector<std::thread> threads;
    std::atomic<int> served{0};
    for (int i = 0; i < followers; ++i) {
      threads.emplace_back([&] {
        HttpResponse r = Get(url);
        const std::string cs = r.Header("cache-status");
        if (r.status == 200 && r.body.size() == size && cs.find(expect) != std::string::npos) {
          ++served;
        } else {
          ADD_FAILURE() << url << ": " << r.status << " " << r.body.size() << " " << cs;
        }
      });
    }
    leader.join();
    for (auto& t : threads) t.join();
    return served.load();
  };
  const std::string streamed = "fwd=miss; fwd-status=200; detail=\"collapsed\"";
  EXPECT_EQ(run("/trickle?cc=max-age=600&size=400000&delay_ms=300&trickle_ms=100", 400000, 5, 100,
                streamed),
            5);
  EXPECT_EQ(OriginCount("/trickle"), 1);
  // Larger than the broadcast window (4 MiB).
  EXPECT_EQ(run("/trickle-big?cc=max-age=600&size=6000000&delay_ms=300&trickle_ms=100", 6000000, 2,
                100, streamed),
            2);
  EXPECT_EQ(OriginCount("/trickle-big"), 1);
  HttpResponse stored = Get("/trickle-big?cc=max-age=600&size=6000000&delay_ms=300&trickle_ms=100");
  EXPECT_NE(stored.Header("cache-status").find("hit"), std::string::npos);
  // Mid-body: served from the store once the leader is done.
  EXPECT_EQ(run("/late?cc=max-age=600&size=400000&trickle_ms=100", 400000, 3, 350, "hit; ttl="), 3);
  EXPECT_EQ(OriginCount("/late"), 1);
}

TEST_F(ProxyTest, ASmallResponseSentBeforeItsCommitIsWhatEveryLaterRequestFinds) {
  // With a 100 ms commit window, an insert right after another waits for its group write
  // (up to 100 ms), while its response goes out at once: the commit runs on after it was
  // sent. Whatever comes next on another connection finds it stored: a hit, an answer to
  // only-if-cached, an admin purge that counts it; and a stop right after keeps it.
  node_.reset();
  const std::string conf = dir_.Sub("window.toml");
  std::ofstream(conf) << "[store]\ncommit_window_us = 100000\n";
  StartNode({"--config", conf});
  auto miss_behind_another = [&](const std::string& name) {
    Get("/lead-" + name + "?cc=max-age=600&size=500");  // written at once; a window opens
    const std::string url = "/" + name + "?cc=max-age=600&size=1500";
    HttpResponse r = Get(url);
    EXPECT_EQ(r.status, 200) << name;
    EXPECT_NE(r.Header("cache-status").find("fwd=miss"), std::string::npos) << name;
    return std::make_pair(url, r.body);
  };
  auto [hit_url, hit_body] = miss_behind_another("hit");
  HttpResponse hit = Get(hit_url);
  EXPECT_NE(hit.Header("cache-status").find("; hit"), std::string::npos)
      << hit.Header("cache-status");
  EXPECT_EQ(hit.body, hit_body);
  EXPECT_EQ(OriginCount("/hit"), 1);

  auto [oic_url, oic_body] = miss_behind_another("oic");
  HttpResponse oic = Get(oic_url, {{"Cache-Control", "only-if-cached"}});
  EXPECT_EQ(oic.status, 200);
  EXPECT_EQ(oic.body, oic_body);

  auto [purge_url, purge_body] = miss_behind_another("purged");
  HttpResponse purged =
      Fetch(admin_port_, "POST", "/api/v1/purge", {{"Content-Type", "application/json"}},
            R"({"kind":"url","values":["http://test.local)" + purge_url + "\"]}");
  EXPECT_EQ(purged.status, 200) << purged.body;
  EXPECT_NE(purged.body.find("\"affected\":1"), std::string::npos) << purged.body;

  auto [kept_url, kept_body] = miss_behind_another("kept");
  ASSERT_EQ(node_->Stop(), 0);
  StartNode({"--config", conf});
  HttpResponse kept = Get(kept_url);
  EXPECT_NE(kept.Header("cache-status").find("; hit"), std::string::npos)
      << kept.Header("cache-status");
  EXPECT_EQ(kept.body, kept_body);
}

TEST_F(ProxyTest, FollowersOfASmallResponseThatArrivesWholeAreServedFromTheStore) {
  // The origin answers after 300 ms, header and 2 KB body at once: the node sends it and
  // stores it meanwhile (no broadcast); followers collapsed behind the leader wait for
  // the store and are hits. The origin is asked once, and every body is whole.
  const std::string url = "/whole?cc=max-age=600&size=2000&delay_ms=300";
  std::thread leader([&] {
    HttpResponse r = Get(url);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), 2000u);
    EXPECT_NE(r.Header("cache-status").find("fwd=miss"), std::string::npos);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::vector<std::thread> followers;
  std::atomic<int> hits{0};
  for (int i = 0; i < 4; ++i) {
    followers.emplace_back([&] {
      HttpResponse r = Get(url);
      const std::string cs = r.Header("cache-status");
      if (r.status == 200 && r.body.size() == 2000 && cs.find("; hit") != std::string::npos &&
          cs.find("collapsed") != std::string::npos) {
        ++hits;
      } else {
        ADD_FAILURE() << r.status << " " << r.body.size() << " " << cs;
      }
    });
  }
  leader.join();
  for (auto& t : followers) t.join();
  EXPECT_EQ(hits.load(), 4);
  EXPECT_EQ(OriginCount("/whole"), 1);
  // A HEAD miss of a small object, and a range of one, come out of the same path.
  HttpResponse head = Fetch(port_, "HEAD", "/whole-head?cc=max-age=600&size=3000");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-length"), "3000");
  EXPECT_TRUE(head.body.empty());
  EXPECT_NE(Get("/whole-head?cc=max-age=600&size=3000").Header("cache-status").find("hit"),
            std::string::npos);
  HttpResponse part = Get("/whole-range?cc=max-age=600&size=3000", {{"Range", "bytes=10-19"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body.size(), 10u);
  EXPECT_EQ(part.Header("content-range"), "bytes 10-19/3000");
  HttpResponse whole = Get("/whole-range?cc=max-age=600&size=3000");
  EXPECT_NE(whole.Header("cache-status").find("hit"), std::string::npos);
  EXPECT_EQ(whole.body.substr(10, 10), part.body);
}

TEST_F(ProxyTest, ASlowLeaderClientDoesNotPaceItsFollowers) {
  // The leader's client asks for 8 MB and then reads nothing: its socket fills up. The
  // origin is still read at its own pace, so a follower gets the whole body at once and
  // the object is stored. The client timeout is set far above anything a loaded machine
  // takes to move 8 MB over loopback: a follower paced by the stalled leader would finish
  // only when the node drops the leader, after client_ms.
  node_.reset();
  StartNode({"--config", [&] {
               const std::string conf = dir_.Sub("patient.toml");
               std::ofstream(conf) << "[timeouts]\nclient_ms = 120000\n";
               return conf;
             }()});
  const std::string url = "/slow-leader?cc=max-age=600&size=8000000&delay_ms=300";
  HttpConnection stalled(port_);
  stalled.SendRaw("GET " + url + " HTTP/1.1\r\nHost: test.local\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto started = std::chrono::steady_clock::now();
  HttpResponse follower = Get(url);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(follower.status, 200);
  EXPECT_EQ(follower.body.size(), 8000000u);
  EXPECT_TRUE(follower.complete) << follower.error;
  // Half the client timeout the stalled leader would otherwise impose.
  EXPECT_LT(took, std::chrono::seconds(60));
  EXPECT_NE(Get(url).Header("cache-status").find("hit"), std::string::npos);
  EXPECT_EQ(OriginCount("/slow-leader"), 1);
}

TEST_F(ProxyTest, AStoreFailureNeverTruncatesFollowers) {
  // A chunked body that turns out larger than max_object_bytes: the insert is aborted
  // mid-body, and the leader and its followers still get every byte.
  node_.reset();
  StartNode({"--config", [&] {
               const std::string conf = dir_.Sub("small.toml");
               std::ofstream(conf) << "[limits]\nmax_object_bytes = \"1MiB\"\n";
               return conf;
             }()});
  const std::string url = "/too-big?cc=max-age=600&size=3000000&chunked=1&delay_ms=300";
  HttpResponse leader_response;
  std::thread leader([&] { leader_response = Get(url); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::vector<HttpResponse> followers(3);
  std::vector<std::thread> threads;
  for (auto& f : followers) threads.emplace_back([&f, this, &url] { f = Get(url); });
  leader.join();
  for (auto& t : threads) t.join();
  EXPECT_EQ(leader_response.body.size(), 3000000u);
  EXPECT_TRUE(leader_response.complete);
  for (const auto& f : followers) {
    EXPECT_EQ(f.body.size(), 3000000u) << f.Header("cache-status");
    EXPECT_TRUE(f.complete) << f.error;
    EXPECT_EQ(f.body, leader_response.body);
  }
  EXPECT_EQ(Get(url).Header("cache-status").find("hit"), std::string::npos);  // not stored
}

// --- Range ---

TEST_F(ProxyTest, RangeAndIfRangeAnsweredFromTheStoredBody) {
  const std::string url = "/range?cc=max-age=600&size=10000";
  HttpResponse full = Get(url);
  ASSERT_EQ(full.body.size(), 10000u);
  HttpResponse part = Get(url, {{"Range", "bytes=100-199"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, full.body.substr(100, 100));
  EXPECT_EQ(part.Header("content-range"), "bytes 100-199/10000");
  EXPECT_NE(part.Header("cache-status").find("hit"), std::string::npos);
  HttpResponse suffix = Get(url, {{"Range", "bytes=-300"}});
  EXPECT_EQ(suffix.body, full.body.substr(9700));
  HttpResponse beyond = Get(url, {{"Range", "bytes=20000-"}});
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(beyond.Header("content-range"), "bytes */10000");
  EXPECT_TRUE(beyond.body.empty());
  // If-Range: the range only applies to the representation the client has.
  const std::string etag = full.Header("etag");
  EXPECT_EQ(Get(url, {{"Range", "bytes=0-9"}, {"If-Range", etag}}).status, 206);
  HttpResponse changed = Get(url, {{"Range", "bytes=0-9"}, {"If-Range", "\"other\""}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, full.body);
  EXPECT_EQ(Get(url, {{"Range", "bytes=0-1,5-6"}}).status, 200);  // several ranges: whole body
  EXPECT_EQ(OriginCount("/range"), 1);
}

TEST_F(ProxyTest, RangeMissFetchesAndStoresTheWholeObject) {
  const std::string url = "/rangemiss?cc=max-age=600&size=300000";
  HttpResponse part = Get(url, {{"Range", "bytes=250000-250099"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body.size(), 100u);
  EXPECT_EQ(part.Header("content-range"), "bytes 250000-250099/300000");
  // The client's range is complete before the object is; wait (bounded) for the store.
  for (int i = 0; i < 250; ++i) {
    if (Fetch(admin_port_, "GET", "/metrics").body.find("edgecache_store_objects 1\n") !=
        std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  HttpResponse full = Get(url);
  EXPECT_NE(full.Header("cache-status").find("hit"), std::string::npos)
      << full.Header("cache-status");
  EXPECT_EQ(full.body.size(), 300000u);
  EXPECT_EQ(full.body.substr(250000, 100), part.body);
  EXPECT_EQ(OriginCount("/rangemiss"), 1);
}

// --- Vary and cache keys ---

TEST_F(ProxyTest, VaryVariantsWithNormalisedAcceptEncodingAndACap) {
  const std::string url = "/v?cc=max-age=600&vary=Accept-Encoding";
  HttpResponse br = Get(url, {{"Accept-Encoding", "gzip, deflate, br"}});
  EXPECT_NE(br.Header("cache-status").find("fwd=miss"), std::string::npos);
  HttpResponse br_again = Get(url, {{"Accept-Encoding", "br;q=1.0, gzip;q=0.5"}});
  EXPECT_NE(br_again.Header("cache-status").find("hit"), std::string::npos)
      << br_again.Header("cache-status");
  HttpResponse gz = Get(url, {{"Accept-Encoding", "gzip"}});
  EXPECT_NE(gz.Header("cache-status").find("fwd=vary-miss"), std::string::npos)
      << gz.Header("cache-status");
  EXPECT_NE(Get(url, {{"Accept-Encoding", "gzip, deflate"}}).Header("cache-status").find("hit"),
            std::string::npos);
  EXPECT_EQ(OriginCount("/v"), 2);
  // The origin was asked for exactly the normalised coding.
  HttpResponse echo = Get("/__echo", {{"Accept-Encoding", "gzip, deflate, br"}});
  EXPECT_NE(echo.body.find("Accept-Encoding: br\n"), std::string::npos) << echo.body;

  // At most cache.max_variants variants per URL: the next one passes through unstored.
  node_.reset();
  std::string conf = dir_.Sub("variants.toml");
  std::ofstream(conf) << "[cache]\nmax_variants = 2\n";
  StartNode({"--config", conf});
  const std::string many = "/many?cc=max-age=600&vary=X-Variant";
  for (const char* v : {"a", "b", "c", "c"}) Get(many, {{"X-Variant", v}});
  EXPECT_EQ(OriginCount("/many"), 4);  // a, b stored; c twice from the origin
  EXPECT_NE(Get(many, {{"X-Variant", "a"}}).Header("cache-status").find("hit"), std::string::npos);
  HttpResponse capped = Get(many, {{"X-Variant", "c"}});
  EXPECT_NE(capped.Header("cache-status").find("variant cap"), std::string::npos)
      << capped.Header("cache-status");
}

TEST_F(ProxyTest, CacheKeysNormalisePercentEncodingAndConfiguredQueryParams) {
  Get("/%7Euser/page?cc=max-age=600");
  HttpResponse same = Get("/~user/page?cc=max-age=600");
  EXPECT_NE(same.Header("cache-status").find("hit"), std::string::npos)
      << same.Header("cache-status");
  Get("/q?cc=max-age=600&b=2&a=1");
  EXPECT_NE(Get("/q?a=1&b=2&cc=max-age=600").Header("cache-status").find("fwd=miss"),
            std::string::npos);

  node_.reset();
  std::string conf = dir_.Sub("keys.toml");
  std::ofstream(conf)
      << "[cache]\nsort_query = true\nstrip_query_params = [\"utm_*\", \"fbclid\"]\n";
  StartNode({"--config", conf});
  Get("/s?cc=max-age=600&b=2&a=1&utm_source=news");
  HttpResponse sorted = Get("/s?a=1&fbclid=xyz&b=2&cc=max-age=600&utm_campaign=z");
  EXPECT_NE(sorted.Header("cache-status").find("hit"), std::string::npos)
      << sorted.Header("cache-status");
  EXPECT_EQ(OriginCount("/s"), 1);
  // The origin gets the query the key was built from: stripped and sorted.
  HttpResponse echo = Get("/e?echo=1&utm_source=news&b=1");
  EXPECT_EQ(echo.body.substr(0, echo.body.find('\n')), "GET /e?b=1&echo=1") << echo.body;
}

// --- client conditionals, HEAD ---

TEST_F(ProxyTest, ClientConditionalsAnsweredFromCache) {
  HttpResponse first = Get("/cond?cc=max-age=600");
  const std::string etag = first.Header("etag");
  ASSERT_FALSE(etag.empty());
  HttpResponse inm = Get("/cond?cc=max-age=600", {{"If-None-Match", "W/" + etag}});
  EXPECT_EQ(inm.status, 304);
  EXPECT_TRUE(inm.body.empty());
  EXPECT_EQ(inm.Header("etag"), etag);
  HttpResponse other = Get("/cond?cc=max-age=600", {{"If-None-Match", "\"nope\""}});
  EXPECT_EQ(other.status, 200);
  HttpResponse ims =
      Get("/cond?cc=max-age=600", {{"If-Modified-Since", first.Header("last-modified")}});
  EXPECT_EQ(ims.status, 304);
  HttpResponse older =
      Get("/cond?cc=max-age=600", {{"If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}});
  EXPECT_EQ(older.status, 200);
  EXPECT_EQ(OriginCount("/cond"), 1);
}

TEST_F(ProxyTest, HeadIsAnsweredFromACachedGetAndAHeadMissIsStored) {
  HttpResponse get = Get("/head?cc=max-age=600&size=777");
  HttpResponse head = Fetch(port_, "HEAD", "/head?cc=max-age=600&size=777");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.Header("content-length"), "777");
  EXPECT_NE(head.Header("cache-status").find("hit"), std::string::npos);
  HttpResponse head_miss = Fetch(port_, "HEAD", "/headfirst?cc=max-age=600&size=55");
  EXPECT_EQ(head_miss.status, 200);
  EXPECT_TRUE(head_miss.body.empty());
  // The HEAD is answered from the header; the GET after it is served from the fill it
  // started (from the store, or collapsed onto it while the body still arrives).
  HttpResponse get_after = Get("/headfirst?cc=max-age=600&size=55");
  EXPECT_EQ(get_after.body.size(), 55u);
  EXPECT_EQ(OriginCount("/head") + OriginCount("/headfirst"), 2);
}

// --- headers ---

TEST_F(ProxyTest, HopByHopHeadersRemovedBothWaysViaAndForwardedForAdded) {
  HttpResponse echo = Get("/__echo", {{"Connection", "keep-alive, X-Client-Secret"},
                                      {"X-Client-Secret", "1"},
                                      {"X-End-To-End", "kept"},
                                      {"Keep-Alive", "timeout=5"}});
  ASSERT_EQ(echo.status, 200);
  EXPECT_EQ(echo.body.find("X-Client-Secret"), std::string::npos) << echo.body;
  EXPECT_EQ(echo.body.find("Keep-Alive"), std::string::npos) << echo.body;
  EXPECT_NE(echo.body.find("X-End-To-End: kept"), std::string::npos) << echo.body;
  EXPECT_NE(echo.body.find("Via: 1.1 edgecache"), std::string::npos) << echo.body;
  EXPECT_NE(echo.body.find("X-Forwarded-For: 127.0.0.1"), std::string::npos) << echo.body;
  EXPECT_NE(echo.body.find("Host: test.local"), std::string::npos) << echo.body;

  HttpResponse r =
      Get("/hop?cc=max-age=60&hdr=Connection:X-Origin-Secret&hdr=X-Origin-Secret:1&hdr=X-Public:"
          "yes&hdr=Upgrade:h2c");
  EXPECT_FALSE(r.Has("x-origin-secret"));
  EXPECT_FALSE(r.Has("upgrade"));
  EXPECT_EQ(r.Header("x-public"), "yes");
  HttpResponse hit =
      Get("/hop?cc=max-age=60&hdr=Connection:X-Origin-Secret&hdr=X-Origin-Secret:1&hdr=X-Public:"
          "yes&hdr=Upgrade:h2c");
  EXPECT_FALSE(hit.Has("x-origin-secret"));
  EXPECT_EQ(hit.Header("x-public"), "yes");
  // The origin's Via joins the chain, unless the origin names it hop-by-hop.
  EXPECT_EQ(Get("/hop-via?cc=max-age=60&hdr=Via:1.0%20inner").Header("via"),
            "1.0 inner, 1.1 edgecache");
  HttpResponse via =
      Get("/hop-via-named?cc=max-age=60&hdr=Connection:Via&hdr=Via:1.0%20inner-secret");
  EXPECT_EQ(via.Header("via"), "1.1 edgecache");
}

TEST_F(ProxyTest, SurrogateTagsAreStoredNotForwardedAndSurviveRestart) {
  HttpResponse r = Get("/tagged?cc=max-age=600&skey=product-1%20home&ctag=deploy-7");
  EXPECT_FALSE(r.Has("surrogate-key"));
  EXPECT_FALSE(r.Has("cache-tag"));
  // Stop the node (clean close) and look at the entry in the store directly.
  ASSERT_EQ(node_->Stop(), 0);
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(StoreOptions(), dir_.Sub("store"), &store).ok());
    std::vector<ObjectInfo> listed;
    ASSERT_TRUE(store->List({.tag = "deploy-7"}, &listed).ok());
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].meta.tags, (std::vector<std::string>{"product-1", "home", "deploy-7"}));
  }
  // The restarted node serves the entry from the store.
  StartNode();
  HttpResponse hit = Get("/tagged?cc=max-age=600&skey=product-1%20home&ctag=deploy-7");
  EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos)
      << hit.Header("cache-status");
  EXPECT_EQ(hit.body, r.body);
  EXPECT_EQ(OriginCount("/tagged"), 1);
}

// --- methods, routing ---

TEST_F(ProxyTest, OtherMethodsPassThroughWithTheirBodies) {
  HttpResponse post = Fetch(port_, "POST", "/submit?cc=max-age=600", {}, std::string(1234, 'p'));
  EXPECT_EQ(post.status, 200);
  EXPECT_NE(post.body.find("POST /submit got 1234 bytes"), std::string::npos) << post.body;
  EXPECT_NE(post.Header("cache-status").find("fwd=method"), std::string::npos);
  Fetch(port_, "POST", "/submit?cc=max-age=600", {}, "x");
  EXPECT_EQ(OriginCount("/submit"), 2);
  HttpResponse del = Fetch(port_, "DELETE", "/thing");
  EXPECT_NE(del.body.find("DELETE /thing"), std::string::npos);
}

TEST_F(ProxyTest, UnknownHostsAreRefusedNeverAnOpenProxy) {
  node_.reset();
  StartNode({"--map", "www.example.com=" + OriginUrl()}, /*default_origin=*/false);
  HttpResponse known = Fetch(port_, "GET", "/x?cc=max-age=60", {}, "", "WWW.Example.com:80");
  EXPECT_EQ(known.status, 200);
  HttpResponse unknown = Fetch(port_, "GET", "/x", {}, "", "evil.example.net");
  EXPECT_EQ(unknown.status, 421);
  EXPECT_EQ(unknown.Header("cache-status"), "edgecache; fwd=bypass");
  HttpResponse absolute =
      Fetch(port_, "GET", "http://evil.example.net/x", {}, "", "www.example.com");
  EXPECT_EQ(absolute.status, 421);
  HttpResponse absolute_ok =
      Fetch(port_, "GET", "http://www.example.com/x?cc=max-age=60", {}, "", "ignored");
  EXPECT_EQ(absolute_ok.status, 200);
  EXPECT_NE(absolute_ok.Header("cache-status").find("hit"), std::string::npos);  // same key
}

// --- the HTTP front ---

TEST_F(ProxyTest, MalformedOversizedAndSmugglingRequestsGet4xxAndClose) {
  {
    HttpConnection c(port_);
    c.SendRaw("GARBAGE\r\n\r\n");
    HttpResponse r = c.Read();
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    HttpConnection c(port_);
    c.SendRaw("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n");
    HttpResponse r = c.Read();
    EXPECT_EQ(r.status, 431);
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    HttpConnection c(port_);
    c.SendRaw(
        "POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
    HttpResponse r = c.Read();
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(c.ClosedByPeer());
    EXPECT_EQ(OriginCount("/smuggled"), 0);
  }
}

TEST_F(ProxyTest, KeepAliveAndPipelinedRequestsAnsweredInOrder) {
  HttpConnection c(port_);
  c.SendRaw(
      "GET /p1?cc=max-age=60&size=10 HTTP/1.1\r\nHost: test.local\r\n\r\n"
      "GET /p2?cc=max-age=60&size=20 HTTP/1.1\r\nHost: a\r\n\r\n");
  HttpResponse r1 = c.Read();
  HttpResponse r2 = c.Read();
  EXPECT_EQ(r1.body.size(), 10u);
  EXPECT_EQ(r2.body.size(), 20u);
  EXPECT_NE(r1.body.find("/p1"), std::string::npos);
  EXPECT_NE(r2.body.find("/p2"), std::string::npos);
  HttpResponse r3 = c.Send("GET", "/p1?cc=max-age=60&size=10");  // same connection, a hit
  EXPECT_NE(r3.Header("cache-status").find("hit"), std::string::npos)
      << r3.status << " " << r3.error << " " << r3.Header("cache-status");
}

TEST_F(ProxyTest, ChunkedAndLargeBodiesStreamAndStore) {
  HttpResponse chunked = Get("/chunked?cc=max-age=60&chunked=1&size=300000");
  ASSERT_EQ(chunked.status, 200);
  EXPECT_EQ(chunked.body.size(), 300000u);
  HttpResponse hit = Get("/chunked?cc=max-age=60&chunked=1&size=300000");
  EXPECT_EQ(hit.body, chunked.body);
  EXPECT_EQ(hit.Header("content-length"), "300000");
  HttpResponse big = Get("/big?cc=max-age=60&size=6000000");
  EXPECT_EQ(big.body.size(), 6000000u);
  HttpResponse big_hit = Get("/big?cc=max-age=60&size=6000000");
  EXPECT_EQ(big_hit.body, big.body);
  EXPECT_NE(big_hit.Header("cache-status").find("hit"), std::string::npos);
}

// A large hit held in the RAM cache goes out with sendfile from the cache's arena (no copy
// by the node): byte for byte the origin's, whole, in a range across its chunks and for
// HEAD, and the keep-alive connection it went out on serves what comes next (a small hit,
// a miss) as before.
TEST_F(ProxyTest, LargeHitsGoOutWithSendfileByteForByteAndTheConnectionServesOn) {
  auto sent_with_sendfile = [&] {
    const std::string body = Fetch(admin_port_, "GET", "/metrics").body;
    const std::string name = "\nedgecache_sendfile_bytes_total ";
    const size_t at = body.find(name);
    return at == std::string::npos ? -1 : std::stoll(body.substr(at + name.size()));
  };
  EXPECT_EQ(sent_with_sendfile(), 0);
  const std::string url = "/large?cc=max-age=600&size=600000";  // three 256 KiB chunks
  const std::string small = "/small?cc=max-age=600&size=3000";
  const std::string origin = Fetch(origin_port_, "GET", url).body;
  ASSERT_EQ(origin.size(), 600000u);
  ASSERT_EQ(Get(url).body, origin);  // the miss, stored
  ASSERT_EQ(Get(small).status, 200);
  HttpConnection c(port_);
  for (int i = 0; i < 3; ++i) {  // the first from disk, then from the RAM cache
    HttpResponse hit = c.Send("GET", url);
    EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos) << i;
    EXPECT_TRUE(hit.body == origin) << i << ": " << hit.body.size() << " bytes, not the origin's";
  }
  HttpResponse part = c.Send("GET", url, {{"Range", "bytes=200000-530000"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_TRUE(part.body == origin.substr(200000, 330001)) << part.body.size();
  HttpResponse head = c.Send("HEAD", url);
  EXPECT_EQ(head.Header("content-length"), "600000");
  EXPECT_TRUE(head.body.empty());
  HttpResponse small_hit = c.Send("GET", small);
  EXPECT_NE(small_hit.Header("cache-status").find("hit"), std::string::npos);
  EXPECT_EQ(small_hit.body, Fetch(origin_port_, "GET", small).body);
  const std::string next = "/after-large?cc=max-age=600&size=5000";
  HttpResponse miss = c.Send("GET", next);
  EXPECT_EQ(miss.status, 200);
  EXPECT_EQ(miss.body, Fetch(origin_port_, "GET", next).body);
  // Every piece of 16 KiB or more went out with sendfile: the three hits whole, and all
  // but the range's last 5713 bytes (in the third chunk).
  EXPECT_GE(sent_with_sendfile(), 3 * 600000 + 330001 - 5713);
}

TEST_F(ProxyTest, AdminServesHealthAndMetrics) {
  Get("/m?cc=max-age=60");
  Get("/m?cc=max-age=60");
  HttpResponse health = Fetch(admin_port_, "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  // A request is counted once its response is out, which the client may see first.
  HttpResponse metrics;
  for (int i = 0; i < 250; ++i) {
    metrics = Fetch(admin_port_, "GET", "/metrics");
    if (metrics.body.find("edgecache_request_duration_seconds_count 2\n") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("edgecache_requests_total{cache=\"hit\"} 1"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("edgecache_requests_total{cache=\"miss\"} 1"), std::string::npos);
  EXPECT_NE(metrics.body.find("edgecache_store_objects 1"), std::string::npos);
  EXPECT_NE(metrics.body.find("edgecache_request_duration_seconds_count 2"), std::string::npos);
  HttpResponse node = Fetch(admin_port_, "GET", "/api/v1/node");
  EXPECT_NE(node.body.find("\"version\":\"" + std::string(version::Version()) + "\""),
            std::string::npos)
      << node.body;
}

TEST_F(ProxyTest, GracefulStopFinishesInFlightResponsesAndClosesIdleConnections) {
  // Two kept-alive connections waiting for their next request: closed by the stop at
  // once, not after the grace period (10 s) the in-flight response may use.
  std::vector<std::unique_ptr<HttpConnection>> idle;
  for (int i = 0; i < 2; ++i) {
    idle.push_back(std::make_unique<HttpConnection>(port_));
    idle.back()->SendRaw("GET /idle" + std::to_string(i) + " HTTP/1.1\r\nHost: test.local\r\n\r\n");
    EXPECT_EQ(idle.back()->Read().status, 200);
  }
  std::thread slow([&] {
    HttpResponse r = Get("/slow?delay_ms=700&size=1000");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), 1000u);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto began = std::chrono::steady_clock::now();
  int status = node_->Stop();
  slow.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(8));
  for (auto& c : idle) EXPECT_TRUE(c->ClosedByPeer());
}

// --- configuration ---

TEST(ProxyConfigTest, BadConfigNamesTheKeyAndTheNodeDoesNotStart) {
  testing::TempDir dir;
  std::string path = dir.Sub("bad.toml");
  std::ofstream(path) << "[store]\ndir = \"" << dir.Sub("s") << "\"\ncapacity = \"lots\"\n"
                      << "[origins]\ndefault = \"http://127.0.0.1:9\"\n";
  ChildProcess check(EDGECACHE_BIN, {"--config", path, "--check-config"}, /*merge_stderr=*/true);
  std::string error = check.WaitForLine("edgecache:");
  EXPECT_NE(error.find("store.capacity"), std::string::npos) << error;
  int status = check.Wait(std::chrono::seconds(20));
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  ChildProcess run(EDGECACHE_BIN, {"--config", path});
  status = run.Wait(std::chrono::seconds(20));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("s")));

  std::string good = dir.Sub("good.toml");
  std::ofstream(good) << "listen = [\"127.0.0.1:0\"]\n[store]\ndir = \"" << dir.Sub("s")
                      << "\"\ncapacity = \"1GiB\"\n[origins]\ndefault = \"http://127.0.0.1:9\"\n";
  ChildProcess ok(EDGECACHE_BIN, {"--config", good, "--check-config"});
  EXPECT_EQ(ok.WaitForLine("edgecache: configuration OK").empty(), false);
  status = ok.Wait(std::chrono::seconds(20));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ProxyConfigTest, VersionAndHowTheBuildWasMade) {
  ChildProcess plain(EDGECACHE_BIN, {"--version"});
  const std::string line = plain.ReadAll();
  EXPECT_EQ(line, "edgecache " + std::string(version::Version()) + "\n");
  EXPECT_EQ(WEXITSTATUS(plain.Wait(std::chrono::seconds(20))), 0);
  ChildProcess verbose(EDGECACHE_BIN, {"--version", "--verbose"});
  const std::string details = verbose.ReadAll();
  for (const char* field :
       {"compiler: ", "flags: ", "allocator: ", "sanitizers: ", "liburing: ",
        "I/O backend here (auto): ", "event loop: ", "event loop here (auto): "}) {
    EXPECT_NE(details.find(field), std::string::npos) << field << " missing in\n" << details;
  }
  EXPECT_EQ(WEXITSTATUS(verbose.Wait(std::chrono::seconds(20))), 0);
}

// Operators tell a node's threads apart in `top -H`, `ps -L` and perf by their names; the
// main thread keeps the binary's, which is the process's name for `ps` and `pkill`.
TEST_F(ProxyTest, ThreadsCarryTheirRoleInTheirNames) {
  const std::string pid = std::to_string(node_->pid());
  std::multiset<std::string> names;
  // The node listens before its other network threads are started: give them a moment.
  for (int i = 0; i < 100; ++i) {
    names = testing::ThreadNames(pid);
    if (names.count("ec-net-1") > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string main_name;
  std::getline(std::ifstream("/proc/" + pid + "/comm"), main_name);
  EXPECT_EQ(main_name, "edgecache");
  // --threads 2: the main thread is the first network thread.
  EXPECT_EQ(names.count("ec-net-1"), 1u);
  EXPECT_EQ(names.count("ec-net-2"), 0u);
  EXPECT_EQ(names.count("ec-store-0"), 1u);
  EXPECT_EQ(names.count("ec-store-1"), 1u);
  EXPECT_EQ(names.count("ec-maintain"), 1u);
  EXPECT_EQ(names.count("ec-admin-0"), 1u);
  EXPECT_EQ(names.count("ec-admin-1"), 1u);
}

// The store's background threads give way to the network threads in short scheduler slices
// (where the kernel has them); the network threads run in the kernel's default ones.
TEST_F(ProxyTest, BackgroundThreadsRunInShortSlicesNetworkThreadsDoNot) {
  if (!testing::KernelHasCustomSlices()) GTEST_SKIP() << "custom slices need Linux 6.12";
  const std::string pid = std::to_string(node_->pid());
  for (int i = 0; i < 100 && testing::ThreadNames(pid).count("ec-net-1") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::vector<uint64_t> network = testing::ThreadSlices(pid, "ec-net-1");
  ASSERT_EQ(network.size(), 1u);
  for (const char* name : {"ec-store-0", "ec-store-1", "ec-maintain"}) {
    const std::vector<uint64_t> slices = testing::ThreadSlices(pid, name);
    ASSERT_EQ(slices.size(), 1u) << name;
    // A tenth of a millisecond (short_slice.h), against the default's few milliseconds.
    EXPECT_LE(slices[0], network[0] / 4) << name;
  }
}

}  // namespace
}  // namespace edgecache
