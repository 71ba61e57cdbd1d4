// FIFO eviction: whole segments reclaimed oldest first keep the store within its budget.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "edgecache/store.h"
#include "format/coding.h"
#include "format/index_layout.h"
#include "index/entry_table.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::Put;
using testing::SmallOptions;
using testing::TempDir;

uint64_t SegmentFileBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/segments")) {
    total += std::filesystem::file_size(e.path());
  }
  return total;
}

TEST(EvictionTest, ThreeTimesCapacityStaysUnderBudget) {
  TempDir dir;
  const uint64_t capacity = 4ull << 20;  // four 1 MiB segments
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(SmallOptions(capacity), dir.Sub("s"), &store).ok());

  constexpr int kObjects = 240;
  constexpr size_t kSize = 50000;  // 240 * 50 KB = 12 MB: three times the capacity
  for (int i = 0; i < kObjects; ++i) {
    ObjectMeta meta;
    meta.tags = {"all"};
    ASSERT_TRUE(Put(*store, {"e/" + std::to_string(i), ""}, Body(i, kSize), meta).ok()) << i;
    ASSERT_LE(SegmentFileBytes(dir.Sub("s")), capacity) << "after object " << i;
    ASSERT_LE(store->Counters().segment_bytes, capacity);
  }
  store->WaitForBackgroundWork();

  StoreCounters c = store->Counters();
  EXPECT_GT(c.segments_reclaimed, 7u);
  EXPECT_GT(c.evictions, 150u);
  // Every object still indexed reads back byte-exact; the newest ones are all there.
  int present = 0;
  for (int i = 0; i < kObjects; ++i) {
    std::string body;
    Status s = testing::Get(*store, {"e/" + std::to_string(i), ""}, &body);
    if (s.IsNotFound()) {
      EXPECT_LT(i, kObjects - 40) << "a recent object was evicted";
      continue;
    }
    ASSERT_TRUE(s.ok()) << i << " " << s.ToString();
    EXPECT_EQ(body, Body(i, kSize));
    ++present;
  }
  EXPECT_EQ(c.objects, static_cast<uint64_t>(present));
  EXPECT_LE(c.body_bytes, capacity);
  // The tag index lost the evicted entries too.
  std::vector<ObjectInfo> listed;
  ASSERT_TRUE(store->List({.tag = "all", .limit = 100000}, &listed).ok());
  EXPECT_EQ(listed.size(), static_cast<size_t>(present));

  // The budget and the surviving objects hold across a reopen.
  store.reset();
  ASSERT_TRUE(Store::Open(SmallOptions(capacity), dir.Sub("s"), &store).ok());
  EXPECT_EQ(store->Counters().objects, static_cast<uint64_t>(present));
  std::string body;
  ASSERT_TRUE(testing::Get(*store, {"e/" + std::to_string(kObjects - 1), ""}, &body).ok());
  EXPECT_EQ(body, Body(kObjects - 1, kSize));
}

// Rewrites a closed store the way format version 1 wrote it: one member key per entry
// instead of one per batch, and version 1 in the marker and the index.
void MakeFormatVersion1(const std::string& dir) {
  std::unique_ptr<index::EntryTable> table;
  ASSERT_TRUE(index::EntryTable::Open(SmallOptions(), dir + "/index", &table).ok());
  std::vector<std::pair<std::string, std::string>> batches;
  ASSERT_TRUE(table
                  ->Scan(index::Family::kSegments, "M",
                         [&](std::string_view key, std::string_view value) {
                           batches.emplace_back(key, value);
                           return true;
                         })
                  .ok());
  ASSERT_FALSE(batches.empty());
  for (const auto& [key, value] : batches) {
    const uint64_t segment = format::DecodeBigEndian64(key.data() + 1);
    std::vector<std::string_view> members;
    ASSERT_TRUE(format::DecodeSegmentBatch(value, &members));
    for (std::string_view member : members) {
      ASSERT_TRUE(table
                      ->Put(index::Family::kSegments, format::SegmentMemberKey(segment, member), "",
                            false, "v1 member")
                      .ok());
    }
    ASSERT_TRUE(table->Delete(index::Family::kSegments, key, false, "batch").ok());
  }
  std::string v1;
  format::PutFixed32(&v1, 1);
  ASSERT_TRUE(table->Put(index::Family::kMeta, format::kMetaFormatVersion, v1, true, "v1").ok());
  table.reset();
  std::ofstream(dir + "/EDGECACHE") << "edgecache-store format 1\n";
}

std::string Marker(const std::string& dir) {
  std::stringstream text;
  text << std::ifstream(dir + "/EDGECACHE").rdbuf();
  return text.str();
}

