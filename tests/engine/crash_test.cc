// Crash consistency: a child process writes objects and is killed with SIGKILL at a random
// moment, round after round; after each kill the parent reopens the store and checks that
// every acknowledged object is there and byte-exact, and that every object it can read at
// all is byte-exact.
//
// The child says it has opened the store, then acknowledges (key, version) on a pipe after
// each Commit returns OK; the random kill time counts from the open. Under
// SyncPolicy::kNone an acknowledged object must survive a killed process (the page cache
// outlives it); under kCommit it would also survive a power loss, which a test cannot cut.
//
// Under Admission::kProbation the store is small, so it fills and new objects are held in
// RAM, and the child also looks keys up, so held objects are promoted: an acknowledged
// object may then be gone (held objects do not survive a kill; evictions), but whatever
// is found is byte-exact and Verify finds nothing wrong.
//
// The children are this binary run again (`--writer`, `--purger`), not forks of the test:
// a child forked from a process with threads (RocksDB's, once the test has opened a store)
// may inherit a lock one of them held and hang before it opens the store.
//
// EDGECACHE_CRASH_ROUNDS overrides the number of rounds (default 12).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::TempDir;

constexpr int kKeys = 300;
constexpr int kPurges = 300;  // ALoggedPurgeAndItsPositionSurviveAKillTogether

struct Ack {
  int32_t key;
  int32_t version;
};

std::string KeyName(int key) { return "crash/" + std::to_string(key); }
uint64_t Seed(int key, int version) { return uint64_t(key) * 100003 + uint64_t(version); }
size_t Size(int key, int version) { return 1 + (Seed(key, version) * 7919) % 150000; }

StoreOptions CrashOptions(SyncPolicy sync, Admission admission = Admission::kAll) {
  StoreOptions o = testing::SmallOptions(1ull << 30);  // no eviction under kAll
  o.segment_bytes = 4ull << 20;
  o.sync = sync;
  o.admission = admission;
  if (admission == Admission::kProbation) {
    o.capacity_bytes = 16ull << 20;
    o.probation_bytes = 2ull << 20;
    o.chunk_bytes = 256u << 10;  // every body fits one chunk: every one can be held
  }
  return o;
}

extern "C" char** environ;

// Starts this binary as a child with `args`, `close_fd` closed in it; -1 when it cannot.
pid_t SpawnSelf(const std::vector<std::string>& args, int close_fd) {
  std::vector<char*> argv;
  std::string self = "/proc/self/exe";
  argv.push_back(self.data());
  std::vector<std::string> copies = args;
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, close_fd);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Child: overwrite random keys with increasing versions until killed.
[[noreturn]] void WriterChild(const std::string& dir, SyncPolicy sync, Admission admission,
                              int ack_fd, int round, std::map<int, int> versions) {
  std::unique_ptr<Store> store;
  Status s = Store::Open(CrashOptions(sync, admission), dir, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "child: open failed: %s\n", s.ToString().c_str());
    ::_exit(3);
  }
  // Open can take a while on a loaded machine: the kill timer starts after it.
  const Ack opened{-1, 0};
  if (::write(ack_fd, &opened, sizeof(opened)) != sizeof(opened)) ::_exit(5);
  std::mt19937 rng(static_cast<unsigned>(round * 7 + 1));
  for (;;) {
    int key = static_cast<int>(rng() % kKeys);
    int version = ++versions[key];
    ObjectMeta meta;
    meta.tags = {"k" + std::to_string(key % 10)};
    s = testing::Put(*store, {KeyName(key), ""}, Body(Seed(key, version), Size(key, version)), meta,
                     4096 + rng() % 30000);
    if (!s.ok()) {
      std::fprintf(stderr, "child: insert failed: %s\n", s.ToString().c_str());
      ::_exit(4);
    }
    Ack ack{key, version};
    if (::write(ack_fd, &ack, sizeof(ack)) != sizeof(ack)) ::_exit(5);
    if (admission == Admission::kProbation) {  // a request again: held objects get written
      ObjectInfo info;
      store->Lookup({KeyName(static_cast<int>(rng() % kKeys)), ""}, &info).IgnoreError();
    }
  }
}

