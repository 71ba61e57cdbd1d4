// edgecachectl end to end: the real edgecachectl against a real node in front of
// origin-sim (loopback, free ports), and against the node's store directory once it stops.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "edgecache/object.h"
#include "support/ctl_runner.h"
#include "support/http_client.h"
#include "support/node_fixture.h"
#include "support/store_util.h"

namespace edgecache {
namespace {

using testing::ChildProcess;
using testing::CtlRun;
using testing::Fetch;
using testing::HttpConnection;
using testing::HttpResponse;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

class CtlTest : public testing::NodeFixture {
 protected:
  std::string AdminUrl() const { return "http://127.0.0.1:" + std::to_string(admin_port_); }

  // Runs edgecachectl with `args` (after --node ADMIN unless `offline`) to its exit.
  CtlRun Ctl(std::vector<std::string> args, bool offline = false) {
    if (!offline) args.insert(args.begin(), {"--node", AdminUrl()});
    return testing::RunCtl(args);
  }

  std::string WriteUrls(const std::vector<std::string>& urls) {
    const std::string path = dir_.Sub("urls.txt");
    std::ofstream out(path);
    out << "# warm list\n\n";
    for (const auto& u : urls) out << u << "\n";
    return path;
  }

  static std::string Url(int i, int tags = 10) {
    return "http://shop.example/obj/" + std::to_string(i) + "?cc=max-age=3600&skey=tag" +
           std::to_string(i % tags) + "&size=" + std::to_string(200 + i % 7 * 100);
  }
  static std::string Target(const std::string& url) {
    return url.substr(std::string("http://shop.example").size());
  }
  static std::string Path(const std::string& url) {
    std::string t = Target(url);
    return t.substr(0, t.find('?'));
  }
  HttpResponse GetUrl(HttpConnection& c, const std::string& url) {
    return c.Send("GET", Target(url), {}, "", "shop.example");
  }
};

TEST_F(CtlTest, TagPurgeUnderLoadNeverServesAPurgedBodyAfterItReturns) {
  std::vector<std::string> urls;
  for (int i = 0; i < 1000; ++i) urls.push_back(Url(i));
  CtlRun warm = Ctl({"warm", WriteUrls(urls), "--concurrency", "8", "--json"});
  ASSERT_EQ(warm.exit, 0) << warm.out;
  json::object summary = warm.Json();
  EXPECT_EQ(summary.at("total").as_int64(), 1000);
  EXPECT_EQ(summary.at("stored").as_int64(), 1000) << warm.out;
  EXPECT_EQ(summary.at("failed").as_int64(), 0);
  CtlRun again = Ctl({"warm", WriteUrls(urls), "--json"});
  EXPECT_EQ(again.Json().at("fresh").as_int64(), 1000) << again.out;

  // The deploy: the origin has new versions of every tag3 object.
  for (int i = 3; i < 1000; i += 10) {
    ASSERT_EQ(Fetch(origin_port_, "GET", "/__bump?path=" + Path(urls[i])).status, 200);
  }

  struct Seen {
    Clock::time_point started;
    int index;
    std::string body;
    std::string cache_status;
    int status;
  };
  std::mutex seen_mu;
  std::vector<Seen> seen;
  std::atomic<bool> stop{false};
  std::atomic<int> broken{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto c = std::make_unique<HttpConnection>(port_);
      std::mt19937 rng(t);
      std::vector<Seen> mine;
      while (!stop) {
        const int i = static_cast<int>(rng() % 1000);
        const Clock::time_point started = Clock::now();
        HttpResponse r = GetUrl(*c, urls[i]);
        if (r.status == 0) {
          ++broken;
          c = std::make_unique<HttpConnection>(port_);
          continue;
        }
        mine.push_back({started, i, r.body, r.Header("cache-status"), r.status});
      }
      std::lock_guard lock(seen_mu);
      seen.insert(seen.end(), mine.begin(), mine.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CtlRun purge = Ctl({"purge", "tag", "tag3"});
  const Clock::time_point returned = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& c : clients) c.join();
  ASSERT_EQ(purge.exit, 0) << purge.out;
  EXPECT_EQ(broken, 0);
  EXPECT_NE(purge.out.find("purged: 100 objects"), std::string::npos) << purge.out;

  int after = 0, purged_after = 0, other_hits_after = 0;
  for (const Seen& s : seen) {
    ASSERT_EQ(s.status, 200) << urls[s.index];
    if (s.started < returned) continue;
    ++after;
    if (s.index % 10 == 3) {
      ++purged_after;
      // The body stored before the purge was version 1; only version 2 may be served.
      EXPECT_NE(s.body.find("#v2|"), std::string::npos)
          << urls[s.index] << " served a pre-purge body: " << s.cache_status;
    } else {
      EXPECT_EQ(s.body.find("#v2|"), std::string::npos);
      EXPECT_NE(s.cache_status.find("; hit"), std::string::npos)
          << urls[s.index] << ": " << s.cache_status;
      ++other_hits_after;
    }
  }
  EXPECT_GT(after, 100);
  EXPECT_GT(purged_after, 5);
  EXPECT_GT(other_hits_after, 50);
  // The other tags' objects are all still there.
  CtlRun listed = Ctl({"list", "--tag", "tag4", "--limit", "1000", "--json"});
  EXPECT_EQ(listed.Json().at("entries").as_array().size(), 100u);
}

TEST_F(CtlTest, SoftPurgeMakesTheNextRequestRevalidate) {
  std::vector<std::string> urls = {Url(1, 2), Url(3, 2), Url(2, 2)};
  ASSERT_EQ(Ctl({"warm", WriteUrls(urls)}).exit, 0);
  CtlRun purge = Ctl({"purge", "--soft", "tag", "tag1"});
  ASSERT_EQ(purge.exit, 0) << purge.out;
  EXPECT_NE(purge.out.find("marked stale: 2 objects"), std::string::npos) << purge.out;
  CtlRun stale = Ctl({"list", "--stale"});
  EXPECT_NE(stale.out.find("soft-purged"), std::string::npos) << stale.out;
  EXPECT_NE(stale.out.find("2 objects"), std::string::npos) << stale.out;

  HttpConnection c(port_);
  HttpResponse r = GetUrl(c, urls[0]);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.Header("cache-status").find("fwd-status=304"), std::string::npos)
      << r.Header("cache-status");
  EXPECT_EQ(OriginCount(Path(urls[0]), "not_modified"), 1);
  EXPECT_EQ(OriginCount(Path(urls[2]), "not_modified"), 0);  // tag0: untouched
  // Revalidated: fresh again, and the stats count the bytes the 304 saved.
  EXPECT_NE(GetUrl(c, urls[0]).Header("cache-status").find("; hit"), std::string::npos);
  json::object node = Ctl({"stats", "--json"}).Json().at("node").as_object();
  EXPECT_EQ(node.at("not_modified_saved_bytes").as_int64(), 300);
}

TEST_F(CtlTest, InspectShowsVariantsAndTheOneARequestGets) {
  const std::string url = "http://shop.example/v?cc=max-age=600&vary=Accept-Language&skey=x%20y";
  HttpConnection c(port_);
  c.Send("GET", Target(url), {{"Accept-Language", "de"}}, "", "shop.example");
  c.Send("GET", Target(url), {{"Accept-Language", "fr"}}, "", "shop.example");
  json::object all = Ctl({"inspect", url, "--json"}).Json();
  ASSERT_EQ(all.at("variants").as_array().size(), 2u);
  CtlRun one = Ctl({"inspect", url, "-H", "Accept-Language: fr", "--json"});
  ASSERT_EQ(one.exit, 0) << one.out;
  const json::object doc = one.Json();
  const json::array& v = doc.at("variants").as_array();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].as_object().at("variant").as_string().find("fr"), json::string::npos);
  CtlRun human = Ctl({"inspect", url});
  EXPECT_NE(human.out.find("2 variants"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("x, y"), std::string::npos) << human.out;  // tags
  EXPECT_NE(human.out.find("fresh"), std::string::npos);
  CtlRun missing = Ctl({"inspect", "http://shop.example/never"});
  EXPECT_EQ(missing.exit, 1);
  EXPECT_NE(missing.out.find("not in the cache"), std::string::npos) << missing.out;
}

TEST_F(CtlTest, OfflineCommandsWorkOnTheStoreOnceTheNodeStopped) {
  std::vector<std::string> urls;
  for (int i = 0; i < 20; ++i) urls.push_back(Url(i, 4));
  ASSERT_EQ(Ctl({"warm", WriteUrls(urls)}).exit, 0);
  const std::string store = dir_.Sub("store");
  // While the node runs, the store is its own.
  CtlRun busy = Ctl({"--store", store, "list"}, /*offline=*/true);
  EXPECT_EQ(busy.exit, 5);
  EXPECT_NE(busy.out.find("use --node"), std::string::npos) << busy.out;

  node_->Stop();
  CtlRun inspect = Ctl({"--store", store, "inspect", urls[5], "--json"}, true);
  ASSERT_EQ(inspect.exit, 0) << inspect.out;
  const json::object doc = inspect.Json();
  const json::object& v = doc.at("variants").as_array()[0].as_object();
  EXPECT_EQ(v.at("state").as_string(), "fresh");
  EXPECT_EQ(v.at("tags").as_array()[0].as_string(), "tag1");
  CtlRun list = Ctl({"--store", store, "list", "--tag", "tag2"}, true);
  EXPECT_EQ(list.exit, 0);
  EXPECT_NE(list.out.find("5 objects"), std::string::npos) << list.out;
  CtlRun stats = Ctl({"--store", store, "stats", "--json"}, true);
  EXPECT_EQ(stats.Json().at("store").as_object().at("objects").as_int64(), 20);
  EXPECT_FALSE(stats.Json().contains("node"));
  EXPECT_EQ(Ctl({"--store", store, "verify"}, true).exit, 0);
  CtlRun warm = Ctl({"--store", store, "warm", WriteUrls(urls)}, true);
  EXPECT_EQ(warm.exit, 2) << warm.out;

  // Bit rot in one body: verify finds it (exit 6) without changing anything; --repair
  // drops it, and the next start of the node misses it instead of serving bad bytes.
  const json::object& loc = v.at("location").as_array()[0].as_object();
  ASSERT_TRUE(testing::FlipBodyByte(store, {std::string(v.at("key").as_string()), ""},
                                    {static_cast<uint64_t>(loc.at("segment").as_int64()),
                                     static_cast<uint32_t>(loc.at("offset").as_int64()),
                                     static_cast<uint32_t>(loc.at("length").as_int64())}));
  CtlRun bad = Ctl({"--store", store, "verify"}, true);
  EXPECT_EQ(bad.exit, 6) << bad.out;
  EXPECT_NE(bad.out.find("shop.example/obj/5"), std::string::npos) << bad.out;
  EXPECT_EQ(Ctl({"--store", store, "verify"}, true).exit, 6);  // still there: read-only
  CtlRun repaired = Ctl({"--store", store, "verify", "--repair", "--json"}, true);
  EXPECT_EQ(repaired.Json().at("repaired").as_int64(), 1) << repaired.out;
  EXPECT_EQ(repaired.exit, 0);  // everything found was repaired
  EXPECT_EQ(Ctl({"--store", store, "verify"}, true).exit, 0);
  EXPECT_EQ(Ctl({"--store", store, "inspect", urls[5]}, true).exit, 1);
  // Offline purges write: the store is not in use any more.
  CtlRun purge = Ctl({"--store", store, "purge", "tag", "tag3"}, true);
  EXPECT_EQ(purge.exit, 0) << purge.out;
  EXPECT_NE(purge.out.find("purged: 5 objects"), std::string::npos) << purge.out;
}

TEST_F(CtlTest, TokenAndUnixSocketAdminListeners) {
  const std::string config = dir_.Sub("node.toml");
  std::ofstream(config) << "admin_token = \"tok-123\"\n";
  node_.reset();
  StartNode({"--config", config});
  CtlRun refused = Ctl({"stats"});
  EXPECT_EQ(refused.exit, 4) << refused.out;
  EXPECT_NE(refused.out.find("--token"), std::string::npos) << refused.out;
  EXPECT_EQ(Ctl({"stats", "--token", "wrong"}).exit, 4);
  EXPECT_EQ(Ctl({"stats", "--token", "tok-123"}).exit, 0);

  node_.reset();
  const std::string socket = dir_.Sub("admin.sock");
  {
    // A socket file left by a node that was killed: nobody listens, so it is replaced.
    boost::asio::io_context io;
    boost::asio::local::stream_protocol::acceptor stale(io);
    stale.open();
    stale.bind(boost::asio::local::stream_protocol::endpoint(socket));
  }
  StartNode({}, true, "unix:" + socket);
  struct stat st;
  ASSERT_EQ(::stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Get("/u?cc=max-age=60");
  CtlRun stats = Ctl({"--node", "unix:" + socket, "stats", "--json"}, /*offline=*/true);
  ASSERT_EQ(stats.exit, 0) << stats.out;
  EXPECT_EQ(stats.Json().at("store").as_object().at("objects").as_int64(), 1);
  node_->Stop();
  EXPECT_NE(::stat(socket.c_str(), &st), 0);  // removed on stop
}

TEST_F(CtlTest, UsageAndReachabilityErrorsHaveTheirExitCodes) {
  EXPECT_EQ(Ctl({"frobnicate"}).exit, 2);
  EXPECT_EQ(Ctl({}).exit, 2);
  EXPECT_EQ(Ctl({"purge", "url"}).exit, 2);
  CtlRun bad_url = Ctl({"purge", "url", "::nonsense"});
  EXPECT_EQ(bad_url.exit, 2) << bad_url.out;
  const std::string list = dir_.Sub("bad.txt");
  std::ofstream(list) << "http://shop.example/ok\nftp://nope\n";
  CtlRun warm = Ctl({"warm", list});
  EXPECT_EQ(warm.exit, 2);
  EXPECT_NE(warm.out.find("line 2"), std::string::npos) << warm.out;
  CtlRun unreachable = Ctl({"--node", "http://127.0.0.1:1", "stats"}, /*offline=*/true);
  EXPECT_EQ(unreachable.exit, 3);
  EXPECT_NE(unreachable.out.find("cannot connect"), std::string::npos) << unreachable.out;
  // A listener that accepts and never answers: the command gives up after --timeout.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const auto started = std::chrono::steady_clock::now();
  CtlRun hung = Ctl({"--node", "127.0.0.1:" + std::to_string(silent.local_endpoint().port()),
                     "--timeout", "1", "stats"},
                    /*offline=*/true);
  EXPECT_EQ(hung.exit, 3) << hung.out;
  EXPECT_NE(hung.out.find("no answer in time"), std::string::npos) << hung.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  CtlRun version = Ctl({"--version"}, /*offline=*/true);
  EXPECT_EQ(version.exit, 0) << version.out;
  EXPECT_TRUE(version.out.starts_with("edgecachectl 0.")) << version.out;
  CtlRun help = Ctl({"purge", "--help"});
  EXPECT_EQ(help.exit, 0);
  EXPECT_NE(help.out.find("--soft"), std::string::npos);
  EXPECT_NE(help.out.find("Exit codes"), std::string::npos);
}

TEST_F(CtlTest, EtagCheckTellsReplicasThatGiveTheSameBytesDifferentEtags) {
  // Two replicas that mix their id into the ETag, and the fixture's origin plus a twin of it.
  std::vector<std::unique_ptr<ChildProcess>> replicas;
  std::vector<std::string> vias;
  for (const char* id : {"1", "2"}) {
    replicas.push_back(std::make_unique<ChildProcess>(
        ORIGIN_SIM_BIN, std::vector<std::string>{"--listen", "127.0.0.1:0", "--replica-id", id}));
    vias.push_back("127.0.0.1:" +
                   std::to_string(replicas.back()->WaitForPort("origin-sim: listening on")));
  }
  replicas.push_back(std::make_unique<ChildProcess>(
      ORIGIN_SIM_BIN, std::vector<std::string>{"--listen", "127.0.0.1:0"}));
  const std::string twin =
      "127.0.0.1:" + std::to_string(replicas.back()->WaitForPort("origin-sim: listening on"));
  const std::string url = "http://shop.example/page?size=3000";

  CtlRun split = Ctl({"etag-check", url, "--via", vias[0], "--via", vias[1]}, true);
  EXPECT_EQ(split.exit, 6) << split.out;
  EXPECT_NE(split.out.find("INCONSISTENT: the same bytes with different ETags"), std::string::npos)
      << split.out;
  EXPECT_NE(split.out.find("\"r1-"), std::string::npos) << split.out;

  CtlRun same = Ctl({"etag-check", url, "--via", twin, "--via",
                     "127.0.0.1:" + std::to_string(origin_port_), "--json"},
                    true);
  EXPECT_EQ(same.exit, 0) << same.out;
  json::object doc = same.Json();
  EXPECT_TRUE(doc["consistent"].as_bool());
  EXPECT_TRUE(doc["same_bytes"].as_bool());
  EXPECT_EQ(doc["answers"].as_array().size(), 2u);

  CtlRun down = Ctl({"etag-check", url, "--via", twin, "--via", "127.0.0.1:1"}, true);
  EXPECT_EQ(down.exit, 3) << down.out;
  EXPECT_NE(down.out.find("no answer"), std::string::npos) << down.out;
  EXPECT_EQ(Ctl({"etag-check", url}, true).exit, 2);  // --via is required
  CtlRun relative = Ctl({"etag-check", "/page", "--via", twin}, true);
  EXPECT_EQ(relative.exit, 2) << relative.out;
  EXPECT_NE(relative.out.find("not an absolute"), std::string::npos) << relative.out;
}

}  // namespace
}  // namespace edgecache