TEST(EvictionTest, AStoreOfFormatVersion1IsUpgradedAndItsEntriesStillEvicted) {
  TempDir dir;
  const uint64_t capacity = 4ull << 20;
  constexpr size_t kSize = 50000;
  ObjectMeta meta;
  meta.tags = {"all"};
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(SmallOptions(capacity), dir.Sub("s"), &store).ok());
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(Put(*store, {"old/" + std::to_string(i), ""}, Body(i, kSize), meta).ok());
    }
  }
  MakeFormatVersion1(dir.Sub("s"));
  // Read-only, it is read as it is and left at version 1.
  {
    StoreOptions ro = SmallOptions(capacity);
    ro.read_only = true;
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::Open(ro, dir.Sub("s"), &store).ok());
    std::string body;
    ASSERT_TRUE(testing::Get(*store, {"old/7", ""}, &body).ok());
    EXPECT_EQ(body, Body(7, kSize));
  }
  EXPECT_EQ(Marker(dir.Sub("s")), "edgecache-store format 1\n");

  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(SmallOptions(capacity), dir.Sub("s"), &store).ok());
  EXPECT_EQ(Marker(dir.Sub("s")),
            "edgecache-store format " + std::to_string(format::kStoreFormatVersion) + "\n");
  std::string body;
  ASSERT_TRUE(testing::Get(*store, {"old/7", ""}, &body).ok());
  EXPECT_EQ(body, Body(7, kSize));
  // Three times the capacity more: the segments written by version 1 are reclaimed, and
  // their entries, found through the old member keys, leave the index with their tag keys.
  for (int i = 0; i < 240; ++i) {
    ASSERT_TRUE(Put(*store, {"new/" + std::to_string(i), ""}, Body(i, kSize), meta).ok());
  }
  store->WaitForBackgroundWork();
  // All gone but old/7, which was read and may have been re-inserted (found through the old
  // member keys as well) before its segment went.
  for (int i = 0; i < 40; ++i) {
    Status s = testing::Get(*store, {"old/" + std::to_string(i), ""}, &body);
    if (i == 7 && s.ok()) {
      EXPECT_EQ(body, Body(7, kSize));
    } else {
      EXPECT_TRUE(s.IsNotFound()) << i << " " << s.ToString();
    }
  }
  std::vector<ObjectInfo> listed;
  ASSERT_TRUE(store->List({.tag = "all", .limit = 100000}, &listed).ok());
  EXPECT_EQ(listed.size(), store->Counters().objects);
  for (const ObjectInfo& info : listed) {
    EXPECT_TRUE(info.key.primary.rfind("new/", 0) == 0 || info.key.primary == "old/7")
        << info.key.primary;
  }
}

TEST(EvictionTest, ObjectLargerThanASegmentSpansSegments) {
  TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(SmallOptions(8ull << 20), dir.Sub("s"), &store).ok());
  const std::string big = Body(1, 3u << 20);  // three 1 MiB segments' worth
  ASSERT_TRUE(Put(*store, {"e/big", ""}, big, {}, 1 << 16).ok());
  std::string got;
  ObjectInfo info;
  ASSERT_TRUE(testing::Get(*store, {"e/big", ""}, &got, &info).ok());
  EXPECT_EQ(got, big);
  std::set<uint64_t> segments;
  for (const auto& e : info.extents) segments.insert(e.segment);
  EXPECT_GE(segments.size(), 3u);

  // Pushing its first segment out evicts the whole object: no partial bodies.
  for (int i = 0; i < 6; ++i)
    ASSERT_TRUE(Put(*store, {"e/f" + std::to_string(i), ""}, Body(i, 1 << 20)).ok());
  EXPECT_TRUE(store->Lookup({"e/big", ""}, &info).IsNotFound());
}

TEST(EvictionTest, ReaderOfAnEvictedObjectGetsAMissNotGarbage) {
  TempDir dir;
  StoreOptions o = SmallOptions(4ull << 20);
  o.ram_cache_bytes = 0;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, dir.Sub("s"), &store).ok());
  ASSERT_TRUE(Put(*store, {"e/old", ""}, Body(1, 100000)).ok());
  ObjectInfo info;
  ASSERT_TRUE(store->Lookup({"e/old", ""}, &info).ok());
  for (int i = 0; i < 80; ++i)
    ASSERT_TRUE(Put(*store, {"e/n" + std::to_string(i), ""}, Body(i, 100000)).ok());
  std::string got;
  Status s = store->Read(info, &got);  // the lookup happened before the eviction
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
}

// Writes three capacities' worth of cold objects while looking one object up now and then.
// Returns whether the hot object is still stored, byte-exact.
bool HotObjectSurvives(bool reinsert, StoreCounters* counters) {
  TempDir dir;
  StoreOptions o = SmallOptions(4ull << 20);
  o.reinsert_hot_objects = reinsert;
  std::unique_ptr<Store> store;
  if (!Store::Open(o, dir.Sub("s"), &store).ok()) return false;
  const std::string hot = Body(1000, 30000);
  if (!Put(*store, {"e/hot", ""}, hot).ok()) return false;
  for (int i = 0; i < 240; ++i) {
    if (!Put(*store, {"e/cold" + std::to_string(i), ""}, Body(i, 50000)).ok()) return false;
    ObjectInfo info;
    if (i % 10 == 0) store->Lookup({"e/hot", ""}, &info).IgnoreError();  // a hit, when present
    store->WaitForBackgroundWork();  // let a re-insert finish before the next reclaim
  }
  *counters = store->Counters();
  std::string got;
  Status s = testing::Get(*store, {"e/hot", ""}, &got);
  if (s.IsNotFound()) return false;
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, hot);
  // The copy is what a reopened store serves too.
  store.reset();
  if (!Store::Open(o, dir.Sub("s"), &store).ok()) return false;
  EXPECT_TRUE(testing::Get(*store, {"e/hot", ""}, &got).ok());
  EXPECT_EQ(got, hot);
  return true;
}

TEST(EvictionTest, HotObjectsAreReinsertedBeforeTheirSegmentIsReclaimed) {
  StoreCounters c;
  EXPECT_TRUE(HotObjectSurvives(/*reinsert=*/true, &c));
  EXPECT_GE(c.reinserted, 2u);
  EXPECT_GT(c.evictions, 150u);  // the cold objects went
}

TEST(EvictionTest, WithoutReinsertionFifoEvictsHotObjectsToo) {
  StoreCounters c;
  EXPECT_FALSE(HotObjectSurvives(/*reinsert=*/false, &c));
  EXPECT_EQ(c.reinserted, 0u);
}

}  // namespace
}  // namespace edgecache
