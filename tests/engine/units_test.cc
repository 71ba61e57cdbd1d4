// The engine's units on their own, below Store: the RAM cache and its arena, the hit
// tracker, the purge rules and background threads' short scheduler slices (Store-level
// behaviour is in store_test.cc and purge_test.cc; the index and segment units have their
// own files).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cache/hit_tracker.h"
#include "cache/ram_cache.h"
#include "cache/record_arena.h"
#include "edgecache/thread_name.h"
#include "purge/purge_rules.h"
#include "short_slice.h"
#include "support/process.h"

namespace edgecache {
namespace {

cache::HeldRecord Record(size_t size, char fill) {
  return cache::RamCache::InString(std::make_shared<const std::string>(size, fill));
}

TEST(RamCacheTest, KeepsRecordsBySegmentAndOffsetWithinItsCapacity) {
  cache::RamCache ram(1 << 20);
  ram.Put(1, 0, Record(1000, 'a'));
  ram.Put(1, 4096, Record(1000, 'b'));
  ram.Put(2, 0, Record(1000, 'c'));
  ASSERT_TRUE(ram.Get(1, 0));
  EXPECT_EQ(ram.Get(1, 0).bytes, std::string(1000, 'a'));
  EXPECT_EQ(ram.Get(1, 4096).bytes, std::string(1000, 'b'));
  EXPECT_EQ(ram.Get(2, 0).bytes, std::string(1000, 'c'));
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
  EXPECT_EQ(ram.Get(1, 0).bytes, std::string(10000, 'c'));
  EXPECT_EQ(ram.usage(), before);
  // A record larger than a shard is not kept.
  ram.Put(2, 0, Record(100000, 'd'));
  EXPECT_FALSE(ram.Get(2, 0));
}

// Large records live in the arena: page-rounded, zero-filled, and the same bytes as the
// arena file's at the region's offset (what a sender hands to sendfile).
TEST(RecordArenaTest, ARegionIsZeroFilledWholePagesAndItsBytesAreTheFiles) {
  std::unique_ptr<cache::RecordArena> arena = cache::RecordArena::Create(1 << 20);
  ASSERT_NE(arena, nullptr);
  std::shared_ptr<const cache::ArenaRegion> region = arena->Allocate(70000);
  ASSERT_NE(region, nullptr);
  EXPECT_EQ(region->size, 73728u);  // 18 pages
  EXPECT_EQ(region->file_offset % 4096, 0u);
  EXPECT_EQ(std::string_view(region->data, region->size), std::string(region->size, '\0'));
  std::memset(region->data, 'r', 70000);
  std::string from_file(70000, '\0');
  ASSERT_EQ(::pread(region->fd, from_file.data(), from_file.size(),
                    static_cast<off_t>(region->file_offset)),
            70000);
  EXPECT_EQ(from_file, std::string(70000, 'r'));
  EXPECT_EQ(arena->allocated_bytes(), 73728u);
  region.reset();
  EXPECT_EQ(arena->allocated_bytes(), 0u);
}

// The arena's mapping asks for 4 KiB pages (MADV_NOHUGEPAGE: "nh" among its VmFlags), so
// a host that gives shared memory huge pages cannot give them to it: taking a freed region
// out of a huge page zeroes it in place, pages a socket still sends included
// (PagesASocketStillHoldsKeepTheirBytesWhenTheSpaceIsReused, below, receives zeros without
// the mark under shmem_enabled = always, within_size or force).
TEST(RecordArenaTest, TheArenaAsksForSmallPagesWhateverTheHostGivesSharedMemory) {
  std::unique_ptr<cache::RecordArena> arena = cache::RecordArena::Create(1 << 20);
  ASSERT_NE(arena, nullptr);
  std::shared_ptr<const cache::ArenaRegion> region = arena->Allocate(64 << 10);
  ASSERT_NE(region, nullptr);
  const auto at = reinterpret_cast<uintptr_t>(region->data);
  std::ifstream smaps("/proc/self/smaps");
  bool in_arena = false;
  std::string flags;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &from, &to) == 2) {  // a mapping's first line
      in_arena = from <= at && at < to;
    } else if (in_arena && line.starts_with("VmFlags:")) {
      flags = line + " ";
      break;
    }
  }
  ASSERT_FALSE(flags.empty()) << "no mapping holds the region";
  EXPECT_NE(flags.find(" nh "), std::string::npos) << flags;
  EXPECT_EQ(flags.find(" hg "), std::string::npos) << flags;
}

// Twice the budget is reserved; beyond what is free, Allocate says no (the caller keeps the
// record in a string), and freed space, coalesced, serves a larger region again.
TEST(RecordArenaTest, FreedRegionsAreReusedAndAFullArenaSaysNo) {
  std::unique_ptr<cache::RecordArena> arena = cache::RecordArena::Create(1 << 20);
  ASSERT_NE(arena, nullptr);
  std::vector<std::shared_ptr<const cache::ArenaRegion>> held;
  while (auto region = arena->Allocate(256 << 10)) held.push_back(std::move(region));
  EXPECT_EQ(held.size(), 8u);  // 2 MiB reserved for a 1 MiB budget
  EXPECT_EQ(arena->Allocate(4096), nullptr);
  held[3].reset();
  held[4].reset();
  std::shared_ptr<const cache::ArenaRegion> big = arena->Allocate(512 << 10);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->file_offset, 3u * (256 << 10));
  EXPECT_EQ(std::string_view(big->data, big->size), std::string(big->size, '\0'));
}

