// Admission::kProbation: new objects are held in RAM and written only when requested
// again while held (or when their key was dropped recently); purges, replacements and
// metadata refreshes reach held objects as they reach stored ones.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "edgecache/store.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::Put;
using testing::TempDir;

constexpr size_t kSmall = 4000;  // held: below min(chunk_bytes, probation_bytes / 8)

StoreOptions ProbationOptions() {
  StoreOptions o = testing::SmallOptions(4ull << 20);  // four 1 MiB segments
  o.admission = Admission::kProbation;
  o.probation_bytes = 1ull << 20;  // about 230 objects of kSmall bytes
  return o;
}

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Open();
    // Until the segments are full every object is written: fill them.
    for (int i = 0; i < 130; ++i) {
      ASSERT_TRUE(Put(*store_, {"full/" + std::to_string(i), ""}, Body(i, 40000)).ok());
    }
    ASSERT_EQ(store_->Counters().segments, 4u);
    written_ = store_->Counters().written_bytes;
  }
  void Open() { ASSERT_TRUE(Store::Open(ProbationOptions(), dir_.Sub("s"), &store_).ok()); }
  void Reopen() {
    store_.reset();
    Open();
  }
  // Enough new objects, never requested, to push every held object out.
  void PushOut(int round) {
    for (int i = 0; i < 400; ++i) {
      const std::string key = "fill/" + std::to_string(round) + "/" + std::to_string(i);
      ASSERT_TRUE(Put(*store_, {key, ""}, Body(i, kSmall)).ok());
    }
  }
  // Whether the index (not the probation queue) has an entry of `primary`.
  bool Written(const std::string& primary) {
    std::vector<ObjectInfo> variants;
    EXPECT_TRUE(store_->Variants(primary, &variants).ok());
    return !variants.empty();
  }
  Status Get(const std::string& primary, std::string* body, ObjectInfo* info = nullptr) {
    return testing::Get(*store_, {primary, ""}, body, info);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  uint64_t written_ = 0;  // bytes written to fill the segments
};

TEST_F(AdmissionTest, ObjectsRequestedOnceAreServedButNeverWritten) {
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(Put(*store_, {"once/" + std::to_string(i), ""}, Body(i, kSmall)).ok());
  }
  StoreCounters c = store_->Counters();
  EXPECT_EQ(c.written_bytes, written_) << "nothing requested twice was written";
  EXPECT_GT(c.not_admitted, 300u);
  EXPECT_GT(c.probation_objects, 100u);
  EXPECT_LE(c.probation_bytes, 1u << 20);
  // The newest is served from probation; the oldest were pushed out: a miss.
  std::string body;
  ASSERT_TRUE(Get("once/599", &body).ok());
  EXPECT_EQ(body, Body(599, kSmall));
  EXPECT_FALSE(Written("once/599"));
  EXPECT_TRUE(Get("once/1", &body).IsNotFound());

  Reopen();  // held objects do not survive the store
  EXPECT_TRUE(Get("once/599", &body).IsNotFound());
}

