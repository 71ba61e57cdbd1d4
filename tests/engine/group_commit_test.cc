// Group commit (engine/src/group_commit.h): small inserts that commit while a batch is being
// written share the next batch's one segment write and one index write, and each keeps its
// own outcome. A gate in front of the real I/O backend holds the first batch's write so
// that the others queue behind it deterministically.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::Get;
using testing::SmallOptions;
using testing::TempDir;

// Passes everything to a real backend, except that writes are held while the gate is
// closed and submitted when it opens, and fail once FailWrites is set.
class GatedIo final : public IoBackend {
 public:
  explicit GatedIo(std::unique_ptr<IoBackend> base) : base_(std::move(base)) {}

  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  // Submits the held writes.
  void Open() {
    std::vector<Held> held;
    {
      std::lock_guard lock(mu_);
      closed_ = false;
      held.swap(held_);
    }
    for (Held& h : held) base_->Write(h.fd, h.buf, h.len, h.offset, std::move(h.done));
  }
  // Writes from now on (not the held ones) fail with `err`.
  void FailWrites(int err) { fail_errno_ = err; }
  // Waits (bounded) until `n` writes are held.
  bool WaitHeld(size_t n) {
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard lock(mu_);
        if (held_.size() >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  int writes() const { return writes_; }

  void Read(int fd, void* buf, size_t len, uint64_t offset, Callback done) override {
    base_->Read(fd, buf, len, offset, std::move(done));
  }
  void Write(int fd, const void* buf, size_t len, uint64_t offset, Callback done) override {
    ++writes_;
    if (int err = fail_errno_.load()) {
      base_->Sync(fd, [err, done = std::move(done)](ssize_t) { done(-err); });
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        held_.push_back(Held{fd, buf, len, offset, std::move(done)});
        return;
      }
    }
    base_->Write(fd, buf, len, offset, std::move(done));
  }
  void Sync(int fd, Callback done) override { base_->Sync(fd, std::move(done)); }
  std::string_view Name() const override { return "gated"; }

 private:
  struct Held {
    int fd;
    const void* buf;
    size_t len;
    uint64_t offset;
    Callback done;
  };
  std::unique_ptr<IoBackend> base_;
  std::mutex mu_;
  bool closed_ = false;     // GUARDED_BY(mu_)
  std::vector<Held> held_;  // GUARDED_BY(mu_)
  std::atomic<int> writes_{0};
  std::atomic<int> fail_errno_{0};
};

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(SmallOptions()); }
  void Open(StoreOptions o) {
    inserts_.clear();
    store_.reset();
    std::unique_ptr<IoBackend> base;
    ASSERT_TRUE(MakeIoBackend(IoBackendKind::kAuto, 2, &base).ok());
    auto io = std::make_shared<GatedIo>(std::move(base));
    io_ = io.get();
    o.io = std::move(io);
    Status s = Store::Open(o, dir_.Sub("s"), &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Stores one object, so the active segment exists and the next write is a record's.
  void Warm() { ASSERT_TRUE(StartPut({"g/warm", ""}, Body(99, 10)).get().ok()); }

  // Begins an insert of `body` under `key` and commits it without waiting.
  std::future<Status> StartPut(const ObjectKey& key, const std::string& body,
                               ObjectMeta meta = {}) {
    auto result = std::make_shared<std::promise<Status>>();
    std::future<Status> f = result->get_future();
    std::unique_ptr<InsertHandle> insert;
    Status s = store_->BeginInsert(key, meta, &insert);
    if (!s.ok()) {
      result->set_value(s);
      return f;
    }
    s = insert->Append(body);
    if (!s.ok()) {
      result->set_value(s);
      return f;
    }
    InsertHandle* raw = insert.get();
    inserts_.push_back(std::move(insert));
    raw->AsyncCommit([result](Status s) { result->set_value(std::move(s)); });
    return f;
  }

  TempDir dir_;
  GatedIo* io_ = nullptr;
  std::unique_ptr<Store> store_;
  std::vector<std::unique_ptr<InsertHandle>> inserts_;
};

TEST_F(GroupCommitTest, CommitsQueuedBehindAWriteShareOneWriteAndOneIndexBatch) {
  Warm();
  io_->Close();
  std::future<Status> first = StartPut({"g/first", ""}, Body(100, 1000));
  ASSERT_TRUE(io_->WaitHeld(1));
  std::vector<std::future<Status>> rest;
  for (int i = 0; i < 10; ++i) {
    rest.push_back(StartPut({"g/" + std::to_string(i), ""}, Body(i, 500 + 300 * i)));
  }
  const int writes_before = io_->writes();
  io_->Open();
  ASSERT_TRUE(first.get().ok());
  for (auto& f : rest) {
    Status s = f.get();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(io_->writes(), writes_before + 1);  // the ten records in one write
  StoreCounters c = store_->Counters();
  EXPECT_EQ(c.inserts, 12u);  // with Warm's
  EXPECT_EQ(c.insert_batches, 3u);
  EXPECT_EQ(c.objects, 12u);

  // Every record is its own chunk record: read back, verified, and still there on reopen.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 10; ++i) {
      std::string got;
      ObjectInfo info;
      ASSERT_TRUE(Get(*store_, {"g/" + std::to_string(i), ""}, &got, &info).ok());
      EXPECT_EQ(got, Body(i, 500 + 300 * i));
      EXPECT_EQ(info.extents.size(), 1u);
    }
    VerifyReport report;
    ASSERT_TRUE(store_->Verify({}, &report).ok());
    EXPECT_TRUE(report.ok());
    EXPECT_EQ(report.entries, 12u);
    if (round == 0) Open(SmallOptions());
  }
}

