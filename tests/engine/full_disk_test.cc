// A full file system, for real: each case runs in a child process with a mount namespace of
// its own and a small tmpfs as the store's file system, so fallocate and RocksDB meet a
// genuine ENOSPC. (unshare + mount need root or user namespaces: without them the case
// says so and is skipped.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::Put;
using testing::SmallOptions;

constexpr int kNoNamespace = 77;

// Runs `body` in a child whose `dir` is a fresh tmpfs of `mib` MiB; its exit code (0 = ok).
int InSmallFileSystem(const std::string& dir, int mib, const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + std::to_string(mib) + "m").c_str()) !=
            0) {
      std::perror("cannot mount a tmpfs in a new mount namespace");
      ::_exit(kNoNamespace);
    }
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define CHILD_CHECK(cond, code)                                              \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "child: %s failed (line %d)\n", #cond, __LINE__); \
      return code;                                                           \
    }                                                                        \
  } while (0)

class FullDiskTest : public ::testing::Test {
 protected:
  void Run(int mib, const std::function<int(const std::string& store)>& body) {
    const std::string mount = tmp_.Sub("fs");
    ASSERT_EQ(::mkdir(mount.c_str(), 0755), 0);
    const int rc = InSmallFileSystem(mount, mib, [&] { return body(mount + "/store"); });
    if (rc == kNoNamespace) GTEST_SKIP() << "no mount namespace here (needs root or userns)";
    EXPECT_EQ(rc, 0) << "the child failed: see its message above";
  }
  testing::TempDir tmp_;
};

TEST_F(FullDiskTest, CapacityBeyondTheFileSystemIsCappedAtOpenAndTheStoreKeepsStoring) {
  Run(160, [](const std::string& dir) {
    std::unique_ptr<Store> store;
    Status s = Store::Open(SmallOptions(1ull << 30), dir, &store);  // 1 GiB on 160 MiB
    if (!s.ok()) std::fprintf(stderr, "child: %s\n", s.ToString().c_str());
    CHILD_CHECK(s.ok(), 1);
    for (int i = 0; i < 150; ++i) {  // 150 MB through a store that holds less than 96
      s = Put(*store, {"full/" + std::to_string(i), ""}, Body(i, 1000000));
      if (!s.ok()) std::fprintf(stderr, "child: put %d: %s\n", i, s.ToString().c_str());
      CHILD_CHECK(s.ok(), 2);
    }
    std::string body;
    CHILD_CHECK(testing::Get(*store, {"full/149", ""}, &body).ok() && body == Body(149, 1000000),
                3);
    CHILD_CHECK(testing::Get(*store, {"full/0", ""}, &body).IsNotFound(), 4);  // reclaimed
    CHILD_CHECK(store->Counters().segments <= 96, 5);
    return 0;
  });
}

TEST_F(FullDiskTest, AFileSystemTooSmallForFourSegmentsRefusesToOpenSayingWhy) {
  Run(66, [](const std::string& dir) {  // 64 MiB of it are the index's headroom
    std::unique_ptr<Store> store;
    Status s = Store::Open(SmallOptions(1ull << 30), dir, &store);
    CHILD_CHECK(s.IsNoSpace(), 1);
    CHILD_CHECK(s.message().find("store.capacity") != std::string::npos, 2);
    CHILD_CHECK(s.message().find("at least 4") != std::string::npos, 3);
    return 0;
  });
}

TEST_F(FullDiskTest, AFileSystemThatFillsUpLaterIsMadeRoomInFromTheOldestSegments) {
  Run(200, [](const std::string& dir) {
    std::unique_ptr<Store> store;
    CHILD_CHECK(Store::Open(SmallOptions(64ull << 20), dir, &store).ok(), 1);  // fits
    for (int i = 0; i < 10; ++i) {
      CHILD_CHECK(Put(*store, {"early/" + std::to_string(i), ""}, Body(i, 1000000)).ok(), 2);
    }
    // Something else fills the file system, leaving the index's headroom and 16 MiB.
    struct statvfs fs;
    CHILD_CHECK(::statvfs(dir.c_str(), &fs) == 0, 3);
    const off_t fill = static_cast<off_t>(fs.f_bavail * fs.f_frsize) - (80 << 20);
    const int fd = ::open((dir + "/../filler").c_str(), O_CREAT | O_WRONLY, 0644);
    CHILD_CHECK(fd >= 0 && ::fallocate(fd, 0, 0, fill) == 0, 4);
    ::close(fd);
    for (int i = 0; i < 60; ++i) {  // 60 MB into the 16 MiB left for segments
      Status s = Put(*store, {"late/" + std::to_string(i), ""}, Body(100 + i, 1000000));
      if (!s.ok()) std::fprintf(stderr, "child: put %d: %s\n", i, s.ToString().c_str());
      CHILD_CHECK(s.ok(), 5);
    }
    std::string body;
    CHILD_CHECK(testing::Get(*store, {"late/59", ""}, &body).ok() && body == Body(159, 1000000), 6);
    CHILD_CHECK(testing::Get(*store, {"early/0", ""}, &body).IsNotFound(), 7);
    return 0;
  });
}

}  // namespace
}  // namespace edgecache