void RunCrashRounds(SyncPolicy sync, Admission admission = Admission::kAll) {
  TempDir tmp;
  const std::string dir = tmp.Sub("store");
  int rounds = 12;
  if (const char* env = std::getenv("EDGECACHE_CRASH_ROUNDS")) rounds = std::atoi(env);
  std::map<int, int> acked;      // key -> highest acknowledged version
  std::map<int, int> attempted;  // key -> highest version any child may have written
  std::mt19937 rng(12345);
  int total_acks = 0;

  for (int round = 0; round < rounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    // The child continues numbering from what may have been written, acknowledged or not.
    const std::string versions = tmp.Sub("versions");
    {
      std::ofstream out(versions, std::ios::trunc);
      for (const auto& [key, version] : attempted) out << key << ' ' << version << '\n';
    }
    const pid_t pid = SpawnSelf({"--writer", dir, std::to_string(static_cast<int>(sync)),
                                 std::to_string(static_cast<int>(admission)),
                                 std::to_string(fds[1]), std::to_string(round), versions},
                                fds[0]);
    ASSERT_GT(pid, 0);
    ::close(fds[1]);
    // Bounded: a writer stuck opening the store fails the round here, with the round named,
    // instead of the whole test hanging until ctest's timeout.
    pollfd ready{fds[0], POLLIN, 0};
    if (::poll(&ready, 1, 120000) != 1) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      FAIL() << "round " << round << ": the writer did not open the store within 120 s";
    }
    Ack opened{};
    ASSERT_EQ(::read(fds[0], &opened, sizeof(opened)), static_cast<ssize_t>(sizeof(opened)))
        << "the writer did not open the store";
    ASSERT_EQ(opened.key, -1);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << WEXITSTATUS(status);

    Ack ack;
    while (::read(fds[0], &ack, sizeof(ack)) == sizeof(ack)) {
      acked[ack.key] = std::max(acked[ack.key], ack.version);
      ++total_acks;
    }
    ::close(fds[0]);
    // The child may have begun (and even committed) one more version of any key than it
    // acknowledged; the next child must not reuse that version number for other bytes.
    for (auto& [key, version] : acked) attempted[key] = std::max(attempted[key], version);
    for (int key = 0; key < kKeys; ++key) attempted[key] += 1;

    std::unique_ptr<Store> store;
    Status s = Store::Open(CrashOptions(sync, admission), dir, &store);
    ASSERT_TRUE(s.ok()) << "round " << round << ": " << s.ToString();
    for (const auto& [key, version] : acked) {
      ObjectInfo info;
      s = store->Lookup({KeyName(key), ""}, &info);
      if (admission == Admission::kProbation && s.IsNotFound()) continue;
      ASSERT_TRUE(s.ok()) << "round " << round << ": acknowledged " << KeyName(key) << " v"
                          << version << " is missing: " << s.ToString();
      std::string body;
      s = store->Read(info, &body);
      ASSERT_TRUE(s.ok()) << "round " << round << " " << KeyName(key) << ": " << s.ToString();
      // Either the acknowledged version or one committed just before the kill (under
      // probation, an older written one when the newer ones were only held).
      bool exact = false;
      const int oldest = admission == Admission::kProbation ? 1 : version;
      for (int v = oldest; v <= attempted[key] && !exact; ++v) {
        exact = body.size() == Size(key, v) && body == Body(Seed(key, v), Size(key, v));
      }
      ASSERT_TRUE(exact) << "round " << round << ": " << KeyName(key)
                         << " is not byte-exact for any written version";
    }
    // Every listed object, acknowledged or not, reads back byte-exact or not at all.
    std::vector<ObjectInfo> all;
    ASSERT_TRUE(store->List({.prefix = "crash/", .limit = 100000}, &all).ok());
    for (const ObjectInfo& info : all) {
      std::string body;
      s = store->Read(info, &body);
      if (!s.ok()) {
        EXPECT_TRUE(s.IsCorruption() || s.IsNotFound()) << s.ToString();
        continue;
      }
      int key = std::atoi(info.key.primary.c_str() + 6);
      bool exact = false;
      for (int v = 1; v <= attempted[key] && !exact; ++v) {
        exact = body == Body(Seed(key, v), Size(key, v));
      }
      EXPECT_TRUE(exact) << info.key.primary << " read back bytes no writer wrote";
    }
    store->WaitForBackgroundWork();
    VerifyReport report;
    ASSERT_TRUE(store->Verify({}, &report).ok());
    EXPECT_TRUE(report.ok()) << "round " << round << ": "
                             << (report.problems.empty() ? "" : report.problems[0]);
  }
  EXPECT_GT(total_acks, rounds) << "the children barely wrote anything";
  std::printf("crash test (%s%s): %d rounds, %d acknowledged commits, %zu keys verified\n",
              sync == SyncPolicy::kNone ? "sync=none" : "sync=commit",
              admission == Admission::kProbation ? ", probation" : "", rounds, total_acks,
              acked.size());
}

TEST(CrashTest, KilledWriterLosesNothingAcknowledgedSyncNone) { RunCrashRounds(SyncPolicy::kNone); }

TEST(CrashTest, KilledWriterLosesNothingAcknowledgedSyncCommit) {
  RunCrashRounds(SyncPolicy::kCommit);
}

TEST(CrashTest, KilledWriterUnderProbationLeavesOnlyByteExactObjects) {
  RunCrashRounds(SyncPolicy::kNone, Admission::kProbation);
}

