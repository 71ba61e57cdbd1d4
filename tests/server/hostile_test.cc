// Hostile clients and misbehaving origins against the real binaries: no response desync,
// no cache poisoning, no cross-user leaks (docs/security.md maps each defence here).
// Requests that a well-behaved client library would not send go out as raw bytes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/read_until.hpp>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

#include "support/http_client.h"
#include "support/node_fixture.h"
#include "support/raw_origin.h"

namespace edgecache {
namespace {

using testing::Fetch;
using testing::HttpConnection;
using testing::HttpResponse;

class HostileTest : public testing::NodeFixture {
 protected:
  // Restarts the node with a config file holding `toml` (plus the default origin).
  void RestartWith(const std::string& toml, bool default_origin = true) {
    node_.reset();
    const std::string conf = dir_.Sub("node.toml");
    std::ofstream(conf) << toml;
    StartNode({"--config", conf}, default_origin);
  }

  // A raw connection to the node through a receive buffer of `bytes`; with the default
  // 4 KiB, what the node sends waits in its own send buffer until it is read. -1 when it
  // cannot connect.
  int ConnectWithWindow(int bytes = 4096) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port_);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // Sends raw request bytes on a fresh connection and reads one response.
  HttpResponse Raw(const std::string& bytes) {
    HttpConnection c(port_);
    c.SendRaw(bytes);
    return c.Read();
  }

  // What origin-sim's echo=1 saw of header `name` ("" when absent).
  static std::string Echoed(const HttpResponse& r, const std::string& name) {
    const std::string needle = "\n" + name + ": ";
    const size_t at = r.body.find(needle);
    if (at == std::string::npos) return "";
    const size_t start = at + needle.size();
    return r.body.substr(start, r.body.find('\n', start) - start);
  }

  static bool Hit(const HttpResponse& r) {
    return r.Header("cache-status").find("hit") != std::string::npos;
  }
};

// A client that resets its connection in the middle of a large response: the node's sends
// on it fail (ECONNRESET, then EPIPE) and never kill it with SIGPIPE, whichever event loop
// sends them; it serves on.
TEST_F(HostileTest, ClientsThatResetMidResponseNeverKillTheNode) {
  const std::string target = "/reset?cc=max-age=300&size=4000000";
  ASSERT_EQ(Get(target).body.size(), 4000000u);  // stored: the next ones are hits
  const std::string twice = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" + "GET " + target +
                            " HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    const int fd = ConnectWithWindow();  // the node's megabytes wait in its send buffer
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, twice.data(), twice.size(), 0), static_cast<ssize_t>(twice.size()));
    char head[256];
    ASSERT_GT(::recv(fd, head, sizeof(head), 0), 0);
    const linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    ::close(fd);  // RST, with most of the first response and all of the second unsent
  }
  std::ifstream status("/proc/" + std::to_string(node_->pid()) + "/status");
  uint64_t ignored = 0;
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("SigIgn:")) ignored = std::stoull(line.substr(7), nullptr, 16);
  }
  EXPECT_NE(ignored & (uint64_t{1} << (SIGPIPE - 1)), 0u) << "SIGPIPE is not ignored";
  HttpResponse after = Get(target);
  EXPECT_EQ(after.body.size(), 4000000u);
  EXPECT_TRUE(Hit(after));
}

