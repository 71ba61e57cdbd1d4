// Store::Verify and read-only opens: what the admin CLI's `verify`, `inspect`, `list` and
// `stats` do on a store directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::Put;
using testing::SmallOptions;
using testing::TempDir;

StoreOptions ReadOnly() {
  StoreOptions o = SmallOptions();
  o.read_only = true;
  return o;
}

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Open(SmallOptions());
    for (int i = 0; i < 50; ++i) {
      ObjectMeta meta;
      meta.tags = {"t" + std::to_string(i % 5)};
      ASSERT_TRUE(Put(*store_, {Key(i), ""}, Body(i, 1000 + 700 * i), meta).ok());
    }
  }
  void Open(const StoreOptions& o) {
    store_.reset();
    Status s = Store::Open(o, dir(), &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static std::string Key(int i) { return "v.example/obj/" + std::to_string(i); }
  std::string dir() const { return dir_.Sub("s"); }
  ObjectInfo Info(int i) {
    ObjectInfo info;
    EXPECT_TRUE(store_->Lookup({Key(i), ""}, &info).ok());
    return info;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(VerifyTest, CleanStoreVerifiesEveryBodyByte) {
  uint64_t bytes = 0;
  for (int i = 0; i < 50; ++i) bytes += 1000 + 700 * i;
  uint64_t progress_calls = 0;
  VerifyReport report;
  ASSERT_TRUE(store_->Verify({.progress = [&](uint64_t) { ++progress_calls; }}, &report).ok());
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries, 50u);
  EXPECT_EQ(report.verified_bytes, bytes);
  EXPECT_GT(report.referenced_bytes, bytes);  // chunk headers and keys on top
  EXPECT_GE(report.segment_bytes, report.referenced_bytes);
  EXPECT_EQ(report.orphaned_segment_files, 0u);
  EXPECT_TRUE(report.problems.empty());
  EXPECT_EQ(progress_calls, 0u);  // fewer entries than one progress step
}

TEST_F(VerifyTest, CorruptBodyIsReportedAndOnlyRepairDropsIt) {
  const ObjectInfo bad = Info(7);
  store_.reset();
  ASSERT_TRUE(testing::FlipBodyByte(dir(), bad.key, bad.extents[0]));
  Open(SmallOptions());

  VerifyReport report;
  ASSERT_TRUE(store_->Verify({}, &report).ok());
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.corrupt, 1u);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find(Key(7)), std::string::npos) << report.problems[0];
  // Without repair nothing changed: the entry is still indexed (a read would drop it).
  store_->WaitForBackgroundWork();
  ObjectInfo info;
  EXPECT_TRUE(store_->Lookup({Key(7), ""}, &info).ok());

  ASSERT_TRUE(store_->Verify({.repair = true}, &report).ok());
  EXPECT_EQ(report.corrupt, 1u);
  EXPECT_EQ(report.repaired, 1u);
  EXPECT_TRUE(store_->Lookup({Key(7), ""}, &info).IsNotFound());
  std::vector<ObjectInfo> tagged;
  ASSERT_TRUE(store_->List({.tag = "t2"}, &tagged).ok());
  EXPECT_EQ(tagged.size(), 9u);  // the ten objects tagged t2 (i % 5 == 2) but 7

  ASSERT_TRUE(store_->Verify({}, &report).ok());
  EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
  EXPECT_EQ(report.entries, 49u);
}

TEST_F(VerifyTest, EntriesOfAMissingSegmentAreDangling) {
  const ObjectInfo first = Info(0);
  store_.reset();
  ASSERT_EQ(::unlink(testing::SegmentPath(dir(), first.extents[0].segment).c_str()), 0);
  Open(SmallOptions());
  VerifyReport report;
  ASSERT_TRUE(store_->Verify({.repair = true}, &report).ok());
  EXPECT_GE(report.dangling, 1u);
  EXPECT_EQ(report.repaired, report.dangling);
  ASSERT_TRUE(store_->Verify({}, &report).ok());
  EXPECT_TRUE(report.ok());
}

