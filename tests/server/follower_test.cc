// The purge-log follower against a real Redis (Debian's redis-server, started here on a
// loopback port) and a real store: a node joins at the log's end, applies each purge once,
// skips entries it cannot apply without stopping, and fences its store off when the log
// lost entries it never applied, until an operator resolves it.
#include "cluster/follower.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "support/process.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache::cluster {
namespace {

using edgecache::testing::ChildProcess;
using edgecache::testing::TempDir;

// A loopback port nobody listens on now.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int port = FreePort();
    redis_ = std::make_unique<ChildProcess>(
        "/usr/bin/redis-server",
        std::vector<std::string>{"--port", std::to_string(port), "--bind", "127.0.0.1", "--save",
                                 "", "--appendonly", "no"});
    url_ = *ParseRedisUrl("redis://127.0.0.1:" + std::to_string(port) + "/purges");
    Redis probe(url_.host, url_.port, std::chrono::milliseconds(500));
    Reply pong;
    for (int i = 0; i < 100 && !probe.Command({"PING"}, &pong).ok(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(pong.str, "PONG") << "redis-server did not start";
    ASSERT_TRUE(Store::Open(testing::SmallOptions(), dir_.Sub("store"), &store_).ok());
    follower_ = std::make_unique<Follower>(Follower::Options{url_, "n1", ""}, *store_,
                                           [] { return proxy::KeyOptions{}; });
    log_ = std::make_unique<PurgeLog>(url_, std::chrono::milliseconds(2000));
  }
  void TearDown() override {
    follower_.reset();
    store_.reset();
  }

  void PutTagged(const std::string& key, const std::string& tag) {
    ObjectMeta meta;
    meta.tags = {tag};
    ASSERT_TRUE(testing::Put(*store_, {key, ""}, "body", meta).ok());
  }
  bool Has(const std::string& key) {
    ObjectInfo info;
    return store_->Lookup({key, ""}, &info).ok();
  }
  std::string Append(admin::PurgeKind kind, const std::string& value) {
    std::string id;
    EXPECT_TRUE(log_->Append(kind, {value}, PurgeMode::kHard, &id).ok());
    return id;
  }
  Reply Raw(const std::vector<std::string>& args) {
    Redis redis(url_.host, url_.port, std::chrono::milliseconds(2000));
    Reply r;
    EXPECT_TRUE(redis.Command(args, &r).ok());
    return r;
  }

  TempDir dir_;
  std::unique_ptr<ChildProcess> redis_;
  RedisUrl url_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Follower> follower_;
  std::unique_ptr<PurgeLog> log_;
};

TEST_F(FollowerTest, ANodeJoinsAtTheEndAndThenAppliesEachPurgeOnce) {
  PutTagged("h/old", "before");
  Append(admin::PurgeKind::kTag, "before");  // issued before this node joined
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  EXPECT_TRUE(Has("h/old")) << "a purge from before the node joined is not applied";
  EXPECT_EQ(follower_->Get().applied_seq, 1u);

  PutTagged("h/a", "a");
  PutTagged("h/b", "b");
  const std::string id = Append(admin::PurgeKind::kTag, "a");
  Append(admin::PurgeKind::kUrl, "http://h/b");
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  EXPECT_FALSE(Has("h/a"));
  EXPECT_FALSE(Has("h/b"));
  const Follower::View v = follower_->Get();
  EXPECT_EQ(v.state, Follower::State::kFollowing);
  EXPECT_EQ(v.applied_entries, 2u);
  EXPECT_EQ(v.applied_seq, 3u);
  EXPECT_EQ(v.log_end_seq, 3u);

  // Stored again after the purge, then a restart: nothing is applied a second time.
  PutTagged("h/a", "a");
  follower_ = std::make_unique<Follower>(Follower::Options{url_, "n1", ""}, *store_,
                                         [] { return proxy::KeyOptions{}; });
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  EXPECT_TRUE(Has("h/a"));
  EXPECT_EQ(follower_->Get().applied_entries, 0u);
}

TEST_F(FollowerTest, EntriesItCannotApplyAreSkippedWithoutStoppingTheLog) {
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  PutTagged("h/c", "c");
  Append(admin::PurgeKind::kUrl, "not a url");                       // numbered, not a URL
  Raw({"XADD", "purges", "*", "kind", "tag", "values", "[\"c\"]"});  // foreign: no number
  Append(admin::PurgeKind::kTag, "c");
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  const Follower::View v = follower_->Get();
  EXPECT_EQ(v.state, Follower::State::kFollowing);
  EXPECT_EQ(v.skipped_entries, 2u);
  EXPECT_EQ(v.applied_entries, 1u);
  EXPECT_FALSE(Has("h/c"));
  EXPECT_FALSE(follower_->fenced());
}

TEST_F(FollowerTest, ALogThatLostEntriesFencesTheStoreUntilAnOperatorDecides) {
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  PutTagged("h/kept", "k");
  PutTagged("h/later", "l");
  // Two purges the node never sees: trimmed away, as after too long an absence.
  Append(admin::PurgeKind::kTag, "k");
  Append(admin::PurgeKind::kTag, "other");
  Raw({"XTRIM", "purges", "MAXLEN", "0"});
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  EXPECT_TRUE(follower_->fenced());
  EXPECT_EQ(follower_->Get().state, Follower::State::kGap);
  EXPECT_NE(follower_->Get().error.find("lost to this node"), std::string::npos);
  // A purge appended meanwhile waits for the decision.
  Append(admin::PurgeKind::kTag, "l");
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  EXPECT_TRUE(Has("h/later"));

  // Keep: the store stays as it is (the lost purge of "k" is not made up for), and the
  // entries the log still holds are applied.
  ASSERT_TRUE(follower_->Resolve(/*purge_all=*/false).ok());
  EXPECT_FALSE(follower_->fenced());
  ASSERT_TRUE(follower_->CatchUp(std::chrono::seconds(10)).ok());
  EXPECT_TRUE(Has("h/kept"));
  EXPECT_FALSE(Has("h/later"));
  EXPECT_EQ(follower_->Get().applied_seq, 3u);
  EXPECT_EQ(follower_->Resolve(false).code(), Status::Code::kInvalidArgument);  // no gap now
}

}  // namespace
}  // namespace edgecache::cluster