TEST_F(GroupCommitTest, AKeyCommittedTwiceInOneBatchKeepsTheLaterBody) {
  Warm();
  io_->Close();
  std::future<Status> first = StartPut({"g/first", ""}, Body(1, 100));
  ASSERT_TRUE(io_->WaitHeld(1));
  std::future<Status> a = StartPut({"g/same", ""}, Body(2, 700));
  std::future<Status> b = StartPut({"g/other", ""}, Body(3, 700));
  std::future<Status> c = StartPut({"g/same", ""}, Body(4, 900));
  io_->Open();
  ASSERT_TRUE(first.get().ok());
  ASSERT_TRUE(a.get().ok());
  ASSERT_TRUE(b.get().ok());
  ASSERT_TRUE(c.get().ok());
  std::string got;
  ASSERT_TRUE(Get(*store_, {"g/same", ""}, &got).ok());
  EXPECT_EQ(got, Body(4, 900));
  StoreCounters counters = store_->Counters();
  EXPECT_EQ(counters.objects, 4u);  // with Warm's
  EXPECT_EQ(counters.body_bytes, 10u + 100u + 700u + 900u);
  // Warm's, the held one's, and two for the second write: the repeated key starts a
  // second index batch.
  EXPECT_EQ(counters.insert_batches, 4u);
}

TEST_F(GroupCommitTest, AFailedBatchWriteFailsAllItsMembers) {
  Warm();
  io_->Close();
  std::future<Status> first = StartPut({"g/first", ""}, Body(1, 100));
  ASSERT_TRUE(io_->WaitHeld(1));
  std::vector<std::future<Status>> batch;
  for (int i = 0; i < 5; ++i)
    batch.push_back(StartPut({"g/" + std::to_string(i), ""}, Body(i, 800)));
  io_->FailWrites(ENOSPC);  // the held write goes through; the next batch's fails
  io_->Open();
  ASSERT_TRUE(first.get().ok());
  for (auto& f : batch) {
    Status s = f.get();
    EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  }
  for (int i = 0; i < 5; ++i) {
    ObjectInfo info;
    EXPECT_TRUE(store_->Lookup({"g/" + std::to_string(i), ""}, &info).IsNotFound());
  }
  EXPECT_EQ(store_->Counters().objects, 2u);  // Warm's and the held one
}

TEST_F(GroupCommitTest, APurgeOvertakingOneMemberDropsOnlyThatOne) {
  Warm();
  io_->Close();
  std::future<Status> first = StartPut({"g/first", ""}, Body(1, 100));
  ASSERT_TRUE(io_->WaitHeld(1));
  ObjectMeta tagged;
  tagged.tags = {"t"};
  std::future<Status> purged = StartPut({"g/tagged", ""}, Body(2, 600), tagged);
  std::future<Status> kept = StartPut({"g/plain", ""}, Body(3, 600));
  ASSERT_TRUE(store_->PurgeTag("t", PurgeMode::kHard, nullptr).ok());
  io_->Open();
  ASSERT_TRUE(first.get().ok());
  EXPECT_TRUE(purged.get().IsAborted());
  EXPECT_TRUE(kept.get().ok());
  ObjectInfo info;
  EXPECT_TRUE(store_->Lookup({"g/tagged", ""}, &info).IsNotFound());
  EXPECT_TRUE(store_->Lookup({"g/plain", ""}, &info).ok());
}

TEST_F(GroupCommitTest, AWindowGathersCommitsThatArriveWhileItIsOpen) {
  StoreOptions o = SmallOptions();
  o.commit_window_us = 2'000'000;  // far longer than the commits below take to arrive
  Open(o);
  // Alone after a quiet spell: written at once, so its commit returns.
  ASSERT_TRUE(StartPut({"w/0", ""}, Body(0, 500)).get().ok());
  // The next ones wait for the window that began with that write, and go in one batch.
  std::vector<std::future<Status>> puts;
  for (int i = 1; i <= 3; ++i)
    puts.push_back(StartPut({"w/" + std::to_string(i), ""}, Body(i, 500)));
  for (auto& f : puts) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(store_->Counters().insert_batches, 2u);
  EXPECT_EQ(store_->Counters().objects, 4u);
}

TEST_F(GroupCommitTest, BodiesLargerThanABatchRecordStillCommitAlone) {
  // 16 KiB chunks: a 100 KB body is several chunk records, written one by one.
  std::future<Status> big = StartPut({"g/big", ""}, Body(7, 100000));
  std::future<Status> small = StartPut({"g/small", ""}, Body(8, 100));
  ASSERT_TRUE(big.get().ok());
  ASSERT_TRUE(small.get().ok());
  std::string got;
  ObjectInfo info;
  ASSERT_TRUE(Get(*store_, {"g/big", ""}, &got, &info).ok());
  EXPECT_EQ(got, Body(7, 100000));
  EXPECT_GT(info.extents.size(), 1u);
  ASSERT_TRUE(Get(*store_, {"g/small", ""}, &got).ok());
  EXPECT_EQ(got, Body(8, 100));
}

}  // namespace
}  // namespace edgecache