TEST_F(VerifyTest, ReadOnlyOpenReadsEverythingAndChangesNothing) {
  const ObjectInfo bad = Info(3);
  store_.reset();
  ASSERT_TRUE(testing::FlipBodyByte(dir(), bad.key, bad.extents[0]));
  // A leftover file the index does not know (a crash during a segment roll).
  { std::ofstream(testing::SegmentPath(dir(), 999)) << "garbage"; }

  auto snapshot = [this] {
    std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> files;
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir())) {
      if (f.is_regular_file()) files[f.path()] = {f.file_size(), f.last_write_time()};
    }
    return files;
  };
  const auto before = snapshot();

  Open(ReadOnly());
  std::string body;
  ASSERT_TRUE(testing::Get(*store_, {Key(10), ""}, &body).ok());
  EXPECT_EQ(body, Body(10, 1000 + 7000));
  std::vector<ObjectInfo> listed;
  ASSERT_TRUE(store_->List({.prefix = "v.example/obj/1"}, &listed).ok());
  EXPECT_EQ(listed.size(), 11u);  // 1, 10..19
  EXPECT_EQ(store_->Counters().objects, 50u);
  // A bad body is reported, never served, and not dropped.
  EXPECT_TRUE(testing::Get(*store_, {Key(3), ""}, &body).IsCorruption());
  VerifyReport report;
  ASSERT_TRUE(store_->Verify({}, &report).ok());
  EXPECT_EQ(report.corrupt, 1u);
  EXPECT_EQ(report.orphaned_segment_files, 1u);

  ObjectInfo info;
  std::unique_ptr<InsertHandle> insert;
  EXPECT_EQ(store_->BeginInsert({"x", ""}, {}, &insert).code(), Status::Code::kNotSupported);
  EXPECT_EQ(store_->PurgeTag("t1", PurgeMode::kHard, nullptr).code(), Status::Code::kNotSupported);
  EXPECT_EQ(store_->PurgeUrl(Key(1), PurgeMode::kHard, nullptr).code(),
            Status::Code::kNotSupported);
  EXPECT_EQ(store_->Remove({Key(1), ""}).code(), Status::Code::kNotSupported);
  EXPECT_EQ(store_->Verify({.repair = true}, &report).code(), Status::Code::kNotSupported);
  store_->WaitForBackgroundWork();
  store_.reset();
  EXPECT_EQ(snapshot(), before);
}

TEST_F(VerifyTest, ReadOnlyAndWritableOpensExcludeEachOther) {
  std::unique_ptr<Store> reader;
  Status s = Store::Open(ReadOnly(), dir(), &reader);
  EXPECT_EQ(s.code(), Status::Code::kBusy) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(::getpid())), std::string::npos) << s.ToString();

  store_.reset();
  ASSERT_TRUE(Store::Open(ReadOnly(), dir(), &reader).ok());
  std::unique_ptr<Store> second_reader;
  EXPECT_TRUE(Store::Open(ReadOnly(), dir(), &second_reader).ok());
  std::unique_ptr<Store> writer;
  s = Store::Open(SmallOptions(), dir(), &writer);
  EXPECT_EQ(s.code(), Status::Code::kBusy) << s.ToString();
}

TEST_F(VerifyTest, ReadOnlyOpenOfAMissingStoreIsNotFound) {
  std::unique_ptr<Store> reader;
  EXPECT_TRUE(Store::Open(ReadOnly(), dir_.Sub("nothing-here"), &reader).IsNotFound());
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("nothing-here")));
}

TEST_F(VerifyTest, HitsAreCountedPerObject) {
  ObjectInfo info;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->Lookup({Key(1), ""}, &info).ok());
  ASSERT_TRUE(store_->Lookup({Key(2), ""}, &info).ok());
  std::vector<ObjectInfo> variants;
  ASSERT_TRUE(store_->Variants(Key(1), &variants).ok());
  ASSERT_EQ(variants.size(), 1u);
  EXPECT_GE(variants[0].hits, 5u);  // count-min: never under
  EXPECT_LE(variants[0].hits, 6u);
  ASSERT_TRUE(store_->Variants(Key(2), &variants).ok());
  EXPECT_GE(variants[0].hits, 1u);
  std::vector<ObjectInfo> listed;
  ASSERT_TRUE(store_->List({.prefix = Key(1)}, &listed).ok());
  ASSERT_FALSE(listed.empty());
  EXPECT_EQ(listed[0].key.primary, Key(1));
  EXPECT_GE(listed[0].hits, 5u);
}

}  // namespace
}  // namespace edgecache
