// Purges by URL, tag and prefix: immediate effect, hard and soft, durability, and the race
// with inserts that were in flight when the purge happened.
#include <gtest/gtest.h>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::Put;
using testing::SmallOptions;
using testing::TempDir;

class PurgeTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    ASSERT_TRUE(Store::Open(SmallOptions(), dir_.Sub("s"), &store_).ok());
  }
  void PutTagged(const std::string& key, std::vector<std::string> tags, uint64_t seed = 1) {
    ObjectMeta meta;
    meta.tags = std::move(tags);
    meta.etag = "\"" + std::to_string(seed) + "\"";
    ASSERT_TRUE(Put(*store_, {key, ""}, Body(seed, 2000), meta).ok());
  }
  bool Has(const std::string& key, bool* invalidated = nullptr) {
    ObjectInfo info;
    Status s = store_->Lookup({key, ""}, &info);
    if (invalidated) *invalidated = s.ok() && info.invalidated;
    return s.ok();
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(PurgeTest, HardTagPurgeTakesEffectBeforeItReturns) {
  for (int i = 0; i < 2000; ++i)
    PutTagged("s/" + std::to_string(i), {i % 2 ? "odd" : "even", "all"});
  PutTagged("s/untagged", {});
  uint64_t affected = 0;
  ASSERT_TRUE(store_->PurgeTag("odd", PurgeMode::kHard, &affected).ok());
  EXPECT_EQ(affected, 1000u);
  // No waiting for the background: every covered object misses at once.
  for (int i = 0; i < 2000; ++i) EXPECT_EQ(Has("s/" + std::to_string(i)), i % 2 == 0) << i;
  EXPECT_TRUE(Has("s/untagged"));

  store_->WaitForBackgroundWork();
  StoreCounters c = store_->Counters();
  EXPECT_EQ(c.objects, 1001u);
  EXPECT_EQ(c.purged_objects, 1000u);
  std::vector<ObjectInfo> listed;
  ASSERT_TRUE(store_->List({.tag = "odd"}, &listed).ok());
  EXPECT_TRUE(listed.empty());
  ASSERT_TRUE(store_->List({.tag = "all"}, &listed).ok());
  EXPECT_EQ(listed.size(), 1000u);
}

TEST_F(PurgeTest, ObjectsStoredAfterThePurgeAreServed) {
  PutTagged("s/a", {"t"});
  ASSERT_TRUE(store_->PurgeTag("t", PurgeMode::kHard, nullptr).ok());
  EXPECT_FALSE(Has("s/a"));
  PutTagged("s/a", {"t"}, 2);  // before the background cleanup has necessarily run
  EXPECT_TRUE(Has("s/a"));
  store_->WaitForBackgroundWork();
  EXPECT_TRUE(Has("s/a"));
}

TEST_F(PurgeTest, SoftTagPurgeMarksStaleUntilRevalidated) {
  PutTagged("s/a", {"t"});
  PutTagged("s/b", {"other"});
  ASSERT_TRUE(store_->PurgeTag("t", PurgeMode::kSoft, nullptr).ok());
  bool stale = false;
  ASSERT_TRUE(Has("s/a", &stale));
  EXPECT_TRUE(stale);
  ASSERT_TRUE(Has("s/b", &stale));
  EXPECT_FALSE(stale);

  // A revalidation (304) refreshes the metadata and clears the mark.
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"s/a", ""}, &info).ok());
  ASSERT_TRUE(store_->UpdateMeta({"s/a", ""}, info.version, info.meta).ok());
  ASSERT_TRUE(Has("s/a", &stale));
  EXPECT_FALSE(stale);

  // Persisted by the background cleanup too.
  PutTagged("s/c", {"t2"});
  ASSERT_TRUE(store_->PurgeTag("t2", PurgeMode::kSoft, nullptr).ok());
  store_->WaitForBackgroundWork();
  Reopen();
  ASSERT_TRUE(Has("s/c", &stale));
  EXPECT_TRUE(stale);
}