TEST_F(AdmissionTest, AnObjectRequestedAgainWhileHeldIsWrittenWhenPushedOut) {
  ASSERT_TRUE(Put(*store_, {"hot", ""}, Body(7, kSmall)).ok());
  std::string body;
  ObjectInfo held;
  ASSERT_TRUE(Get("hot", &body, &held).ok());
  EXPECT_EQ(body, Body(7, kSmall));
  EXPECT_FALSE(Written("hot"));
  PushOut(0);
  EXPECT_EQ(store_->Counters().promoted, 1u);

  // A read through the entry looked up while it was held finds the written copy.
  for (int i = 0; i < 500 && !Written("hot"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(Written("hot"));
  ASSERT_TRUE(store_->Read(held, &body).ok());
  EXPECT_EQ(body, Body(7, kSmall));

  Reopen();  // written objects are stored like any other, with the version of their insert
  ObjectInfo stored;
  ASSERT_TRUE(Get("hot", &body, &stored).ok());
  EXPECT_EQ(body, Body(7, kSmall));
  EXPECT_EQ(stored.body_version, held.body_version);
}

TEST_F(AdmissionTest, AKeyDroppedRecentlyIsWrittenAtOnce) {
  ASSERT_TRUE(Put(*store_, {"again", ""}, Body(1, kSmall)).ok());
  PushOut(0);
  std::string body;
  ASSERT_TRUE(Get("again", &body).IsNotFound());
  ASSERT_TRUE(Put(*store_, {"again", ""}, Body(2, kSmall)).ok());
  EXPECT_TRUE(Written("again")) << "its key was in the ghost list";
  ASSERT_TRUE(Get("again", &body).ok());
  EXPECT_EQ(body, Body(2, kSmall));
  ASSERT_TRUE(Put(*store_, {"new", ""}, Body(3, kSmall)).ok());
  EXPECT_FALSE(Written("new"));
}

TEST_F(AdmissionTest, LargeBodiesAndVariantsAreWrittenAtOnce) {
  const std::string large = Body(4, 40000);  // more than one 16 KiB chunk
  ASSERT_TRUE(Put(*store_, {"large", ""}, large).ok());
  EXPECT_TRUE(Written("large"));
  ObjectMeta varies;
  varies.vary = {"accept-encoding"};
  ASSERT_TRUE(Put(*store_, {"varies", "accept-encoding=gzip"}, Body(5, kSmall), varies).ok());
  EXPECT_TRUE(Written("varies"));
  std::string body;
  ASSERT_TRUE(Get("large", &body).ok());
  EXPECT_EQ(body, large);
}

TEST_F(AdmissionTest, UrlPurgesReachHeldObjects) {
  ASSERT_TRUE(Put(*store_, {"hard", ""}, Body(1, kSmall)).ok());
  ASSERT_TRUE(Put(*store_, {"soft", ""}, Body(2, kSmall)).ok());
  std::string body;
  ASSERT_TRUE(Get("hard", &body).ok());  // requested again: would be written
  ASSERT_TRUE(Get("soft", &body).ok());
  uint64_t affected = 0;
  ASSERT_TRUE(store_->PurgeUrl("hard", PurgeMode::kHard, &affected).ok());
  EXPECT_EQ(affected, 1u);
  ASSERT_TRUE(store_->PurgeUrl("soft", PurgeMode::kSoft, &affected).ok());
  EXPECT_EQ(affected, 1u);
  EXPECT_TRUE(Get("hard", &body).IsNotFound());
  ObjectInfo info;
  ASSERT_TRUE(Get("soft", &body, &info).ok());
  EXPECT_TRUE(info.invalidated);

  PushOut(0);
  Reopen();
  EXPECT_TRUE(Get("hard", &body).IsNotFound()) << "a purged held object was written";
  ASSERT_TRUE(Get("soft", &body, &info).ok());
  EXPECT_TRUE(info.invalidated) << "written without its soft purge";
}

TEST_F(AdmissionTest, TagPurgesReachHeldObjectsEvenAfterTheirCleanup) {
  ObjectMeta tagged;
  tagged.tags = {"t"};
  ObjectMeta soft;
  soft.tags = {"s"};
  ASSERT_TRUE(Put(*store_, {"tagged", ""}, Body(1, kSmall), tagged).ok());
  ASSERT_TRUE(Put(*store_, {"soft", ""}, Body(2, kSmall), soft).ok());
  std::string body;
  ASSERT_TRUE(Get("tagged", &body).ok());
  ASSERT_TRUE(Get("soft", &body).ok());
  ASSERT_TRUE(store_->PurgeTag("t", PurgeMode::kHard, nullptr).ok());
  ASSERT_TRUE(store_->PurgeTag("s", PurgeMode::kSoft, nullptr).ok());
  EXPECT_TRUE(Get("tagged", &body).IsNotFound());
  ObjectInfo info;
  ASSERT_TRUE(Get("soft", &body, &info).ok());
  EXPECT_TRUE(info.invalidated);
  // The rules' cleanups run and they would be retired, but for the held inserts.
  store_->WaitForBackgroundWork();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  PushOut(0);
  Reopen();
  EXPECT_TRUE(Get("tagged", &body).IsNotFound()) << "a purged held object was written";
  ASSERT_TRUE(Get("soft", &body, &info).ok());
  EXPECT_TRUE(info.invalidated);
}

TEST_F(AdmissionTest, ANewerObjectReplacesAHeldOne) {
  ASSERT_TRUE(Put(*store_, {"k", ""}, Body(1, kSmall)).ok());
  std::string body;
  ASSERT_TRUE(Get("k", &body).ok());         // requested: it would be written when pushed out
  const std::string newer = Body(2, 40000);  // written at once
  ASSERT_TRUE(Put(*store_, {"k", ""}, newer).ok());
  ASSERT_TRUE(Get("k", &body).ok());
  EXPECT_EQ(body, newer);
  PushOut(0);
  Reopen();
  ASSERT_TRUE(Get("k", &body).ok());
  EXPECT_EQ(body, newer) << "the older held object was written over the newer one";

  // A held object replaces a held one.
  ASSERT_TRUE(Put(*store_, {"h", ""}, Body(3, kSmall)).ok());
  ASSERT_TRUE(Put(*store_, {"h", ""}, Body(4, kSmall)).ok());
  ASSERT_TRUE(Get("h", &body).ok());
  EXPECT_EQ(body, Body(4, kSmall));
  // Remove reaches a held object.
  ASSERT_TRUE(store_->Remove({"h", ""}).ok());
  EXPECT_TRUE(Get("h", &body).IsNotFound());
}

TEST_F(AdmissionTest, UpdateMetaRefreshesAHeldObjectAndWhatIsWritten) {
  ASSERT_TRUE(Put(*store_, {"k", ""}, Body(1, kSmall)).ok());
  std::string body;
  ObjectInfo info;
  ASSERT_TRUE(Get("k", &body, &info).ok());
  ObjectMeta fresh;
  fresh.etag = "\"v2\"";
  ASSERT_TRUE(store_->UpdateMeta({"k", ""}, info.version, fresh).ok());
  EXPECT_TRUE(store_->UpdateMeta({"k", ""}, info.version, fresh).IsAborted());
  ObjectInfo updated;
  ASSERT_TRUE(Get("k", &body, &updated).ok());
  EXPECT_EQ(updated.meta.etag, "\"v2\"");
  EXPECT_GT(updated.version, info.version);
  EXPECT_EQ(body, Body(1, kSmall));

  PushOut(0);
  Reopen();
  ASSERT_TRUE(Get("k", &body, &updated).ok());
  EXPECT_EQ(updated.meta.etag, "\"v2\"");
}

TEST_F(AdmissionTest, AReadOfAnObjectNoLongerHeldIsNotFound) {
  ASSERT_TRUE(Put(*store_, {"k", ""}, Body(1, kSmall)).ok());
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"k", ""}, &info).ok());
  ASSERT_TRUE(store_->Remove({"k", ""}).ok());
  std::string body;
  EXPECT_TRUE(store_->Read(info, &body).IsNotFound());
}

TEST(AdmissionOptionsTest, UntilTheSegmentsAreFullEveryObjectIsWritten) {
  TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(ProbationOptions(), dir.Sub("s"), &store).ok());
  ASSERT_TRUE(Put(*store, {"first", ""}, Body(1, kSmall)).ok());
  std::vector<ObjectInfo> variants;
  ASSERT_TRUE(store->Variants("first", &variants).ok());
  EXPECT_EQ(variants.size(), 1u);
  EXPECT_EQ(store->Counters().probation_objects, 0u);
}

TEST(AdmissionOptionsTest, ProbationNeedsAtLeastOneMebibyte) {
  StoreOptions o = testing::SmallOptions();
  o.admission = Admission::kProbation;
  o.probation_bytes = 1000;
  Status s = o.Validate();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("probation_bytes"), std::string::npos);
}

}  // namespace
}  // namespace edgecache
