// SegmentManager on its own: a real index (EntryTable on RocksDB), real segment files in a
// temp directory, the pread/pwrite backend.
#include "segment/segment_manager.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "format/record.h"
#include "index/entry_table.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

namespace fs = std::filesystem;
using segment::Allocation;
using segment::SegmentManager;
using testing::TempDir;

constexpr uint32_t kQuarter = 256u << 10;

// Four 1 MiB segments at most; the hooks record what they are told.
class SegmentManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = testing::SmallOptions(4ull << 20);
    ASSERT_TRUE(MakeIoBackend(IoBackendKind::kPosix, 2, &io_).ok());
    ASSERT_TRUE(index::EntryTable::Open(options_, dir_.Sub("index"), &table_).ok());
  }
  void TearDown() override {
    segments_.reset();
    table_.reset();
  }

  Status OpenSegments(std::vector<uint64_t>* dead) {
    segments_ = std::make_unique<SegmentManager>(
        options_, dir_.Sub("segments"), *io_, *table_,
        SegmentManager::Hooks{
            .reclaimed = [this](uint64_t id) { reclaimed_.push_back(id); },
            .next_to_reclaim = [this](uint64_t id) { next_to_reclaim_.push_back(id); },
        });
    return segments_->Open(dead);
  }

  // Allocates a quarter segment; returns the segment id.
  uint64_t AllocateQuarter(uint32_t* offset = nullptr) {
    Allocation a;
    Status s = segments_->Allocate(kQuarter, &a);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return 0;
    if (offset != nullptr) *offset = a.offset;
    return a.segment->id;
  }

  bool FileExists(uint64_t id) const {
    return fs::exists(dir_.Sub("segments") + "/" + SegmentManager::FileName(id));
  }

  TempDir dir_;
  StoreOptions options_;
  std::unique_ptr<IoBackend> io_;
  std::unique_ptr<index::EntryTable> table_;
  std::unique_ptr<SegmentManager> segments_;
  std::vector<uint64_t> reclaimed_, next_to_reclaim_;
};

TEST_F(SegmentManagerTest, AllocationsFillTheActiveSegmentThenRollToANewOne) {
  std::vector<uint64_t> dead;
  ASSERT_TRUE(OpenSegments(&dead).ok());
  EXPECT_TRUE(dead.empty());
  EXPECT_EQ(segments_->count(), 0u);
  uint32_t a = 0, b = 0, c = 0, d = 0;
  EXPECT_EQ(AllocateQuarter(&a), 1u);
  EXPECT_EQ(AllocateQuarter(&b), 1u);
  EXPECT_EQ(AllocateQuarter(&c), 1u);
  EXPECT_EQ(a, format::kSegmentHeaderSize);
  EXPECT_EQ(b, a + kQuarter);
  EXPECT_EQ(c, b + kQuarter);
  // A fourth quarter does not fit behind the header: a new segment.
  EXPECT_EQ(AllocateQuarter(&d), 2u);
  EXPECT_EQ(d, format::kSegmentHeaderSize);
  EXPECT_EQ(segments_->count(), 2u);
  EXPECT_NE(segments_->Get(1), nullptr);
  EXPECT_NE(segments_->Get(2), nullptr);
  EXPECT_EQ(segments_->Get(3), nullptr);
  EXPECT_TRUE(FileExists(1));
  EXPECT_EQ(segments_->FileBytes(), 2 * options_.segment_bytes);
  EXPECT_TRUE(reclaimed_.empty());
}

TEST_F(SegmentManagerTest, AtCapacityTheOldestSegmentIsReclaimedWhole) {
  std::vector<uint64_t> dead;
  ASSERT_TRUE(OpenSegments(&dead).ok());
  EXPECT_EQ(segments_->max_segments(), 4u);
  // Three quarters per segment: segments 1..4 fill the budget.
  for (int i = 0; i < 12; ++i) AllocateQuarter();
  EXPECT_EQ(segments_->count(), 4u);
  EXPECT_TRUE(reclaimed_.empty());
  // At the budget, the store is told which segment goes next, before it goes.
  EXPECT_EQ(next_to_reclaim_, std::vector<uint64_t>{1});
  EXPECT_EQ(AllocateQuarter(), 5u);
  EXPECT_EQ(reclaimed_, std::vector<uint64_t>{1});
  EXPECT_EQ(next_to_reclaim_, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(segments_->min_live(), 2u);
  EXPECT_EQ(segments_->Get(1), nullptr);
  EXPECT_FALSE(FileExists(1));
  EXPECT_EQ(segments_->count(), 4u);
  EXPECT_EQ(segments_->reclaimed(), 1u);
}

TEST_F(SegmentManagerTest, ReopenKeepsRecordedSegmentsDropsStrayFilesAndReportsDeadRecords) {
  std::vector<uint64_t> dead;
  ASSERT_TRUE(OpenSegments(&dead).ok());
  for (int i = 0; i < 13; ++i) AllocateQuarter();  // segments 2..5 live, 1 reclaimed
  segments_.reset();
  // A file no record names: what a roll that crashed before recording it leaves.
  const std::string stray = dir_.Sub("segments") + "/" + SegmentManager::FileName(77);
  std::ofstream(stray) << "half a segment";

  ASSERT_TRUE(OpenSegments(&dead).ok());
  // Segment 1's record is still in the index (the store's cleanup drops it): reported.
  EXPECT_EQ(dead, std::vector<uint64_t>{1});
  EXPECT_FALSE(fs::exists(stray));
  EXPECT_EQ(segments_->min_live(), 2u);
  EXPECT_EQ(segments_->count(), 4u);
  for (uint64_t id = 2; id <= 5; ++id) EXPECT_NE(segments_->Get(id), nullptr) << id;
  // Ids are never reused, not even the stray one's: the next roll takes a fresh id.
  EXPECT_EQ(AllocateQuarter(), 78u);
  EXPECT_EQ(reclaimed_.back(), 2u);
}

TEST(SegmentManagerNames, FileNamesRoundTrip) {
  uint64_t id = 0;
  EXPECT_TRUE(SegmentManager::ParseFileName(SegmentManager::FileName(42).c_str(), &id));
  EXPECT_EQ(id, 42u);
  EXPECT_FALSE(SegmentManager::ParseFileName("42.seg.tmp", &id));
  EXPECT_FALSE(SegmentManager::ParseFileName("LOCK", &id));
}

}  // namespace
}  // namespace edgecache
