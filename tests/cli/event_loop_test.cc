// The epoll twins (server/src/util/event_loop.h) end to end. Where io_uring cannot be set up
// (without-io-uring: a seccomp filter refusing its system calls, as containers have), the
// node and edgecachectl run their twins on epoll and work as before; asked for io_uring
// there, the node says why it cannot start; asked for epoll, it runs its twin anyway.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>

#include "support/http_client.h"
#include "support/node_fixture.h"

namespace edgecache {
namespace {

using testing::ChildProcess;
using testing::HttpResponse;

// The file the process runs, as the kernel sees it (after any exec).
std::string ExeName(pid_t pid) {
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe").filename().string();
}

class EventLoopTest : public testing::NodeFixture {
 protected:
  void SetUp() override {
    if (std::string(EVENT_LOOP) != "io_uring") GTEST_SKIP() << "an epoll build has no twins";
    StartOrigin();
  }
  // A miss then a hit of one URL: the same 3000 bytes, fetched from the origin once.
  void ExpectAMissThenAHit(const std::string& path) {
    const std::string target = path + "?cc=max-age=300&size=3000";
    HttpResponse miss = Get(target);
    HttpResponse hit = Get(target);
    EXPECT_EQ(miss.status, 200);
    EXPECT_EQ(hit.status, 200);
    EXPECT_EQ(hit.body.size(), 3000u);
    EXPECT_EQ(hit.body, miss.body);
    EXPECT_NE(hit.Header("cache-status").find("hit"), std::string::npos)
        << hit.Header("cache-status");
    EXPECT_EQ(OriginCount(path), 1);
  }
};

TEST_F(EventLoopTest, WithoutIoUringTheNodeAndTheCliRunTheirEpollTwins) {
  node_wrapper_ = WITHOUT_IO_URING_BIN;
  StartNode();
  ASSERT_NE(port_, 0);
  EXPECT_EQ(ExeName(node_->pid()), "edgecache-epoll");
  ExpectAMissThenAHit("/el");

  // edgecachectl talks to the node's admin API over asio sockets: its twin does.
  const std::string admin = "http://127.0.0.1:" + std::to_string(admin_port_);
  ChildProcess stats(WITHOUT_IO_URING_BIN, {EDGECACHECTL_BIN, "--node", admin, "stats", "--json"});
  const std::string out = stats.ReadAll();
  EXPECT_EQ(WEXITSTATUS(stats.Wait(std::chrono::seconds(60))), 0) << out;
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(out, ec);
  ASSERT_FALSE(ec) << out;
  EXPECT_EQ(doc.at("store").at("objects").as_int64(), 1) << out;
  // It says what it did, on stderr.
  ChildProcess version(WITHOUT_IO_URING_BIN, {EDGECACHECTL_BIN, "--version"}, true);
  const std::string said = version.ReadAll();
  EXPECT_NE(said.find("io_uring cannot be set up here"), std::string::npos) << said;
  EXPECT_NE(said.find("running "), std::string::npos) << said;
  EXPECT_NE(said.find("edgecachectl-epoll"), std::string::npos) << said;
  EXPECT_EQ(WEXITSTATUS(version.Wait(std::chrono::seconds(20))), 0);
}

TEST_F(EventLoopTest, AskedForIoUringWhereItCannotBeSetUpTheNodeSaysWhyAndDoesNotStart) {
  ChildProcess node(WITHOUT_IO_URING_BIN,
                    {EDGECACHE_BIN, "--event-loop", "io_uring", "--listen", "127.0.0.1:0",
                     "--store", dir_.Sub("store"), "--origin", OriginUrl()},
                    /*merge_stderr=*/true);
  const std::string line = node.WaitForLine("edgecache: cannot start: ");
  EXPECT_NE(line.find("io_uring cannot be set up here"), std::string::npos) << line;
  EXPECT_EQ(WEXITSTATUS(node.Wait(std::chrono::seconds(20))), 1);
}

TEST_F(EventLoopTest, AskedForEpollTheNodeRunsItsTwinOnTheSameStore) {
  // By default the node runs on io_uring where this machine lets it (as --version says).
  ChildProcess version(EDGECACHE_BIN, {"--version", "--verbose"});
  const std::string details = version.ReadAll();
  EXPECT_NE(details.find("event loop: io_uring\n"), std::string::npos) << details;
  const bool uring_here = details.find("event loop here (auto): io_uring\n") != std::string::npos;
  StartNode();
  EXPECT_EQ(ExeName(node_->pid()), uring_here ? "edgecache" : "edgecache-epoll");
  ExpectAMissThenAHit("/first");
  node_->Stop();

  StartNode({"--event-loop", "epoll"});
  EXPECT_EQ(ExeName(node_->pid()), "edgecache-epoll");
  HttpResponse kept = Get("/first?cc=max-age=300&size=3000");  // stored by the io_uring node
  EXPECT_NE(kept.Header("cache-status").find("hit"), std::string::npos)
      << kept.Header("cache-status");
  ExpectAMissThenAHit("/second");
}

}  // namespace
}  // namespace edgecache