// A follower of a purge log applies purge i (odd: tag "t<i>", even: URL "u/<i>") and
// records position i with it, in order, until killed. After the kill the recorded position
// k covers every acknowledged purge, every purge up to k holds, and no tag purge after k
// does: a purge and its position are durable together. (A URL purge's entries are dropped
// before its position is written, so purge k+1 may hold in part: applied again on restart,
// dropping the same entries, it changes nothing.)
TEST(CrashTest, ALoggedPurgeAndItsPositionSurviveAKillTogether) {
  std::mt19937 rng(777);
  for (int round = 0; round < 4; ++round) {
    TempDir tmp;
    const std::string dir = tmp.Sub("store");
    {
      std::unique_ptr<Store> store;
      ASSERT_TRUE(Store::Open(CrashOptions(SyncPolicy::kNone), dir, &store).ok());
      for (int i = 1; i <= kPurges; ++i) {
        ObjectMeta meta;
        if (i % 2) meta.tags = {"t" + std::to_string(i)};
        ASSERT_TRUE(
            testing::Put(*store, {(i % 2 ? "t/" : "u/") + std::to_string(i), ""}, "x", meta).ok());
      }
    }
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = SpawnSelf({"--purger", dir, std::to_string(fds[1])}, fds[0]);
    ASSERT_GT(pid, 0);
    ::close(fds[1]);
    pollfd ready{fds[0], POLLIN, 0};
    if (::poll(&ready, 1, 120000) != 1) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      FAIL() << "round " << round << ": the purger did not open the store within 120 s";
    }
    int32_t ack = -1;
    ASSERT_EQ(::read(fds[0], &ack, sizeof(ack)), static_cast<ssize_t>(sizeof(ack)));
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 60));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    int32_t acked = 0;
    while (::read(fds[0], &ack, sizeof(ack)) == sizeof(ack)) acked = ack;
    ::close(fds[0]);

    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(CrashOptions(SyncPolicy::kNone), dir, &store).ok());
    std::string position;
    ASSERT_TRUE(store->LogPosition("log", &position).ok());
    const int k = position.empty() ? 0 : std::atoi(position.c_str());
    EXPECT_GE(k, acked) << "round " << round << ": an acknowledged purge's position was lost";
    for (int i = 1; i <= kPurges; ++i) {
      ObjectInfo info;
      const bool present =
          store->Lookup({(i % 2 ? "t/" : "u/") + std::to_string(i), ""}, &info).ok();
      if (i <= k) {
        EXPECT_FALSE(present) << "round " << round << ": purge " << i << " is before position " << k
                              << " but does not hold";
      } else if (i % 2 == 1 || i > k + 1) {
        EXPECT_TRUE(present) << "round " << round << ": purge " << i << " holds, but position " << k
                             << " says it was never applied";
      }
    }
    std::printf("logged purges, round %d: %d acknowledged, position %d\n", round, acked, k);
  }
}

// Child: applies purge i and records position i with it, in order, until killed.
[[noreturn]] void PurgerChild(const std::string& dir, int ack_fd) {
  std::unique_ptr<Store> store;
  if (!Store::Open(CrashOptions(SyncPolicy::kNone), dir, &store).ok()) ::_exit(3);
  int32_t i = 0;
  if (::write(ack_fd, &i, sizeof(i)) != sizeof(i)) ::_exit(5);
  for (i = 1; i <= kPurges; ++i) {
    LoggedPurge purge;
    purge.kind = i % 2 ? LoggedPurge::Kind::kTags : LoggedPurge::Kind::kUrls;
    purge.values = {i % 2 ? "t" + std::to_string(i) : "u/" + std::to_string(i)};
    if (!store->ApplyLoggedPurges("log", std::to_string(i) + "-0", {purge}).ok()) ::_exit(4);
    if (::write(ack_fd, &i, sizeof(i)) != sizeof(i)) ::_exit(5);
  }
  ::pause();  // all applied: wait for the kill
  ::_exit(0);
}

// The children's entry: `--writer DIR SYNC ADMISSION ACK_FD ROUND VERSIONS_FILE` or
// `--purger DIR ACK_FD`.
int ChildMain(int argc, char** argv) {
  spdlog::set_level(spdlog::level::err);
  const std::string_view role = argv[1];
  if (role == "--writer" && argc == 8) {
    std::map<int, int> versions;
    std::ifstream in(argv[7]);
    for (int key = 0, version = 0; in >> key >> version;) versions[key] = version;
    WriterChild(argv[2], static_cast<SyncPolicy>(std::atoi(argv[3])),
                static_cast<Admission>(std::atoi(argv[4])), std::atoi(argv[5]), std::atoi(argv[6]),
                std::move(versions));
  }
  if (role == "--purger" && argc == 4) PurgerChild(argv[2], std::atoi(argv[3]));
  std::fprintf(stderr, "crash_test: bad child arguments\n");
  return 2;
}

}  // namespace
}  // namespace edgecache

// The test's own main: the children are this binary too (see the top of the file).
int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]).starts_with("--") &&
      !std::string_view(argv[1]).starts_with("--gtest")) {
    return edgecache::ChildMain(argc, argv);
  }
  ::testing::InitGoogleTest(&argc, argv);
  spdlog::set_level(std::getenv("EDGECACHE_TEST_LOG") ? spdlog::level::debug : spdlog::level::err);
  return RUN_ALL_TESTS();
}