TEST_F(PurgeTest, PrefixPurgeHardAndSoft) {
  PutTagged("site/a/1", {});
  PutTagged("site/a/2", {});
  PutTagged("site/b/1", {});
  uint64_t affected = 0;
  ASSERT_TRUE(store_->PurgePrefix("site/a/", PurgeMode::kHard, &affected).ok());
  EXPECT_EQ(affected, 2u);
  EXPECT_FALSE(Has("site/a/1"));
  EXPECT_FALSE(Has("site/a/2"));
  EXPECT_TRUE(Has("site/b/1"));
  // Counted under the purges before it: the two objects already gone are not counted again.
  ASSERT_TRUE(store_->PurgePrefix("site/", PurgeMode::kSoft, &affected).ok());
  EXPECT_EQ(affected, 1u);
  bool stale = false;
  ASSERT_TRUE(Has("site/b/1", &stale));
  EXPECT_TRUE(stale);
  store_->WaitForBackgroundWork();
  EXPECT_EQ(store_->Counters().objects, 1u);
}

TEST_F(PurgeTest, UrlListPurgeIsOneDurableCall) {
  for (int i = 0; i < 5; ++i) PutTagged("list/" + std::to_string(i), {});
  ASSERT_TRUE(Put(*store_, {"list/0", "v=2"}, "variant").ok());
  std::vector<uint64_t> counts;
  // A malformed key anywhere in the list: nothing is purged.
  EXPECT_EQ(
      store_->PurgeUrls({"list/0", std::string("bad\0key", 7)}, PurgeMode::kHard, &counts).code(),
      Status::Code::kInvalidArgument);
  EXPECT_TRUE(Has("list/0"));
  ASSERT_TRUE(store_->PurgeUrls({"list/0", "list/3", "list/none"}, PurgeMode::kHard, &counts).ok());
  EXPECT_EQ(counts, (std::vector<uint64_t>{2, 1, 0}));
  Reopen();  // durable when it returned
  EXPECT_FALSE(Has("list/0"));
  EXPECT_FALSE(Has("list/3"));
  EXPECT_TRUE(Has("list/1"));
  EXPECT_TRUE(Has("list/4"));
}

TEST_F(PurgeTest, UrlPurgeSoftKeepsBodyAndCounts) {
  PutTagged("s/u", {});
  uint64_t affected = 0;
  ASSERT_TRUE(store_->PurgeUrl("s/u", PurgeMode::kSoft, &affected).ok());
  EXPECT_EQ(affected, 1u);
  bool stale = false;
  ASSERT_TRUE(Has("s/u", &stale));
  EXPECT_TRUE(stale);
  ASSERT_TRUE(store_->PurgeUrl("s/u", PurgeMode::kHard, &affected).ok());
  EXPECT_EQ(affected, 1u);
  EXPECT_FALSE(Has("s/u"));
  ASSERT_TRUE(store_->PurgeUrl("s/none", PurgeMode::kHard, &affected).ok());
  EXPECT_EQ(affected, 0u);
}

TEST_F(PurgeTest, LoggedPurgesRecordTheirPositionWithThem) {
  std::string position;
  ASSERT_TRUE(store_->LogPosition("pop", &position).ok());
  EXPECT_EQ(position, "");  // never applied
  for (int i = 0; i < 6; ++i) PutTagged("l/" + std::to_string(i), {i % 2 ? "odd" : "even"});
  ASSERT_TRUE(store_
                  ->ApplyLoggedPurges("pop", "10-0",
                                      {{LoggedPurge::Kind::kTags, {"odd"}, PurgeMode::kHard}})
                  .ok());
  // Several purges of every kind, with one position for all of them.
  ASSERT_TRUE(store_
                  ->ApplyLoggedPurges("pop", "12-0",
                                      {{LoggedPurge::Kind::kUrls, {"l/0"}, PurgeMode::kSoft},
                                       {LoggedPurge::Kind::kPrefixes, {"l/2"}, PurgeMode::kHard},
                                       {LoggedPurge::Kind::kUrls, {"l/4"}, PurgeMode::kHard}})
                  .ok());
  // A position only (an entry the node skips), and another log's position kept apart.
  ASSERT_TRUE(store_->ApplyLoggedPurges("pop", "13-0", {}).ok());
  ASSERT_TRUE(store_->ApplyLoggedPurges("other", "3-0", {{LoggedPurge::Kind::kTags, {}}}).ok());
  // A malformed value anywhere: nothing purged, the position unchanged.
  EXPECT_EQ(store_
                ->ApplyLoggedPurges(
                    "pop", "14-0",
                    {{LoggedPurge::Kind::kPrefixes, {"l/"}}, {LoggedPurge::Kind::kTags, {""}}})
                .code(),
            Status::Code::kInvalidArgument);
  Reopen();
  ASSERT_TRUE(store_->LogPosition("pop", &position).ok());
  EXPECT_EQ(position, "13-0");
  ASSERT_TRUE(store_->LogPosition("other", &position).ok());
  EXPECT_EQ(position, "3-0");
  bool stale = false;
  EXPECT_TRUE(Has("l/0", &stale));
  EXPECT_TRUE(stale);
  EXPECT_FALSE(Has("l/1"));
  EXPECT_FALSE(Has("l/2"));
  EXPECT_FALSE(Has("l/4"));
  EXPECT_FALSE(Has("l/5"));                            // odd
  ASSERT_TRUE(Put(*store_, {"l/2", ""}, "new").ok());  // stored after the purge: served
  EXPECT_TRUE(Has("l/2"));
}