// Large hits go out with sendfile from the RAM cache. A client that reads them slowly,
// through a 4 KiB receive buffer, gets every byte right (the node waits on its full socket
// and goes on); one that stops reading is dropped after timeouts.client_ms like any other,
// while the node serves others.
TEST_F(HostileTest, SlowAndStalledReadersOfLargeHitsGetEveryByteOrAreDropped) {
  RestartWith("[timeouts]\nclient_ms = 1500\n");
  const std::string target = "/slow-reader?cc=max-age=300&size=12000000";  // > tcp_wmem
  const std::string origin = Fetch(origin_port_, "GET", target).body;
  ASSERT_EQ(Get(target).body, origin);
  ASSERT_EQ(Get(target).body, origin);  // now in the RAM cache
  auto open = [&] {
    const int fd = ConnectWithWindow();
    EXPECT_GE(fd, 0);
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    return fd;
  };
  const int stalled = open();
  const auto stalled_at = std::chrono::steady_clock::now();
  // The slow reader: 4 KiB at a time, a pause every 64 KiB.
  const int slow = open();
  std::string got;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(slow, buffer, sizeof(buffer), 0)) > 0;) {
    got.append(buffer, static_cast<size_t>(n));
    if (got.size() % (64 << 10) < sizeof(buffer))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const size_t end = got.find("\r\n\r\n");
    if (end != std::string::npos && got.size() >= end + 4 + origin.size()) break;
  }
  ::close(slow);
  const size_t body_at = got.find("\r\n\r\n") + 4;
  ASSERT_NE(body_at, std::string::npos + 4) << got.substr(0, 200);
  EXPECT_TRUE(got.compare(body_at, std::string::npos, origin) == 0)
      << got.size() - body_at << " body bytes, not the origin's";
  // The stalled one: what it finally reads ends early, closed by the node.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500) -
                              (std::chrono::steady_clock::now() - stalled_at));
  timeval patience{10, 0};
  ::setsockopt(stalled, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof(patience));
  size_t stalled_bytes = 0;
  ssize_t n = 0;
  while ((n = ::recv(stalled, buffer, sizeof(buffer), 0)) > 0) stalled_bytes += n;
  EXPECT_TRUE(n == 0 || errno == ECONNRESET) << std::strerror(errno);
  EXPECT_LT(stalled_bytes, origin.size());
  ::close(stalled);
  EXPECT_EQ(Get(target).body, origin);
}

// A large hit still waiting in the client's socket when the RAM cache lets its record go
// keeps the record's bytes. The node sends it with sendfile from the RAM cache's
// shared-memory arena, the socket holds references to those pages, and a freed record's
// pages are taken out of the arena's file, never written again (cache/record_arena.h;
// RecordArenaTest covers the same guarantee on the arena alone, huge pages included).
TEST_F(HostileTest, AResponseWaitingInTheSocketKeepsItsBytesWhenItsRecordLeavesTheRamCache) {
  // 64 shards of 160 KiB: a 150 KB record and any other record in its shard do not fit.
  RestartWith("[store]\nram_cache = \"10MiB\"\n");
  auto disk_reads = [&] { return StoreStats().at("disk_reads").as_int64(); };
  const std::string target = "/parked?cc=max-age=300&size=150000";
  const std::string origin = Fetch(origin_port_, "GET", target).body;
  ASSERT_EQ(Get(target).body, origin);
  ASSERT_EQ(Get(target).body, origin);  // read from disk into the RAM cache
  const int64_t reads_before = disk_reads();
  // A client with room for the whole response asks for it and does not read yet.
  const int parked = ConnectWithWindow(1 << 20);
  ASSERT_GE(parked, 0);
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(parked, request.data(), request.size(), 0),
            static_cast<ssize_t>(request.size()));
  // All of it waits in the socket once the count stops growing: the node has let go.
  int queued = -1;
  for (int last = -2, i = 0; i < 100 && (queued != last || queued < int(origin.size())); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    last = queued;
    ASSERT_EQ(::ioctl(parked, FIONREAD, &queued), 0);
  }
  ASSERT_GT(queued, static_cast<int>(origin.size()));
  EXPECT_EQ(disk_reads(), reads_before);  // it came from the RAM cache
  // Smaller records (held in strings, not in the arena) through the RAM cache until the
  // parked one's is evicted, the arena's only region: the target is then read from disk
  // again.
  bool evicted = false;
  for (int round = 0; round < 40 && !evicted; ++round) {
    for (int i = 0; i < 32; ++i) {
      const std::string filler =
          "/filler" + std::to_string(round * 32 + i) + "?cc=max-age=300&size=60000";
      ASSERT_EQ(Get(filler).status, 200);
      ASSERT_EQ(Get(filler).status, 200);
    }
    const int64_t reads = disk_reads();
    ASSERT_EQ(Get(target).body, origin);
    evicted = disk_reads() > reads;
  }
  ASSERT_TRUE(evicted);
  std::string got(static_cast<size_t>(queued), '\0');
  size_t have = 0;
  while (have < got.size()) {
    const ssize_t n = ::recv(parked, got.data() + have, got.size() - have, 0);
    ASSERT_GT(n, 0) << std::strerror(errno);
    have += static_cast<size_t>(n);
  }
  ::close(parked);
  const size_t body_at = got.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos);
  const std::string body = got.substr(body_at + 4);
  EXPECT_EQ(body.size(), origin.size());
  EXPECT_EQ(std::count(body.begin(), body.end(), '\0'), 0);
  EXPECT_TRUE(body == origin) << "the body that waited in the socket is not the origin's";
}

