// Store::Open: options, locking, format versions, refusing directories that are not ours.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "edgecache/store.h"
#include "format/index_layout.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::SmallOptions;
using testing::TempDir;

TEST(StoreOptionsTest, ValidateNamesTheOption) {
  StoreOptions o = SmallOptions();
  EXPECT_TRUE(o.Validate().ok());

  o.capacity_bytes = 2 * o.segment_bytes;
  Status s = o.Validate();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("capacity_bytes"), std::string::npos) << s.ToString();

  o = SmallOptions();
  o.chunk_bytes = static_cast<uint32_t>(o.segment_bytes);
  EXPECT_NE(o.Validate().message().find("chunk_bytes"), std::string::npos);

  o = SmallOptions();
  o.segment_bytes = 5ull << 30;
  o.capacity_bytes = 40ull << 30;
  EXPECT_NE(o.Validate().message().find("segment_bytes"), std::string::npos);

  o = SmallOptions();
  o.worker_threads = 0;
  EXPECT_NE(o.Validate().message().find("worker_threads"), std::string::npos);

  o = SmallOptions();
  o.presence_filter_bytes = (4ull << 30) + 1;
  EXPECT_NE(o.Validate().message().find("presence_filter_bytes"), std::string::npos);
  o.presence_filter_bytes = 4ull << 30;
  EXPECT_TRUE(o.Validate().ok());
  o.presence_filter_bytes = StoreOptions::kAutoSize;
  EXPECT_TRUE(o.Validate().ok());
}

TEST(StoreOpenTest, InvalidOptionsAreRefusedBeforeTouchingDisk) {
  TempDir dir;
  StoreOptions o = SmallOptions();
  o.io_threads = 0;
  std::unique_ptr<Store> store;
  EXPECT_EQ(Store::Open(o, dir.Sub("s"), &store).code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("s")));
}

TEST(StoreOpenTest, SecondOpenWhileHeldIsBusy) {
  TempDir dir;
  std::unique_ptr<Store> first, second;
  ASSERT_TRUE(Store::Open(SmallOptions(), dir.Sub("s"), &first).ok());
  Status s = Store::Open(SmallOptions(), dir.Sub("s"), &second);
  EXPECT_EQ(s.code(), Status::Code::kBusy) << s.ToString();
  EXPECT_NE(s.message().find("in use by another process"), std::string::npos);
  first.reset();
  EXPECT_TRUE(Store::Open(SmallOptions(), dir.Sub("s"), &second).ok());
}

TEST(StoreOpenTest, ClosingRightAfterOpeningNeverHangs) {
  // A store closed while its maintenance thread is only starting: the close must not be a
  // wake-up that thread misses (edgecachectl's offline commands do exactly this). A lost
  // wake-up hangs this test until its timeout.
  TempDir dir;
  for (int i = 0; i < 300; ++i) {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(SmallOptions(), dir.Sub("s"), &store).ok());
  }
}

TEST(StoreOpenTest, OtherFormatVersionIsIncompatibleAndUntouched) {
  TempDir dir;
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(SmallOptions(), dir.Sub("s"), &store).ok());
    ASSERT_TRUE(testing::Put(*store, {"h/a", ""}, "kept").ok());
  }
  { std::ofstream(dir.Sub("s/EDGECACHE")) << "edgecache-store format 999\n"; }
  std::unique_ptr<Store> store;
  Status s = Store::Open(SmallOptions(), dir.Sub("s"), &store);
  EXPECT_EQ(s.code(), Status::Code::kIncompatible) << s.ToString();
  EXPECT_NE(s.message().find("999"), std::string::npos);
  // Nothing was destroyed: with the right marker back, the object is still there.
  {
    std::ofstream(dir.Sub("s/EDGECACHE"))
        << "edgecache-store format " << format::kStoreFormatVersion << "\n";
  }
  ASSERT_TRUE(Store::Open(SmallOptions(), dir.Sub("s"), &store).ok());
  std::string body;
  ASSERT_TRUE(testing::Get(*store, {"h/a", ""}, &body).ok());
  EXPECT_EQ(body, "kept");
}

TEST(StoreOpenTest, NonEmptyForeignDirectoryIsRefused) {
  TempDir dir;
  std::filesystem::create_directories(dir.Sub("data"));
  { std::ofstream(dir.Sub("data/precious.txt")) << "not a cache"; }
  std::unique_ptr<Store> store;
  Status s = Store::Open(SmallOptions(), dir.Sub("data"), &store);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("data/precious.txt")));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.Sub("data")),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(StoreOpenTest, MissingStoreWithoutCreateIsNotFound) {
  TempDir dir;
  StoreOptions o = SmallOptions();
  o.create_if_missing = false;
  std::unique_ptr<Store> store;
  EXPECT_TRUE(Store::Open(o, dir.Sub("nothing"), &store).IsNotFound());
}

TEST(StoreOpenTest, PosixBackendStoreWorksAndSaysSo) {
  TempDir dir;
  StoreOptions o = SmallOptions();
  o.io_backend = IoBackendKind::kPosix;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, dir.Sub("s"), &store).ok());
  EXPECT_EQ(store->IoBackendName(), "pread/pwrite");
  ASSERT_TRUE(testing::Put(*store, {"h/p", ""}, testing::Body(1, 50000)).ok());
  std::string body;
  ASSERT_TRUE(testing::Get(*store, {"h/p", ""}, &body).ok());
  EXPECT_EQ(body, testing::Body(1, 50000));
}

TEST(StoreOpenTest, SyncPolicyCommitStoresAndReopens) {
  TempDir dir;
  StoreOptions o = SmallOptions();
  o.sync = SyncPolicy::kCommit;
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(o, dir.Sub("s"), &store).ok());
    ASSERT_TRUE(testing::Put(*store, {"h/s", ""}, testing::Body(2, 40000)).ok());
  }
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, dir.Sub("s"), &store).ok());
  std::string body;
  ASSERT_TRUE(testing::Get(*store, {"h/s", ""}, &body).ok());
  EXPECT_EQ(body, testing::Body(2, 40000));
}

}  // namespace
}  // namespace edgecache
