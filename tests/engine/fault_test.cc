// Faults: EIO on read, ENOSPC on write, torn writes, bytes flipped inside a segment.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "edgecache/store.h"
#include "support/fault_io.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::FaultInjectingIo;
using testing::Put;
using testing::SmallOptions;
using testing::TempDir;

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    std::unique_ptr<IoBackend> base;
    ASSERT_TRUE(MakeIoBackend(IoBackendKind::kAuto, 2, &base).ok());
    auto io = std::make_shared<FaultInjectingIo>(std::move(base));
    io_ = io.get();
    StoreOptions o = SmallOptions();
    o.ram_cache_bytes = 0;  // every read goes to disk
    o.io = std::move(io);
    ASSERT_TRUE(Store::Open(o, dir_.Sub("s"), &store_).ok());
  }
  // The entry of a bad read is dropped on a worker thread: wait (bounded) for it.
  bool EventuallyMisses(const ObjectKey& key) {
    for (int i = 0; i < 500; ++i) {
      ObjectInfo info;
      if (store_->Lookup(key, &info).IsNotFound()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  TempDir dir_;
  FaultInjectingIo* io_ = nullptr;
  std::unique_ptr<Store> store_;
};

TEST_F(FaultTest, ReadErrorIsAnErrorThenAMiss) {
  ASSERT_TRUE(Put(*store_, {"f/a", ""}, Body(1, 30000)).ok());
  ASSERT_TRUE(Put(*store_, {"f/b", ""}, Body(2, 30000)).ok());
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"f/a", ""}, &info).ok());
  io_->FailReads(EIO);
  std::string got;
  Status s = store_->Read(info, &got);
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
  EXPECT_TRUE(got.empty());
  io_->FailReads(0);
  EXPECT_TRUE(EventuallyMisses({"f/a", ""}));
  EXPECT_GE(store_->Counters().io_errors, 1u);
  // The other object is untouched.
  ASSERT_TRUE(testing::Get(*store_, {"f/b", ""}, &got).ok());
  EXPECT_EQ(got, Body(2, 30000));
}

TEST_F(FaultTest, DiskFullRefusesInsertsButKeepsServing) {
  ASSERT_TRUE(Put(*store_, {"f/kept", ""}, Body(1, 20000)).ok());
  io_->FailWrites(ENOSPC);
  Status s = Put(*store_, {"f/new", ""}, Body(2, 20000));
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  ObjectInfo info;
  EXPECT_TRUE(store_->Lookup({"f/new", ""}, &info).IsNotFound());
  std::string got;
  ASSERT_TRUE(testing::Get(*store_, {"f/kept", ""}, &got).ok());
  EXPECT_EQ(got, Body(1, 20000));
  // Space comes back: inserts work again.
  io_->FailWrites(0);
  ASSERT_TRUE(Put(*store_, {"f/new", ""}, Body(2, 20000)).ok());
  ASSERT_TRUE(testing::Get(*store_, {"f/new", ""}, &got).ok());
  EXPECT_EQ(got, Body(2, 20000));
}

TEST_F(FaultTest, TornWriteFailsTheInsert) {
  ASSERT_TRUE(Put(*store_, {"f/first", ""}, "creates the segment").ok());
  std::unique_ptr<InsertHandle> insert;
  ASSERT_TRUE(store_->BeginInsert({"f/torn", ""}, {}, &insert).ok());
  ASSERT_TRUE(insert->Append(Body(3, 10000)).ok());
  io_->TearNextWrite();
  Status s = insert->Commit();
  EXPECT_FALSE(s.ok());
  ObjectInfo info;
  EXPECT_TRUE(store_->Lookup({"f/torn", ""}, &info).IsNotFound());
}

TEST_F(FaultTest, FlippedBytesInASegmentAreDetectedAndNeverServed) {
  const std::string body = Body(4, 40000);  // three chunks
  ASSERT_TRUE(Put(*store_, {"f/flip", ""}, body).ok());
  ASSERT_TRUE(Put(*store_, {"f/intact", ""}, Body(5, 40000)).ok());
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"f/flip", ""}, &info).ok());
  const BodyExtent second = info.extents[1];
  store_.reset();

  // Flip one byte in the middle of the second chunk's body bytes, as bit rot would.
  ASSERT_TRUE(testing::FlipBodyByte(dir_.Sub("s"), {"f/flip", ""}, second));

  Reopen();
  ASSERT_TRUE(store_->Lookup({"f/flip", ""}, &info).ok());
  // The first chunk is fine and may be read; the bad one is refused.
  std::string got;
  ASSERT_TRUE(store_->Read(info, &got, 0, 100).ok());
  EXPECT_EQ(got, body.substr(0, 100));
  Status s = store_->Read(info, &got);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_GE(store_->Counters().corrupt_reads, 1u);
  EXPECT_TRUE(EventuallyMisses({"f/flip", ""}));
  ASSERT_TRUE(testing::Get(*store_, {"f/intact", ""}, &got).ok());
  EXPECT_EQ(got, Body(5, 40000));
}

TEST_F(FaultTest, TruncatedSegmentIsDetected) {
  ASSERT_TRUE(Put(*store_, {"f/trunc", ""}, Body(6, 30000)).ok());
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"f/trunc", ""}, &info).ok());
  uint64_t segment = info.extents[0].segment;
  store_.reset();
  ASSERT_EQ(::truncate(testing::SegmentPath(dir_.Sub("s"), segment).c_str(),
                       info.extents[0].offset + 100),
            0);
  Reopen();
  ASSERT_TRUE(store_->Lookup({"f/trunc", ""}, &info).ok());
  std::string got;
  Status s = store_->Read(info, &got);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(EventuallyMisses({"f/trunc", ""}));
}

}  // namespace
}  // namespace edgecache
