// The engine's units on their own, below Store: the RAM cache, the hit tracker, the purge
// rules and background threads' short scheduler slices (Store-level behaviour is in
// store_test.cc and purge_test.cc; the index and segment units have their own files).
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/hit_tracker.h"
#include "cache/ram_cache.h"
#include "edgecache/thread_name.h"
#include "purge/purge_rules.h"
#include "short_slice.h"
#include "support/process.h"

namespace edgecache {
namespace {

std::shared_ptr<const std::string> Record(size_t size, char fill) {
  return std::make_shared<const std::string>(size, fill);
}

TEST(RamCacheTest, KeepsRecordsBySegmentAndOffsetWithinItsCapacity) {
  cache::RamCache ram(1 << 20);
  ram.Put(1, 0, Record(1000, 'a'));
  ram.Put(1, 4096, Record(1000, 'b'));
  ram.Put(2, 0, Record(1000, 'c'));
  ASSERT_TRUE(ram.Get(1, 0));
  EXPECT_EQ(*ram.Get(1, 0), std::string(1000, 'a'));
  EXPECT_EQ(*ram.Get(1, 4096), std::string(1000, 'b'));
  EXPECT_EQ(*ram.Get(2, 0), std::string(1000, 'c'));
  EXPECT_FALSE(ram.Get(3, 0));
  EXPECT_FALSE(ram.Get(1, 8192));
  // Far more than fits: usage stays near the capacity, and the newest record is there.
  for (uint32_t i = 0; i < 4000; ++i) ram.Put(10, i * 4096, Record(1000, 'x'));
  EXPECT_LE(ram.usage(), (1u << 20) + (1u << 20) / 4);  // sharding may overshoot a little
  EXPECT_TRUE(ram.Get(10, 3999 * 4096));
}

TEST(RamCacheTest, ZeroCapacityKeepsNothing) {
  cache::RamCache off(0);
  off.Put(1, 0, Record(10, 'a'));
  EXPECT_FALSE(off.Get(1, 0));
  EXPECT_EQ(off.usage(), 0u);
}

TEST(RamCacheTest, TheLeastRecentlyUsedRecordGoesFirst) {
  // 64 shards of 64 KiB: a shard holds a handful of 10 KiB records.
  cache::RamCache ram(64 * (64u << 10));
  ram.Put(1, 0, Record(10000, 'a'));
  // Touch the first record between inserts: it stays however many others come and go.
  for (uint32_t i = 1; i < 2000; ++i) {
    ram.Put(1, i * 16384, Record(10000, 'b'));
    ASSERT_TRUE(ram.Get(1, 0)) << i;
  }
  // Replacing a record keeps one copy and its charge once.
  const uint64_t before = ram.usage();
  ram.Put(1, 0, Record(10000, 'c'));
  EXPECT_EQ(*ram.Get(1, 0), std::string(10000, 'c'));
  EXPECT_EQ(ram.usage(), before);
  // A record larger than a shard is not kept.
  ram.Put(2, 0, Record(100000, 'd'));
  EXPECT_FALSE(ram.Get(2, 0));
}

TEST(HitTrackerTest, AHitIsTakenOnce) {
  cache::HitTracker hits;
  EXPECT_FALSE(hits.TakeHit("a"));
  hits.Hit("a");
  hits.Hit("a");
  EXPECT_TRUE(hits.TakeHit("a"));
  EXPECT_FALSE(hits.TakeHit("a"));
  hits.Hit("a");
  EXPECT_TRUE(hits.TakeHit("a"));
}

TEST(HitTrackerTest, TheSketchNeverUnderCountsAndRarelyOverCounts) {
  cache::HitTracker hits;
  // 20,000 keys, key i hit i % 50 times: 490,000 hits in a 4 x 2^18 sketch.
  for (int i = 0; i < 20000; ++i) {
    for (int n = 0; n < i % 50; ++n) hits.Hit("key-" + std::to_string(i));
  }
  int exact = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t estimate = hits.EstimateHits("key-" + std::to_string(i));
    ASSERT_GE(estimate, static_cast<uint64_t>(i % 50)) << i;
    exact += estimate == static_cast<uint64_t>(i % 50);
  }
  EXPECT_GT(exact, 19000);
  EXPECT_EQ(hits.EstimateHits("never-hit"), 0u);
  // Taking the hit bit leaves the count alone.
  EXPECT_TRUE(hits.TakeHit("key-49"));
  EXPECT_EQ(hits.EstimateHits("key-49"), 49u);
}

ObjectInfo Object(std::string primary, uint64_t version, std::vector<std::string> tags) {
  ObjectInfo info;
  info.key.primary = std::move(primary);
  info.version = version;
  info.meta.tags = std::move(tags);
  return info;
}

TEST(PurgeRulesTest, ARuleCoversOlderVersionsOfItsTagOrPrefixOnly) {
  purge::PurgeRules rules;
  EXPECT_TRUE(rules.Snapshot()->empty());
  rules.Install(
      {{.seq = 10, .kind = purge::Rule::Kind::kTag, .mode = PurgeMode::kHard, .value = "product-1"},
       {.seq = 20,
        .kind = purge::Rule::Kind::kPrefix,
        .mode = PurgeMode::kSoft,
        .value = "shop.example/img/"}});
  auto set = rules.Snapshot();
  EXPECT_EQ(set->size(), 2u);
  using purge::Verdict;
  EXPECT_EQ(set->Apply(Object("a/x", 9, {"product-1"})), Verdict::kGone);
  EXPECT_EQ(set->Apply(Object("a/x", 10, {"product-1"})), Verdict::kKeep);  // stored after
  EXPECT_EQ(set->Apply(Object("a/x", 9, {"product-2"})), Verdict::kKeep);
  EXPECT_EQ(set->Apply(Object("shop.example/img/1.png", 19, {})), Verdict::kStale);
  EXPECT_EQ(set->Apply(Object("shop.example/css/1.css", 19, {})), Verdict::kKeep);
  // Both apply: the harder verdict wins.
  EXPECT_EQ(set->Apply(Object("shop.example/img/2.png", 5, {"product-1"})), Verdict::kGone);

  // A snapshot taken before a change keeps what it saw; later ones see the change.
  rules.Remove(10);
  EXPECT_EQ(set->Apply(Object("a/x", 9, {"product-1"})), Verdict::kGone);
  EXPECT_EQ(rules.Snapshot()->Apply(Object("a/x", 9, {"product-1"})), Verdict::kKeep);
  EXPECT_EQ(rules.Snapshot()->size(), 1u);
}

TEST(PurgeRulesTest, RulesRoundTripThroughTheirStoredFormAndGarbageIsCorruption) {
  const purge::Rule rule{
      .seq = 7, .kind = purge::Rule::Kind::kPrefix, .mode = PurgeMode::kSoft, .value = "host/path"};
  purge::Rule back;
  ASSERT_TRUE(purge::DecodeRule(7, purge::EncodeRule(rule), &back).ok());
  EXPECT_EQ(back.seq, 7u);
  EXPECT_EQ(back.kind, rule.kind);
  EXPECT_EQ(back.mode, rule.mode);
  EXPECT_EQ(back.value, rule.value);
  for (const std::string bad : {"", "T", "XH", "TX"}) {
    EXPECT_TRUE(purge::DecodeRule(1, bad, &back).IsCorruption()) << bad;
  }
}

// A background thread asks for short scheduler slices and keeps its own nice value; other
// threads keep theirs, and a thread under another policy than the fair one is left alone.
TEST(ShortSliceTest, OnlyTheCallingFairThreadTakesShortSlicesAtItsOwnNiceValue) {
  if (!testing::KernelHasCustomSlices()) GTEST_SKIP() << "custom slices need Linux 6.12";
  const uint64_t short_slice = std::chrono::nanoseconds(kBackgroundSlice).count();
  bool took = false;
  int lowered = 0, nice = 0;
  std::vector<uint64_t> slices, bystander_slices;
  std::thread background([&] {
    NameThisThread("ec-slice-test");
    const id_t self = static_cast<id_t>(::gettid());
    lowered = std::min(::getpriority(PRIO_PROCESS, self) + 5, 19);
    ASSERT_EQ(::setpriority(PRIO_PROCESS, self, lowered), 0);  // lowering needs no privilege
    took = UseShortSlice();
    nice = ::getpriority(PRIO_PROCESS, self);
    slices = testing::ThreadSlices("self", "ec-slice-test");
  });
  background.join();
  EXPECT_TRUE(took);
  EXPECT_EQ(nice, lowered);
  EXPECT_EQ(slices, std::vector<uint64_t>{short_slice});
  // This thread never asked: its slice is the kernel's default.
  std::thread bystander([&] {
    NameThisThread("ec-slice-other");
    bystander_slices = testing::ThreadSlices("self", "ec-slice-other");
  });
  bystander.join();
  ASSERT_EQ(bystander_slices.size(), 1u);
  EXPECT_NE(bystander_slices[0], short_slice);

  bool idle_took = true;
  int policy = -1;
  std::thread idle([&] {
    sched_param param{};
    ASSERT_EQ(pthread_setschedparam(pthread_self(), SCHED_IDLE, &param), 0);
    idle_took = UseShortSlice();
    pthread_getschedparam(pthread_self(), &policy, &param);
  });
  idle.join();
  EXPECT_FALSE(idle_took);
  EXPECT_EQ(policy, SCHED_IDLE);
}

}  // namespace
}  // namespace edgecache
