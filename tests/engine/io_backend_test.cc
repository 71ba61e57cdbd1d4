// Both I/O backends, driven through the same interface on a real file.
#include "edgecache/io_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <set>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

class IoBackendTest : public ::testing::TestWithParam<IoBackendKind> {
 protected:
  void SetUp() override {
    Status s = MakeIoBackend(GetParam(), 2, &io_);
    if (s.code() == Status::Code::kNotSupported) GTEST_SKIP() << "io_uring unavailable here";
    ASSERT_TRUE(s.ok()) << s.ToString();
    fd_ = ::open(dir_.Sub("f").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    io_.reset();
    if (fd_ >= 0) ::close(fd_);
  }

  testing::TempDir dir_;
  std::unique_ptr<IoBackend> io_;
  int fd_ = -1;
};

TEST_P(IoBackendTest, WriteSyncReadBack) {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  ASSERT_TRUE(WriteFully(*io_, fd_, data.data(), data.size(), 4096, "write").ok());
  ASSERT_TRUE(SyncFile(*io_, fd_, "sync").ok());
  std::string back(data.size(), '\0');
  ASSERT_TRUE(ReadFully(*io_, fd_, back.data(), back.size(), 4096, "read").ok());
  EXPECT_EQ(back, data);
  // Reading past the end is a clear error, not a hang or garbage.
  Status s = ReadFully(*io_, fd_, back.data(), 10, 4096 + data.size(), "read past end");
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

TEST_P(IoBackendTest, ManyConcurrentOperationsAllComplete) {
  constexpr int kOps = 1000;  // more than the io_uring queue depth
  std::vector<std::string> bufs(kOps, std::string(512, '\0'));
  for (int i = 0; i < kOps; ++i) bufs[i].assign(512, static_cast<char>('A' + i % 26));
  std::atomic<int> done{0};
  std::promise<void> all;
  for (int i = 0; i < kOps; ++i) {
    io_->Write(fd_, bufs[i].data(), 512, uint64_t(i) * 512, [&](ssize_t n) {
      EXPECT_EQ(n, 512);
      if (++done == kOps) all.set_value();
    });
  }
  all.get_future().get();
  std::string back(512, '\0');
  ASSERT_TRUE(ReadFully(*io_, fd_, back.data(), 512, 777 * 512, "read").ok());
  EXPECT_EQ(back, bufs[777]);
}

TEST_P(IoBackendTest, ErrorsComeBackAsNegativeErrno) {
  std::promise<ssize_t> result;
  char buf[16];
  io_->Read(-1, buf, sizeof(buf), 0, [&](ssize_t n) { result.set_value(n); });
  EXPECT_EQ(result.get_future().get(), -EBADF);
}

TEST_P(IoBackendTest, WriteBlockingWritesOnTheCallingThread) {
  const std::string data(3000, 'w');
  EXPECT_EQ(io_->WriteBlocking(fd_, data.data(), data.size(), 512),
            static_cast<ssize_t>(data.size()));
  std::string back(data.size(), '\0');
  ASSERT_TRUE(ReadFully(*io_, fd_, back.data(), back.size(), 512, "read").ok());
  EXPECT_EQ(back, data);
  EXPECT_EQ(io_->WriteBlocking(-1, data.data(), data.size(), 0), -EBADF);
}

// A wrapper that does not override WriteBlocking (a fault-injecting one) still sees the
// write: the default goes through Write.
TEST_P(IoBackendTest, WriteBlockingByDefaultGoesThroughWrite) {
  class Counting final : public IoBackend {
   public:
    explicit Counting(IoBackend& base) : base_(base) {}
    void Read(int fd, void* buf, size_t len, uint64_t offset, Callback done) override {
      base_.Read(fd, buf, len, offset, std::move(done));
    }
    void Write(int fd, const void* buf, size_t len, uint64_t offset, Callback done) override {
      ++writes;
      base_.Write(fd, buf, len, offset + 1, std::move(done));  // shifted by one byte
    }
    void Sync(int fd, Callback done) override { base_.Sync(fd, std::move(done)); }
    std::string_view Name() const override { return "counting"; }
    int writes = 0;

   private:
    IoBackend& base_;
  };
  Counting counting(*io_);
  const std::string data = "abcdef";
  EXPECT_EQ(counting.WriteBlocking(fd_, data.data(), data.size(), 100), 6);
  EXPECT_EQ(counting.writes, 1);
  std::string back(data.size(), '\0');
  ASSERT_TRUE(ReadFully(*io_, fd_, back.data(), back.size(), 101, "read").ok());
  EXPECT_EQ(back, data);  // where the wrapper put it, not where the caller asked
}

INSTANTIATE_TEST_SUITE_P(Backends, IoBackendTest,
                         ::testing::Values(IoBackendKind::kIoUring, IoBackendKind::kPosix),
                         [](const auto& info) {
                           return info.param == IoBackendKind::kIoUring ? "IoUring" : "Posix";
                         });

TEST(IoBackendAutoTest, AutoAlwaysGivesABackend) {
  std::unique_ptr<IoBackend> io;
  ASSERT_TRUE(MakeIoBackend(IoBackendKind::kAuto, 1, &io).ok());
  EXPECT_TRUE(io->Name() == "io_uring" || io->Name() == "pread/pwrite");
}

// The pread/pwrite pool's threads are named one each ("ec-io-0" …), as `top -H` shows them.
TEST(IoBackendPosixTest, PoolThreadsAreNamedOneEach) {
  auto names = [] { return testing::ThreadNames("self"); };
  std::unique_ptr<IoBackend> io;
  ASSERT_TRUE(MakeIoBackend(IoBackendKind::kPosix, 3, &io).ok());
  const std::multiset<std::string> named = names();
  EXPECT_EQ(named.count("ec-io-0"), 1u);
  EXPECT_EQ(named.count("ec-io-1"), 1u);
  EXPECT_EQ(named.count("ec-io-2"), 1u);
  EXPECT_EQ(named.count("ec-io-3"), 0u);
  io.reset();
  EXPECT_EQ(names().count("ec-io-0"), 0u);  // joined
}

}  // namespace
}  // namespace edgecache