TEST_F(PurgeTest, PurgeIsDurableEvenIfClosedBeforeCleanup) {
  for (int i = 0; i < 3000; ++i) PutTagged("d/" + std::to_string(i), {"gone"});
  PutTagged("d/keep", {"kept"});
  ASSERT_TRUE(store_->PurgeTag("gone", PurgeMode::kHard, nullptr).ok());
  Reopen();  // the cleanup may have been cut short; the recorded rule still holds
  for (int i = 0; i < 3000; i += 97) EXPECT_FALSE(Has("d/" + std::to_string(i))) << i;
  EXPECT_TRUE(Has("d/keep"));
  store_->WaitForBackgroundWork();
  EXPECT_EQ(store_->Counters().objects, 1u);
}

TEST_F(PurgeTest, InsertInFlightDuringHardPurgeIsNotPublished) {
  ObjectMeta meta;
  meta.tags = {"deploy"};
  std::unique_ptr<InsertHandle> tag_insert, url_insert, prefix_insert;
  ASSERT_TRUE(store_->BeginInsert({"f/tag", ""}, meta, &tag_insert).ok());
  ASSERT_TRUE(store_->BeginInsert({"f/url", ""}, {}, &url_insert).ok());
  ASSERT_TRUE(store_->BeginInsert({"p/x", ""}, {}, &prefix_insert).ok());
  for (auto* h : {&tag_insert, &url_insert, &prefix_insert}) {
    ASSERT_TRUE((*h)->Append(Body(3, 40000)).ok());
  }
  ASSERT_TRUE(store_->PurgeTag("deploy", PurgeMode::kHard, nullptr).ok());
  ASSERT_TRUE(store_->PurgeUrl("f/url", PurgeMode::kHard, nullptr).ok());
  ASSERT_TRUE(store_->PurgePrefix("p/", PurgeMode::kHard, nullptr).ok());
  store_->WaitForBackgroundWork();  // cleanup done, rules wait for these inserts
  EXPECT_TRUE(tag_insert->Commit().IsAborted());
  EXPECT_TRUE(url_insert->Commit().IsAborted());
  EXPECT_TRUE(prefix_insert->Commit().IsAborted());
  EXPECT_FALSE(Has("f/tag"));
  EXPECT_FALSE(Has("f/url"));
  EXPECT_FALSE(Has("p/x"));
}

TEST_F(PurgeTest, InsertInFlightDuringSoftPurgeIsStoredStale) {
  ObjectMeta meta;
  meta.tags = {"deploy"};
  std::unique_ptr<InsertHandle> insert;
  ASSERT_TRUE(store_->BeginInsert({"f/soft", ""}, meta, &insert).ok());
  ASSERT_TRUE(insert->Append("old body").ok());
  ASSERT_TRUE(store_->PurgeTag("deploy", PurgeMode::kSoft, nullptr).ok());
  ASSERT_TRUE(insert->Commit().ok());
  bool stale = false;
  ASSERT_TRUE(Has("f/soft", &stale));
  EXPECT_TRUE(stale);
}

TEST_F(PurgeTest, UpdateMetaOfAHardPurgedObjectIsNotFound) {
  PutTagged("s/r", {"t"});
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"s/r", ""}, &info).ok());
  ASSERT_TRUE(store_->PurgeTag("t", PurgeMode::kHard, nullptr).ok());
  EXPECT_TRUE(store_->UpdateMeta({"s/r", ""}, info.version, info.meta).IsNotFound());
  EXPECT_FALSE(Has("s/r"));
}

}  // namespace
}  // namespace edgecache