// --- 1. interim responses ---

TEST_F(HostileTest, InterimResponsesAreReadPastNeverRelayedAsFinalNorStored) {
  for (const std::string interim : {"103", "100", "103,100,103"}) {
    const std::string early = "/early" + interim + "?interim=" + interim + "&cc=max-age=60";
    const std::string next = "/next" + interim + "?cc=max-age=60";
    HttpResponse r = Get(early);
    ASSERT_EQ(r.status, 200) << interim << " " << r.error;
    // origin-sim's bodies repeat "<path>#v<version>|".
    EXPECT_TRUE(r.body.starts_with("/early" + interim + "#v1|")) << interim << " " << r.body;
    // 103s reach the client as interim responses (100 is the node's own to send), and
    // their fields are not merged into the final one.
    EXPECT_EQ(r.interim, interim == "103"
                             ? std::vector<int>{103}
                             : (interim == "100" ? std::vector<int>{} : std::vector<int>{103, 103}))
        << interim;
    EXPECT_FALSE(r.Has("x-interim")) << interim;
    EXPECT_FALSE(r.Has("link")) << interim;
    // The pooled origin connection is at a message boundary: the next URL gets its own.
    for (int i = 0; i < 3; ++i) {
      HttpResponse n = Get(next + "&i=" + std::to_string(i));
      EXPECT_EQ(n.body, Fetch(origin_port_, "GET", next + "&i=" + std::to_string(i)).body)
          << interim;
    }
    HttpResponse again = Get(early);
    EXPECT_TRUE(Hit(again)) << again.Header("cache-status");
    EXPECT_EQ(again.body, r.body);
    EXPECT_FALSE(again.Has("x-interim"));
    EXPECT_TRUE(again.interim.empty());  // a stored response comes alone
  }
  // 101 to a request that never asked to switch protocols: a bad origin, not a response.
  HttpResponse switched = Get("/switch?interim=101&cc=max-age=60");
  EXPECT_EQ(switched.status, 502);
  HttpResponse after = Get("/after?cc=max-age=60");
  EXPECT_EQ(after.body, Fetch(origin_port_, "GET", "/after?cc=max-age=60").body);
}

TEST_F(HostileTest, ExpectContinueIsAnsweredBeforeTheBodyIsRead) {
  HttpConnection c(port_);
  c.SendRaw(
      "POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n");
  HttpResponse interim = c.Read(/*head=*/false, /*return_interim=*/true);
  EXPECT_EQ(interim.status, 100) << interim.error;
  c.SendRaw("hello");
  HttpResponse final_response = c.Read();
  EXPECT_EQ(final_response.status, 200) << final_response.error;
  EXPECT_EQ(final_response.body, "POST /upload got 5 bytes\n");

  HttpResponse refused =
      Raw("POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n"
          "Expect: something-else\r\n\r\nhello");
  EXPECT_EQ(refused.status, 417);
}

// --- 2. request collapsing ---