// The guarantee the sendfile path rests on: a socket that took a region's pages keeps
// their bytes after the region is freed and its space given to a new record. A sender on
// loopback hands 64 KiB to the kernel, the receiver does not read yet, the region is freed
// and the next one (the same offset) is written: the receiver still gets the first bytes.
TEST(RecordArenaTest, PagesASocketStillHoldsKeepTheirBytesWhenTheSpaceIsReused) {
  std::unique_ptr<cache::RecordArena> arena = cache::RecordArena::Create(1 << 20);
  ASSERT_NE(arena, nullptr);
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int big = 1 << 20;
  ASSERT_EQ(::setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  const int sender = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  ASSERT_EQ(::setsockopt(sender, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)), 0);
  ASSERT_TRUE(::connect(sender, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ||
              errno == EINPROGRESS);
  const int receiver = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(receiver, 0);

  constexpr size_t kBytes = 64 << 10;
  std::shared_ptr<const cache::ArenaRegion> first = arena->Allocate(kBytes);
  ASSERT_NE(first, nullptr);
  std::memset(first->data, 'a', kBytes);
  off_t at = static_cast<off_t>(first->file_offset);
  size_t sent = 0;
  for (int tries = 0; sent < kBytes && tries < 1000; ++tries) {
    const ssize_t n = ::sendfile(sender, first->fd, &at, kBytes - sent);
    if (n > 0) sent += static_cast<size_t>(n);
    if (n < 0) {
      ASSERT_EQ(errno, EAGAIN) << std::strerror(errno);
    }
  }
  ASSERT_EQ(sent, kBytes);  // all of it is the kernel's now; none of it was read
  const uint64_t offset = first->file_offset;
  first.reset();
  std::shared_ptr<const cache::ArenaRegion> second = arena->Allocate(kBytes);
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(second->file_offset, offset);  // the same space, so the test means something
  EXPECT_EQ(second->data[0], '\0');        // new pages, not the old ones
  std::memset(second->data, 'b', kBytes);

  std::string got;
  char buffer[16384];
  while (got.size() < kBytes) {
    const ssize_t n = ::read(receiver, buffer, sizeof(buffer));
    ASSERT_GT(n, 0);
    got.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(std::count(got.begin(), got.end(), 'a'), static_cast<ptrdiff_t>(kBytes));
  ::close(sender);
  ::close(receiver);
  ::close(listener);
}

// The RAM cache puts large records in its arena (sendable), small ones in strings.
TEST(RamCacheTest, LargeRecordsAreHeldInTheArenaSmallOnesInStrings) {
  cache::RamCache ram(64 << 20);
  char* writable = nullptr;
  cache::HeldRecord large = ram.NewRecord(cache::RamCache::kArenaRecordBytes, &writable);
  ASSERT_TRUE(large);
  EXPECT_GE(large.fd, 0);
  EXPECT_EQ(writable, large.bytes.data());
  std::memset(writable, 'L', large.bytes.size());
  ram.Put(1, 0, large);
  cache::HeldRecord got = ram.Get(1, 0);
  EXPECT_EQ(got.fd, large.fd);
  EXPECT_EQ(got.file_offset, large.file_offset);
  EXPECT_EQ(got.bytes, std::string(cache::RamCache::kArenaRecordBytes, 'L'));
  cache::HeldRecord small = ram.NewRecord(cache::RamCache::kArenaRecordBytes - 1, &writable);
  EXPECT_EQ(small.fd, -1);
  EXPECT_EQ(small.bytes, std::string(cache::RamCache::kArenaRecordBytes - 1, '\0'));
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

// A compaction thread moves itself to SCHED_IDLE, its nice value and short slices kept
// (short_slice.h); the thread that started it is untouched, and a second call is a no-op
// that still reports the idle policy.
TEST(ShortSliceTest, OnlyTheCallingThreadMovesToTheIdlePolicy) {
  bool took = false, again = false;
  int policy = -1, nice = 0, before = 0;
  std::vector<int> policies;
  std::thread background([&] {
    NameThisThread("ec-idle-test");
    const id_t self = static_cast<id_t>(::gettid());
    before = ::getpriority(PRIO_PROCESS, self);
    took = UseIdlePolicy();
    again = UseIdlePolicy();
    sched_param param{};
    pthread_getschedparam(pthread_self(), &policy, &param);
    nice = ::getpriority(PRIO_PROCESS, self);
    policies = testing::ThreadPolicies("self", "ec-idle-test");
  });
  background.join();
  EXPECT_TRUE(took);
  EXPECT_TRUE(again);
  EXPECT_EQ(policy, SCHED_IDLE);
  EXPECT_EQ(policies, std::vector<int>{SCHED_IDLE});
  EXPECT_EQ(nice, before);
  int own = -1;
  sched_param param{};
  pthread_getschedparam(pthread_self(), &own, &param);
  EXPECT_EQ(own, SCHED_OTHER);
}

}  // namespace
}  // namespace edgecache