TEST_F(HostileTest, CollapsedFollowersOnlyTakeTheirOwnVariant) {
  const std::string target = "/lang?echo=1&vary=Accept-Language&cc=max-age=60&delay_ms=400";
  HttpResponse fr, de;
  std::thread leader([&] { fr = Get(target, {{"Accept-Language", "fr"}}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  de = Get(target, {{"Accept-Language", "de"}});
  leader.join();
  EXPECT_EQ(Echoed(fr, "Accept-Language"), "fr") << fr.body;
  EXPECT_EQ(Echoed(de, "Accept-Language"), "de") << de.body;
  // Both variants are stored, each under its own key.
  EXPECT_EQ(Echoed(Get(target, {{"Accept-Language", "fr"}}), "Accept-Language"), "fr");
  EXPECT_EQ(Echoed(Get(target, {{"Accept-Language", "de"}}), "Accept-Language"), "de");
}

TEST_F(HostileTest, CollapsedFollowersGetTheStoredHeaderWithoutCookiesOrPrivateFields) {
  RestartWith("[cache]\nstore_set_cookie = true\n");
  // public, max-age=60, private="X-Secret" with a per-user cookie and a secret field.
  const std::string target =
      "/shared?cc=public%2Cmax-age%3D60%2Cprivate%3D%22X-Secret%22&setcookie=user"
      "&hdr=X-Secret:s3cret&delay_ms=400";
  HttpResponse alice, bob;
  std::thread leader([&] { alice = Get(target, {{"X-User", "alice"}}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  bob = Get(target, {{"X-User", "bob"}});
  leader.join();
  ASSERT_EQ(alice.status, 200) << alice.error;
  ASSERT_EQ(bob.status, 200) << bob.error;
  EXPECT_NE(bob.Header("cache-status").find("collapsed"), std::string::npos)
      << bob.Header("cache-status");
  EXPECT_EQ(alice.Header("set-cookie"), "session=alice");  // her own response
  EXPECT_EQ(alice.Header("x-secret"), "s3cret");
  EXPECT_FALSE(bob.Has("set-cookie")) << bob.Header("set-cookie");
  EXPECT_FALSE(bob.Has("x-secret"));
  EXPECT_EQ(bob.body, alice.body);
  HttpResponse carol = Get(target, {{"X-User", "carol"}});
  EXPECT_TRUE(Hit(carol)) << carol.Header("cache-status");
  EXPECT_FALSE(carol.Has("set-cookie"));
  EXPECT_FALSE(carol.Has("x-secret"));
}

// --- 3. Host ---

TEST_F(HostileTest, AbsoluteFormAuthorityReplacesHostForRoutingKeyAndOrigin) {
  RestartWith("[origins]\n\"victim.example\" = \"" + OriginUrl() + "\"\n\"attacker.example\" = \"" +
                  OriginUrl() + "\"\n",
              /*default_origin=*/false);
  const std::string path = "/app.js?echo=1&cc=max-age=60";
  HttpResponse poisoned =
      Fetch(port_, "GET", "http://victim.example" + path, {}, "", "attacker.example");
  ASSERT_EQ(poisoned.status, 200) << poisoned.error;
  EXPECT_EQ(Echoed(poisoned, "Host"), "victim.example") << poisoned.body;
  // Stored as victim's, with what victim's origin served for it.
  HttpResponse victim = Fetch(port_, "GET", path, {}, "", "victim.example");
  EXPECT_TRUE(Hit(victim)) << victim.Header("cache-status");
  EXPECT_EQ(Echoed(victim, "Host"), "victim.example");
  HttpResponse attacker = Fetch(port_, "GET", path, {}, "", "attacker.example");
  EXPECT_FALSE(Hit(attacker));
  EXPECT_EQ(Echoed(attacker, "Host"), "attacker.example");
  // Case and port do not make another key: the key and the forwarded Host agree.
  HttpResponse ported = Fetch(port_, "GET", path, {}, "", "Victim.Example:8080");
  EXPECT_TRUE(Hit(ported)) << ported.Header("cache-status");
}

TEST_F(HostileTest, MalformedHostIsRefused) {
  for (const std::string host :
       {"victim2.example:@evil.example", "user@victim.example", "a b.example", "[::1",
        "victim.example:99999", "victim.example:80x", "victim.example/evil", "vic\\tim.example",
        ".example", "a..example", "[not-an-address]:80"}) {
    HttpResponse r = Raw("GET /h?cc=max-age=60 HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    EXPECT_EQ(r.status, 400) << host;
  }
  HttpResponse two = Raw("GET /h HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");
  EXPECT_EQ(two.status, 400);
  HttpResponse missing = Raw("GET /h HTTP/1.1\r\n\r\n");
  EXPECT_EQ(missing.status, 400);
  HttpResponse userinfo =
      Raw("GET http://victim.example:@evil.example/h HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(userinfo.status, 400);
  EXPECT_EQ(OriginCount("/h"), 0);
}

TEST_F(HostileTest, Ipv6HostKeysWithoutItsPort) {
  const std::string path = "/v6?echo=1&cc=max-age=60";
  HttpResponse first = Fetch(port_, "GET", path, {}, "", "[::1]:8080");
  ASSERT_EQ(first.status, 200) << first.error;
  EXPECT_EQ(Echoed(first, "Host"), "[::1]");
  HttpResponse other_port = Fetch(port_, "GET", path, {}, "", "[::1]:9090");
  EXPECT_TRUE(Hit(other_port)) << other_port.Header("cache-status");
}

TEST_F(HostileTest, UnkeyedOverrideHeadersAreNotForwardedUnlessListedThenKeyed) {
  const std::map<std::string, std::string> overrides = {
      {"X-Forwarded-Host", "evil.example"}, {"X-Original-URL", "/admin"},
      {"X-Rewrite-URL", "/admin"},          {"X-HTTP-Method-Override", "DELETE"},
      {"Forwarded", "host=evil.example"},   {"X-Forwarded-Proto", "gopher"}};
  HttpResponse r = Get("/ovr?echo=1&cc=max-age=60", overrides);
  ASSERT_EQ(r.status, 200);
  for (const auto& [name, value] : overrides) {
    EXPECT_EQ(r.body.find(value), std::string::npos) << name << " reached the origin:\n" << r.body;
  }

  RestartWith("[cache]\nkey_headers = [\"X-Forwarded-Host\"]\n");
  const std::string target = "/xfh?echo=1&cc=max-age=60";
  HttpResponse a = Get(target, {{"X-Forwarded-Host", "a.example"}});
  EXPECT_EQ(Echoed(a, "X-Forwarded-Host"), "a.example");
  HttpResponse b = Get(target, {{"X-Forwarded-Host", "b.example"}});
  EXPECT_FALSE(Hit(b)) << b.Header("cache-status");
  EXPECT_EQ(Echoed(b, "X-Forwarded-Host"), "b.example");
  HttpResponse none = Get(target);
  EXPECT_FALSE(Hit(none));
  EXPECT_EQ(Echoed(none, "X-Forwarded-Host"), "");
  HttpResponse a_again = Get(target, {{"X-Forwarded-Host", "a.example"}});
  EXPECT_TRUE(Hit(a_again));
  EXPECT_EQ(Echoed(a_again, "X-Forwarded-Host"), "a.example");
}

// --- 4. paths ---

TEST_F(HostileTest, FragmentsAreRefusedAndDotSegmentsResolvedOnceForKeyAndOrigin) {
  HttpResponse fragment =
      Raw("GET /uploads/evil.js#/../../static/app.js HTTP/1.1\r\nHost: test.local\r\n\r\n");
  EXPECT_EQ(fragment.status, 400);
  EXPECT_EQ(OriginCount("/uploads/evil.js"), 0);

  for (const std::string sneaky : {"/static/%2e%2e/uploads/x?echo=1&cc=max-age=60",
                                   "/static/%2E%2E/uploads/./x?echo=1&cc=max-age=60",
                                   "/static/../uploads/x?echo=1&cc=max-age=60"}) {
    HttpResponse r = Get(sneaky);
    ASSERT_EQ(r.status, 200) << sneaky;
    EXPECT_EQ(r.body.substr(0, r.body.find('\n')), "GET /uploads/x?echo=1&cc=max-age=60") << sneaky;
  }
  EXPECT_EQ(OriginCount("/uploads/x"), 1);  // one key: the first stored, the rest hits
  // An encoded slash is not a separator: it stays encoded, a different resource.
  HttpResponse encoded = Get("/static%2F..%2Fuploads/x?echo=1&cc=max-age=60");
  EXPECT_EQ(encoded.body.substr(0, encoded.body.find('\n')),
            "GET /static%2F..%2Fuploads/x?echo=1&cc=max-age=60");
}

// --- 5. Set-Cookie ---

TEST_F(HostileTest, ResponsesWithSetCookieArePassedNotStored) {
  const std::string target = "/ck?cc=public%2Cmax-age%3D60&setcookie=user";
  HttpResponse alice = Get(target, {{"X-User", "alice"}});
  EXPECT_EQ(alice.Header("set-cookie"), "session=alice");
  EXPECT_NE(alice.Header("cache-status").find("set-cookie"), std::string::npos)
      << alice.Header("cache-status");
  HttpResponse bob = Get(target, {{"X-User", "bob"}});
  EXPECT_EQ(bob.Header("set-cookie"), "session=bob");
  EXPECT_EQ(OriginCount("/ck"), 2);
}

TEST_F(HostileTest, StoreSetCookieStoresWithoutItAndA304NeverMergesIt) {
  RestartWith("[cache]\nstore_set_cookie = true\n");
  const std::string target = "/ck?cc=public%2Cmax-age%3D60&setcookie=user";
  HttpResponse alice = Get(target, {{"X-User", "alice"}});
  EXPECT_EQ(alice.Header("set-cookie"), "session=alice");
  HttpResponse bob = Get(target, {{"X-User", "bob"}});
  EXPECT_TRUE(Hit(bob)) << bob.Header("cache-status");
  EXPECT_FALSE(bob.Has("set-cookie")) << bob.Header("set-cookie");

  // Revalidated on every use: each 304 carries the revalidating user's cookie, which
  // that user gets and nobody after.
  const std::string revalidated = "/ck304?cc=no-cache&setcookie=user";
  Get(revalidated, {{"X-User", "alice"}});
  HttpResponse carol = Get(revalidated, {{"X-User", "carol"}});
  EXPECT_EQ(carol.status, 200);
  EXPECT_NE(carol.Header("cache-status").find("fwd-status=304"), std::string::npos)
      << carol.Header("cache-status");
  EXPECT_EQ(carol.Header("set-cookie"), "session=carol");
  HttpResponse dave = Get(revalidated, {{"X-User", "dave"}});
  EXPECT_EQ(dave.Header("set-cookie"), "session=dave");
}

// --- 6. variant keys ---

TEST_F(HostileTest, VariantKeysComeFromTheRequestAsForwarded) {
  const std::string target = "/var?echo=1&vary=X-Variant&cc=max-age=60";
  // X-Variant named in Connection is hop-by-hop: the origin never sees it, so the
  // response must not be stored as the "a" variant.
  HttpResponse hop = Raw("GET " + target +
                         " HTTP/1.1\r\nHost: test.local\r\nConnection: X-Variant\r\n"
                         "X-Variant: a\r\n\r\n");
  ASSERT_EQ(hop.status, 200) << hop.error;
  EXPECT_EQ(Echoed(hop, "X-Variant"), "");
  HttpResponse a = Get(target, {{"X-Variant", "a"}});
  EXPECT_EQ(Echoed(a, "X-Variant"), "a") << a.body;

  // Repeated lines are one value to the origin, and one key.
  HttpResponse both = Raw("GET " + target +
                          " HTTP/1.1\r\nHost: test.local\r\nX-Variant: a\r\nX-Variant: b\r\n\r\n");
  EXPECT_EQ(Echoed(both, "X-Variant"), "a, b") << both.body;
  HttpResponse a_again = Get(target, {{"X-Variant", "a"}});
  EXPECT_TRUE(Hit(a_again));
  EXPECT_EQ(Echoed(a_again, "X-Variant"), "a");
  HttpResponse both_again = Get(target, {{"X-Variant", "a, b"}});
  EXPECT_TRUE(Hit(both_again)) << both_again.Header("cache-status");
  EXPECT_EQ(Echoed(both_again, "X-Variant"), "a, b");
}

// --- 7. resource bounds ---

TEST_F(HostileTest, ConnectionsOverTheLimitAreRefusedAtAccept) {
  RestartWith("[limits]\nmax_connections = 2\n");
  auto first = std::make_unique<HttpConnection>(port_);
  HttpConnection second(port_);
  EXPECT_EQ(first->Send("GET", "/c1?cc=max-age=60").status, 200);
  EXPECT_EQ(second.Send("GET", "/c2?cc=max-age=60").status, 200);
  // Refused before it sends anything: the 503 is waiting to be read.
  HttpConnection third(port_);
  HttpResponse refused = third.Read();
  EXPECT_EQ(refused.status, 503) << refused.error;
  EXPECT_EQ(refused.body, "too many connections\n");
  EXPECT_TRUE(third.ClosedByPeer());
  // Once one closes, a new connection is served.
  first.reset();
  HttpResponse later;
  for (int i = 0; i < 50 && later.status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    later = Get("/c3?cc=max-age=60");
  }
  EXPECT_EQ(later.status, 200);
  HttpResponse metrics = Fetch(admin_port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("edgecache_refused_connections_total "), std::string::npos);
  EXPECT_EQ(metrics.body.find("edgecache_refused_connections_total 0"), std::string::npos);
}

TEST_F(HostileTest, RequestBodiesAreStreamedToTheOriginWithinTheLimit) {
  RestartWith("[limits]\nmax_request_body_bytes = \"1MiB\"\n");
  // Chunked, in pieces: forwarded as it arrives (a fresh origin connection, never sent twice).
  HttpConnection c(port_);
  c.SendRaw("POST /up HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string piece(100000, 'b');
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", piece.size());
  for (int i = 0; i < 9; ++i) c.SendRaw(size_line + piece + "\r\n");
  c.SendRaw("0\r\n\r\n");
  HttpResponse chunked = c.Read();
  EXPECT_EQ(chunked.status, 200) << chunked.error;
  EXPECT_EQ(chunked.body, "POST /up got 900000 bytes\n");
  // The connection goes on: the body was read to its end.
  EXPECT_EQ(c.Send("POST", "/up", {}, std::string(5000, 'x')).body, "POST /up got 5000 bytes\n");

  // Past the limit: a Content-Length says so at once; a chunked body when it gets there.
  HttpResponse declared =
      Raw("POST /up HTTP/1.1\r\nHost: test.local\r\nContent-Length: 2000000\r\n\r\n");
  EXPECT_EQ(declared.status, 413);
  HttpConnection over(port_);
  over.SendRaw("POST /over HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 12; ++i) over.SendRaw(size_line + piece + "\r\n");
  HttpResponse too_big = over.Read();
  EXPECT_EQ(too_big.status, 413) << too_big.error;
  EXPECT_TRUE(over.ClosedByPeer());
  EXPECT_EQ(OriginCount("/over"), 0);  // the origin never got a complete request

  // A GET's body is not forwarded, but read past: the next request on the connection works.
  HttpConnection g(port_);
  g.SendRaw(
      "GET /g1?cc=max-age=60 HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\n"
      "helloGET /g2?cc=max-age=60 HTTP/1.1\r\nHost: test.local\r\n\r\n");
  EXPECT_EQ(g.Read().status, 200);
  HttpResponse second = g.Read();
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(OriginCount("/g2"), 1);
}

TEST_F(HostileTest, AnUnstoredFetchStopsWhenItsClientLeaves) {
  auto origin_bytes = [this] {
    const std::string metrics = Fetch(admin_port_, "GET", "/metrics").body;
    const std::string name = "\nedgecache_origin_bytes_total ";
    const size_t at = metrics.find(name);
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + name.size()));
  };
  const int64_t before = origin_bytes();
  {
    // 8 MB, no-store, sent by the origin in 8 parts 250 ms apart; the client reads the
    // header and the first bytes, then goes.
    HttpConnection c(port_);
    c.SendRaw(
        "GET /gone?cc=no-store&size=8000000&trickle_ms=250 HTTP/1.1\r\nHost: test.local"
        "\r\n\r\n");
    char first[4096];
    boost::system::error_code ec;
    ASSERT_GT(c.ReadSome(first, sizeof(first), ec), 0u) << ec.message();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the origin is done by now
  const int64_t fetched = origin_bytes() - before;
  EXPECT_LT(fetched, 4000000) << "the node kept reading a body nobody wanted";
}

TEST_F(HostileTest, UnstoredHeadIsAnsweredFromTheHeader) {
  // The origin sends the header at once and trickles the body over 8 s.
  const auto started = std::chrono::steady_clock::now();
  HttpResponse head = Fetch(port_, "HEAD", "/nostore-head?cc=no-store&size=800000&trickle_ms=1000");
  EXPECT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.Header("content-length"), "800000");
  EXPECT_TRUE(head.body.empty());
  // The body alone takes 8 s to arrive: answering from the header takes far less.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

// --- 10. full disk ---

TEST_F(HostileTest, AStoreOnASmallerFileSystemKeepsToItAndKeepsStoring) {
  // The node runs with its store on a 100 MiB tmpfs of its own mount namespace (64 MiB of
  // it the index's headroom) while configured for 1 GiB.
  node_.reset();
  const std::string mount = dir_.Sub("small-fs");
  ASSERT_EQ(::mkdir(mount.c_str(), 0755), 0);
  const std::string conf = dir_.Sub("small.toml");
  std::ofstream(conf) << "[store]\ncapacity = \"1GiB\"\nsegment_size = \"1MiB\"\n";
  testing::ChildProcess node(
      "/usr/bin/unshare",
      {"-m", "sh", "-c", "mount -t tmpfs -o size=100m tmpfs \"$0\" && exec \"$@\"", mount,
       EDGECACHE_BIN, "--listen", "127.0.0.1:0", "--store", mount + "/store", "--config", conf,
       "--origin", OriginUrl(), "--threads", "2", "--log-level", "warn"},
      /*merge_stderr=*/true);
  const std::string started = node.WaitForLine("edgecache: ", std::chrono::seconds(10));
  if (started.empty()) GTEST_SKIP() << "no mount namespace for the node here (needs root)";
  ASSERT_NE(started.find("listening on"), std::string::npos) << started;
  port_ = static_cast<uint16_t>(std::stoi(started.substr(started.rfind(':') + 1)));
  for (int i = 0; i < 60; ++i) {  // 60 MB through a file system that holds ~30 MB of segments
    HttpResponse r = Get("/fill/" + std::to_string(i) + "?cc=max-age=600&size=1000000");
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_NE(r.Header("cache-status").find("stored"), std::string::npos)
        << i << ": " << r.Header("cache-status");
  }
  for (int i = 55; i < 60; ++i) {
    HttpResponse hit = Get("/fill/" + std::to_string(i) + "?cc=max-age=600&size=1000000");
    EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos) << i;
    EXPECT_EQ(hit.body.size(), 1000000u);
  }
}

// --- 9. framing ---

TEST_F(HostileTest, SmugglingShapedFramingIsRefusedAndClosed) {
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: test.local\r\n\r\n";
  for (const auto& [framing, status] : std::vector<std::pair<std::string, int>>{
           {"Transfer-Encoding: gzip\r\n", 400},
           {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400},
           {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400},
           {"Transfer-Encoding: chunked, gzip\r\n", 400},
           {"Transfer-Encoding: gzip, chunked\r\n", 501},
           {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400}}) {
    HttpConnection c(port_);
    c.SendRaw("POST /te HTTP/1.1\r\nHost: test.local\r\n" + framing + "\r\n0\r\n\r\n" + smuggled);
    HttpResponse r = c.Read();
    EXPECT_EQ(r.status, status) << framing;
    EXPECT_TRUE(c.ClosedByPeer()) << framing;
  }
  HttpResponse old =
      Raw("POST /te HTTP/1.0\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(old.status, 400);
  EXPECT_EQ(OriginCount("/smuggled"), 0);
  EXPECT_EQ(OriginCount("/te"), 0);
}

TEST_F(HostileTest, BytesAnOriginSendsPastItsResponseNeverAnswerTheNextRequest) {
  // A keep-alive origin that, after some responses, sends a second response nobody asked
  // for: in the same write, or half a second later while the connection sits in the pool.
  // Read as the answer to the next request sent on that connection, it would be stored
  // under another URL. Such a connection is closed instead, never reused.
  auto answer = [](const std::string& body) {
    return "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::string poison = answer("POISON");
  testing::RawOrigin origin(
      [&](const testing::RawRequest& r) {
        if (r.target == "/extra-now") return answer("first") + poison;
        if (r.target == "/extra-later") {
          return answer("first") + std::string(testing::RawOrigin::kPause) + poison;
        }
        return answer(r.target);
      },
      testing::RawOrigin::Mode::kKeepAlive);
  node_.reset();
  StartNode({"--origin", origin.Url(), "--threads", "1"}, false);

  // Control: a well-behaved response leaves its connection to the next request.
  EXPECT_EQ(Get("/a").body, "/a");
  EXPECT_EQ(Get("/b").body, "/b");
  for (const std::string extra : {"/extra-now", "/extra-later"}) {
    EXPECT_EQ(Get(extra).body, "first") << extra;
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the late one has arrived
    const std::string next = "/after" + extra;
    HttpResponse r = Get(next);
    EXPECT_EQ(r.status, 200) << extra << " " << r.error;
    EXPECT_EQ(r.body, next) << extra;
    HttpResponse again = Get(next);
    EXPECT_TRUE(Hit(again)) << extra;
    EXPECT_EQ(again.body, next) << extra;
  }
  const std::vector<testing::RawRequest> seen = origin.Requests();
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[1].connection, seen[0].connection);  // /b reused /a's connection
  EXPECT_EQ(seen[2].target, "/extra-now");
  EXPECT_NE(seen[3].connection, seen[2].connection);
  EXPECT_EQ(seen[4].target, "/extra-later");
  EXPECT_NE(seen[5].connection, seen[4].connection);
}

}  // namespace
}  // namespace edgecache
