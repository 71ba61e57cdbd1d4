// The index units on their own, on a real RocksDB in a temp directory: EntryTable (entries,
// tag and Vary keys, scans, snapshots, its entry cache), VersionClock and IndexDb's thread
// priorities; and ShardedLru, the cache under the entry cache.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/sharded_lru.h"
#include "format/index_layout.h"
#include "index/entry_table.h"
#include "index/index_db.h"
#include "index/version_clock.h"
#include "short_slice.h"
#include "support/process.h"
#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using index::EntryTable;
using index::Family;
using testing::TempDir;

// `presence_filter`: without one, every read of an absent key goes to the entry cache and
// the index (what the cache tests look at).
std::unique_ptr<EntryTable> OpenTable(const std::string& path, bool read_only = false,
                                      bool presence_filter = true) {
  StoreOptions o = testing::SmallOptions();
  o.read_only = read_only;
  if (!presence_filter) o.presence_filter_bytes = 0;
  std::unique_ptr<EntryTable> table;
  Status s = EntryTable::Open(o, path, &table);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return table;
}

ObjectInfo Entry(std::string primary, std::string secondary, std::vector<std::string> tags,
                 uint64_t version) {
  ObjectInfo info;
  info.key = {std::move(primary), std::move(secondary)};
  info.meta.tags = std::move(tags);
  info.version = version;
  info.body_length = 10;
  info.extents = {{1, 4096, 10}};
  return info;
}

std::vector<std::string> Keys(EntryTable& table, Family family, std::string_view prefix) {
  std::vector<std::string> keys;
  Status s = table.Scan(family, prefix, [&](std::string_view key, std::string_view) {
    keys.emplace_back(key);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return keys;
}

void Put(EntryTable& table, const ObjectInfo& info, const ObjectInfo* old = nullptr) {
  std::vector<std::string> recorded;
  ASSERT_TRUE(table.GetVaryNames(info.key.primary, &recorded).ok());
  EntryTable::Batch batch(table);
  batch.PutEntry(format::EntryKey(info.key), info, old, !recorded.empty());
  ASSERT_TRUE(table.Write(batch, false, "put").ok());
}

// Threads that read `key` over and over until `done`, as lookups racing writes do.
std::vector<std::thread> Readers(EntryTable& table, const std::string& key,
                                 const std::atomic<bool>& done) {
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&table, &key, &done] {
      while (!done) {
        ObjectInfo info;
        bool found = false;
        EXPECT_TRUE(table.GetEntry(key, &info, &found).ok());
      }
    });
  }
  return readers;
}

void Delete(EntryTable& table, const ObjectInfo& info) {
  EntryTable::Batch del(table);
  del.DeleteEntry(format::EntryKey(info.key), info);
  ASSERT_TRUE(table.Write(del, false, "delete").ok());
}

TEST(EntryTableTest, AnEntryIsWrittenWithItsTagKeysAndReadBackWithItsKey) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  ObjectInfo a = Entry("http://h/a", "", {"red", "blue"}, 7);
  Put(*table, a);
  ObjectInfo got;
  bool found = false;
  ASSERT_TRUE(table->GetEntry(format::EntryKey(a.key), &got, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(got.key.primary, "http://h/a");
  EXPECT_EQ(got.version, 7u);
  EXPECT_EQ(got.meta.tags, a.meta.tags);
  EXPECT_EQ(Keys(*table, Family::kTags, format::TagKeyPrefix("red")),
            std::vector<std::string>{format::TagKey("red", format::EntryKey(a.key))});

  // Rewritten with one tag fewer: the dropped tag's key goes, the kept one stays.
  ObjectInfo b = Entry("http://h/a", "", {"blue"}, 8);
  Put(*table, b, &got);
  EXPECT_TRUE(Keys(*table, Family::kTags, format::TagKeyPrefix("red")).empty());
  EXPECT_EQ(Keys(*table, Family::kTags, format::TagKeyPrefix("blue")).size(), 1u);

  // Deleted: the entry and its tag keys.
  EntryTable::Batch del(*table);
  del.DeleteEntry(format::EntryKey(b.key), b);
  ASSERT_TRUE(table->Write(del, false, "delete").ok());
  ASSERT_TRUE(table->GetEntry(format::EntryKey(b.key), &got, &found).ok());
  EXPECT_FALSE(found);
  EXPECT_TRUE(Keys(*table, Family::kTags, "").empty());
}

TEST(EntryTableTest, VaryNamesFollowTheEntryWithoutSecondaryKey) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  ObjectInfo v = Entry("http://h/v", "gzip", {}, 1);
  v.meta.vary = {"accept-encoding"};
  Put(*table, v);
  std::vector<std::string> names;
  ASSERT_TRUE(table->GetVaryNames("http://h/v", &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"accept-encoding"});
  // The primary key stored again without Vary drops its names.
  Put(*table, Entry("http://h/v", "", {}, 2));
  ASSERT_TRUE(table->GetVaryNames("http://h/v", &names).ok());
  EXPECT_TRUE(names.empty());
}

TEST(EntryTableTest, AnUndecodableEntryIsAMissAndIsDropped) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  const std::string key = format::EntryKey({"http://h/bad", ""});
  ASSERT_TRUE(table->Put(Family::kEntries, key, "\x01garbage", false, "put").ok());
  ObjectInfo info;
  bool found = true;
  ASSERT_TRUE(table->GetEntry(key, &info, &found).ok());
  EXPECT_FALSE(found);
  std::string raw;
  ASSERT_TRUE(table->Get(Family::kEntries, key, &raw, &found).ok());
  EXPECT_FALSE(found);
}

TEST(EntryTableTest, ScansStopOnRequestStartLateAndSeeTheirSnapshot) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  for (char c = 'a'; c <= 'e'; ++c) Put(*table, Entry(std::string("p/") + c, "", {}, 1));
  Put(*table, Entry("q/z", "", {}, 1));
  EXPECT_EQ(Keys(*table, Family::kEntries, "p/").size(), 5u);

  std::vector<std::string> seen;
  ASSERT_TRUE(table
                  ->Scan(Family::kEntries, "p/",
                         [&](std::string_view key, std::string_view) {
                           seen.emplace_back(key);
                           return seen.size() < 2;
                         },
                         {.start = "p/c"})
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{format::EntryKey({"p/c", ""}),
                                            format::EntryKey({"p/d", ""})}));

  auto snapshot = table->TakeSnapshot();
  Put(*table, Entry("p/f", "", {}, 1));
  size_t at_snapshot = 0;
  ASSERT_TRUE(table
                  ->Scan(Family::kEntries, "p/",
                         [&](std::string_view, std::string_view) { return ++at_snapshot > 0; },
                         {.snapshot = snapshot.get()})
                  .ok());
  EXPECT_EQ(at_snapshot, 5u);
  EXPECT_EQ(Keys(*table, Family::kEntries, "p/").size(), 6u);
}

std::vector<std::string> Members(EntryTable& table, uint64_t segment) {
  std::vector<std::string> out;
  EXPECT_TRUE(table
                  .ScanSegmentMembers(segment,
                                      [&](std::string_view key) {
                                        out.emplace_back(key);
                                        return true;
                                      })
                  .ok());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(EntryTableTest, EntriesWrittenTogetherShareOneMemberKeyPerSegment) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  EntryTable::Batch batch(*table);
  batch.AddSegmentMembers("a", {{3, 100, 10}});
  batch.AddSegmentMembers("b", {{3, 40, 10}});
  batch.AddSegmentMembers("c", {{3, 70, 10}, {3, 80, 10}});  // two chunks, listed once
  batch.AddSegmentMembers("d", {{3, 200, 10}, {4, 64, 10}});
  ASSERT_TRUE(table->Write(batch, false, "members").ok());
  // One key per segment, named by the batch's lowest offset there.
  EXPECT_EQ(Keys(*table, Family::kSegments, format::SegmentBatchPrefix(3)),
            std::vector<std::string>{format::SegmentBatchKey(3, 40)});
  EXPECT_EQ(Keys(*table, Family::kSegments, format::SegmentBatchPrefix(4)),
            std::vector<std::string>{format::SegmentBatchKey(4, 64)});
  EXPECT_EQ(Members(*table, 3), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(Members(*table, 4), std::vector<std::string>{"d"});
  // A store of format version 1 has one key per member: read as well.
  ASSERT_TRUE(
      table->Put(Family::kSegments, format::SegmentMemberKey(3, "old"), "", false, "old").ok());
  EXPECT_EQ(Members(*table, 3), (std::vector<std::string>{"a", "b", "c", "d", "old"}));
  // A member list that does not decode yields what did, and the scan goes on.
  ASSERT_TRUE(table
                  ->Put(Family::kSegments, format::SegmentBatchKey(3, 900),
                        format::EncodeSegmentBatch({"e", "f"}).substr(0, 4), false, "bad")
                  .ok());
  EXPECT_EQ(Members(*table, 3), (std::vector<std::string>{"a", "b", "c", "d", "e", "old"}));
}

TEST(EntryTableTest, ForgettingASegmentDropsItsRecordAndMembersOnly) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  ASSERT_TRUE(table->Put(Family::kSegments, format::SegmentRecordKey(3), "r", false, "r").ok());
  ASSERT_TRUE(table->Put(Family::kSegments, format::SegmentRecordKey(4), "r", false, "r").ok());
  EntryTable::Batch members(*table);
  members.AddSegmentMembers("a", {{3, 64, 1}});
  members.AddSegmentMembers("b", {{3, 65, 1}, {4, 64, 1}});
  ASSERT_TRUE(table->Write(members, false, "members").ok());
  ASSERT_TRUE(
      table->Put(Family::kSegments, format::SegmentMemberKey(3, "old"), "", false, "old").ok());
  ASSERT_TRUE(
      table->Put(Family::kSegments, format::SegmentMemberKey(4, "old"), "", false, "old").ok());
  EntryTable::Batch forget(*table);
  forget.ForgetSegment(3);
  ASSERT_TRUE(table->Write(forget, false, "forget").ok());
  EXPECT_TRUE(Members(*table, 3).empty());
  EXPECT_EQ(Members(*table, 4), (std::vector<std::string>{"b", "old"}));
  EXPECT_EQ(Keys(*table, Family::kSegments, std::string(1, format::kSegmentRecordTag)),
            std::vector<std::string>{format::SegmentRecordKey(4)});
}

TEST(EntryTableTest, CachedReadsFollowEveryWrite) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  ObjectInfo a = Entry("http://h/c", "", {"t"}, 1);
  Put(*table, a);
  const std::string key = format::EntryKey(a.key);
  ObjectInfo got;
  bool found = false;
  std::vector<std::string> names;
  for (int read = 0; read < 2; ++read) {  // the second read is the cached one
    ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
    ASSERT_TRUE(found);
    EXPECT_EQ(got.version, 1u);
    ASSERT_TRUE(table->GetVaryNames("http://h/c", &names).ok());
    EXPECT_TRUE(names.empty());
  }
  EXPECT_GT(table->cache_usage(), 0u);
  // A rewrite, a new Vary, a soft purge's rewrite and a delete are each seen at once.
  ObjectInfo b = Entry("http://h/c", "", {"t"}, 2);
  b.meta.vary = {"accept-encoding"};
  Put(*table, b, &got);
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  EXPECT_EQ(got.version, 2u);
  ASSERT_TRUE(table->GetVaryNames("http://h/c", &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"accept-encoding"});
  b.invalidated = true;
  EntryTable::Batch soft(*table);
  soft.RewriteEntry(key, b);
  ASSERT_TRUE(table->Write(soft, false, "soft").ok());
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  EXPECT_TRUE(got.invalidated);
  EntryTable::Batch del(*table);
  del.DeleteEntry(key, b);
  ASSERT_TRUE(table->Write(del, false, "delete").ok());
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  EXPECT_FALSE(found);
}

TEST(EntryTableTest, AURLsVaryNamesAndEntryWithoutSecondaryKeyAreOneCachedRecord) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  const ObjectInfo a = Entry("http://h/one", "", {}, 1);
  Put(*table, a);
  const std::string key = format::EntryKey(a.key);
  std::vector<std::string> names = {"stale"};
  ASSERT_TRUE(table->GetVaryNames("http://h/one", &names).ok());
  EXPECT_TRUE(names.empty());
  const uint64_t one_record = table->cache_usage();
  EXPECT_GT(one_record, 0u);
  ObjectInfo got;
  bool found = false;
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());  // from the same record
  ASSERT_TRUE(found);
  EXPECT_EQ(got.version, 1u);
  EXPECT_EQ(got.key, a.key);
  EXPECT_EQ(table->cache_usage(), one_record);
  // A raw write of the entry alone (no Vary write) drops the URL's record.
  ASSERT_TRUE(table
                  ->Put(Family::kEntries, key,
                        format::EncodeEntry(Entry("http://h/one", "", {}, 9)), false, "raw")
                  .ok());
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(got.version, 9u);
  // Vary names recorded later: the entry from before them is still read by its key, apart
  // from the URL's record, and so are the variants.
  ObjectInfo variant = Entry("http://h/one", "gzip", {}, 10);
  variant.meta.vary = {"accept-encoding"};
  Put(*table, variant);
  ASSERT_TRUE(table->GetVaryNames("http://h/one", &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"accept-encoding"});
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(got.version, 9u);
  ASSERT_TRUE(table->GetEntry(format::EntryKey(variant.key), &got, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(got.version, 10u);
  // Names removed by a raw write: the entry without secondary key is the URL's record's again.
  ASSERT_TRUE(table->Delete(Family::kVary, "http://h/one", false, "raw").ok());
  ASSERT_TRUE(table->GetVaryNames("http://h/one", &names).ok());
  EXPECT_TRUE(names.empty());
  Delete(*table, Entry("http://h/one", "", {}, 9));
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  EXPECT_FALSE(found);
}

TEST(EntryTableTest, AnAbsentEntryIsCachedUntilItIsWritten) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"), false, /*presence_filter=*/false);
  const ObjectInfo a = Entry("http://h/new", "", {}, 7);
  const std::string key = format::EntryKey(a.key);
  ObjectInfo got;
  bool found = true;
  for (int read = 0; read < 2; ++read) {  // the second read is the cached "none"
    ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
    EXPECT_FALSE(found);
  }
  const uint64_t with_absent = table->cache_usage();
  EXPECT_GT(with_absent, 0u);
  Put(*table, a);
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(got.version, 7u);
  Delete(*table, a);
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  EXPECT_FALSE(found);
  // A raw write (as a repair or an undecodable entry's removal makes) is seen too.
  ASSERT_TRUE(table->Put(Family::kEntries, key, "not an entry", false, "raw").ok());
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  EXPECT_FALSE(found);  // undecodable: reported missing and dropped
  Put(*table, a);
  ASSERT_TRUE(table->GetEntry(key, &got, &found).ok());
  EXPECT_TRUE(found);
}

TEST(EntryTableTest, AReadThatRacesInsertsAndDeletesNeverLeavesAStaleAbsenceCached) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  const ObjectInfo a = Entry("http://h/flip", "", {}, 1);
  const std::string key = format::EntryKey(a.key);
  std::atomic<bool> done{false};
  std::vector<std::thread> readers = Readers(*table, key, done);
  for (int i = 0; i < 1500; ++i) {
    Put(*table, a);
    Delete(*table, a);
  }
  Put(*table, a);  // ends present: a cached absence from the race would show now
  done = true;
  for (auto& t : readers) t.join();
  ObjectInfo last;
  bool found = false;
  ASSERT_TRUE(table->GetEntry(key, &last, &found).ok());
  EXPECT_TRUE(found);
}

TEST(EntryTableTest, AReadThatRacesWritesNeverLeavesAStaleEntryCached) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  const ObjectInfo first = Entry("http://h/race", "", {}, 1);
  const std::string key = format::EntryKey(first.key);
  Put(*table, first);
  std::atomic<bool> done{false};
  std::vector<std::thread> readers = Readers(*table, key, done);
  for (uint64_t v = 2; v <= 3000; ++v) Put(*table, Entry("http://h/race", "", {}, v));
  done = true;
  for (auto& t : readers) t.join();
  ObjectInfo last;
  bool found = false;
  ASSERT_TRUE(table->GetEntry(key, &last, &found).ok());
  EXPECT_EQ(last.version, 3000u);
}

// Polls until the table's presence filter answers (its fill at open is in the background).
bool WaitForPresenceFilter(EntryTable& table) {
  for (int i = 0; i < 1000 && !table.presence_filter_answering(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return table.presence_filter_answering();
}

TEST(EntryTableTest, AURLNeverWrittenIsAbsentWithoutAReadAndEveryWrittenOneIsFound) {
  TempDir dir;
  std::vector<ObjectInfo> written;
  {
    auto table = OpenTable(dir.Sub("index"));
    ASSERT_TRUE(WaitForPresenceFilter(*table));
    ObjectInfo got;
    bool found = true;
    std::vector<std::string> names = {"stale"};
    ASSERT_TRUE(table->GetEntry(format::EntryKey({"http://h/never", ""}), &got, &found).ok());
    ASSERT_TRUE(table->GetVaryNames("http://h/never", &names).ok());
    EXPECT_FALSE(found);
    EXPECT_TRUE(names.empty());
    EXPECT_EQ(table->cache_usage(), 0u);  // answered by the filter: nothing read, nothing cached
    for (int i = 0; i < 300; ++i) {
      written.push_back(Entry("http://h/" + std::to_string(i), "", {"t"}, i + 1));
      if (i % 3 == 0) {  // a URL with Vary: its names and two variants
        written.back().meta.vary = {"accept-encoding"};
        written.back().key.secondary = "gzip";
        written.push_back(written.back());
        written.back().key.secondary = "br";
      }
    }
    for (const ObjectInfo& info : written) Put(*table, info);
    // Raw writes (a repair's) are seen too.
    ASSERT_TRUE(
        table->Put(Family::kVary, "http://h/raw-vary", format::EncodeVaryNames({"x"}), false, "raw")
            .ok());
    ASSERT_TRUE(table->GetVaryNames("http://h/raw-vary", &names).ok());
    EXPECT_EQ(names, std::vector<std::string>{"x"});
  }
  // Reopened: the filter is filled from the index in the background; every URL written
  // before is found once it answers, and one never written is still absent.
  auto table = OpenTable(dir.Sub("index"));
  ASSERT_TRUE(WaitForPresenceFilter(*table));
  for (const ObjectInfo& info : written) {
    ObjectInfo got;
    bool found = false;
    ASSERT_TRUE(table->GetEntry(format::EntryKey(info.key), &got, &found).ok());
    EXPECT_TRUE(found) << info.key.primary << " " << info.key.secondary;
    std::vector<std::string> names;
    ASSERT_TRUE(table->GetVaryNames(info.key.primary, &names).ok());
    EXPECT_EQ(names, info.meta.vary) << info.key.primary;
  }
  std::vector<std::string> names;
  ASSERT_TRUE(table->GetVaryNames("http://h/raw-vary", &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"x"});
  const uint64_t before = table->cache_usage();
  ObjectInfo got;
  bool found = true;
  ASSERT_TRUE(table->GetEntry(format::EntryKey({"http://h/never", ""}), &got, &found).ok());
  EXPECT_FALSE(found);
  EXPECT_EQ(table->cache_usage(), before);
}

TEST(EntryTableTest, ReadsRacingFirstWritesOfNewURLsFindThemOnceWritten) {
  // Readers look up URLs as they are written for the first time: once a write returned,
  // every later read finds it (the filter is set before the write).
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  ASSERT_TRUE(WaitForPresenceFilter(*table));
  std::atomic<int> written{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        const int n = written.load();
        if (n == 0) continue;
        ObjectInfo got;
        bool found = false;
        const std::string key = format::EntryKey({"http://h/new" + std::to_string(n - 1), ""});
        EXPECT_TRUE(table->GetEntry(key, &got, &found).ok());
        EXPECT_TRUE(found) << n - 1;
      }
    });
  }
  for (int i = 0; i < 3000; ++i) {
    Put(*table, Entry("http://h/new" + std::to_string(i), "", {}, i + 1));
    written = i + 1;
  }
  done = true;
  for (auto& t : readers) t.join();
}

TEST(PresenceFilterTest, AddedKeysAreAlwaysMaybesOthersMostlyAbsentUntilFull) {
  index::PresenceFilter filter(64 << 10);  // sized for 32768 keys
  ASSERT_EQ(filter.sized_keys(), 32768u);
  EXPECT_TRUE(filter.MayContain("http://h/a"));  // not filled yet: everything is a maybe
  for (int i = 0; i < 20000; ++i) filter.Add("http://h/" + std::to_string(i));
  filter.MarkFilled();
  EXPECT_TRUE(filter.answering());
  for (int i = 0; i < 20000; ++i) EXPECT_TRUE(filter.MayContain("http://h/" + std::to_string(i)));
  int maybes = 0;
  for (int i = 0; i < 100000; ++i) maybes += filter.MayContain("http://x/" + std::to_string(i));
  EXPECT_LT(maybes, 500);  // < 0.5% false positives below its sized number of keys
  for (int i = 20000; i < 40000; ++i) filter.Add("http://h/" + std::to_string(i));
  EXPECT_FALSE(filter.answering());  // more keys than sized for: it stops answering
  EXPECT_TRUE(filter.MayContain("http://x/never"));
}

TEST(ShardedLruTest, APutAfterAnEraseOfItsShardIsRefused) {
  cache::ShardedLru<std::string, int> lru(64 << 10);
  const uint64_t before = lru.Version(std::string("k"));
  lru.Erase(std::string("k"));  // a write happened while "k" was being read
  lru.PutIf("k", 1, 100, before);
  int v = 0;
  EXPECT_FALSE(lru.Get(std::string("k"), &v));
  lru.PutIf("k", 2, 100, lru.Version(std::string("k")));
  ASSERT_TRUE(lru.Get(std::string("k"), &v));
  EXPECT_EQ(v, 2);
  lru.Erase(std::string("k"));
  EXPECT_FALSE(lru.Get(std::string("k"), &v));
  EXPECT_EQ(lru.usage(), 0u);
}

// Puts, erases and gets of 2,000 keys in random order against a plain map: with room for
// every key, each Get finds exactly what the map holds (lookups stay right as the slots
// grow and erased slots are refilled); with room for a few hundred, a Get finds the key's
// latest value or nothing, never another key's, and usage stays within the capacity.
TEST(ShardedLruTest, AgreesWithAMapThroughPutsErasesAndEvictions) {
  for (const uint64_t capacity : {uint64_t{64} << 20, uint64_t{64} * 600}) {
    cache::ShardedLru<std::string, int> lru(capacity);
    std::map<std::string, int> model;
    std::mt19937 rng(7);
    for (int op = 0; op < 200000; ++op) {
      const std::string key = "http://example.test/object/" + std::to_string(rng() % 2000);
      const unsigned what = rng() % 10;
      if (what < 4) {
        lru.Put(key, op, 100);
        model[key] = op;
      } else if (what < 6) {
        lru.Erase(key);
        model.erase(key);
      } else {
        int v = -1;
        const bool found = lru.Get(key, &v);
        auto it = model.find(key);
        if (capacity > (1u << 20)) {
          ASSERT_EQ(found, it != model.end()) << key << " at " << op;
        } else if (it == model.end()) {
          ASSERT_FALSE(found) << key << " at " << op;
        }
        if (found) {
          ASSERT_EQ(v, it->second) << key << " at " << op;
        }
      }
      ASSERT_LE(lru.usage(), capacity);
    }
  }
}

// An entry got at least once per half a shard's worth of puts is never evicted, however
// many others come and go; one never got again is.
TEST(ShardedLruTest, AnEntryInUseStaysAndOneUnusedLeaves) {
  // 64 shards of 1,000 bytes: ten entries of 100 a shard.
  cache::ShardedLru<std::string, int> lru(64 * 1000);
  lru.Put("hot", 1, 100);
  lru.Put("cold", 2, 100);
  for (int i = 0; i < 20000; ++i) {
    lru.Put("other-" + std::to_string(i), i, 100);
    int v = 0;
    ASSERT_TRUE(lru.Get(std::string("hot"), &v)) << i;
    EXPECT_EQ(v, 1);
  }
  int v = 0;
  EXPECT_FALSE(lru.Get(std::string("cold"), &v));
  EXPECT_LE(lru.usage(), 64u * 1000);
}

TEST(VersionClockTest, VersionsIncreaseAndNeverRepeatAcrossReopens) {
  TempDir dir;
  uint64_t last = 0;
  for (int run = 0; run < 3; ++run) {
    auto table = OpenTable(dir.Sub("index"));
    index::VersionClock clock(*table);
    ASSERT_TRUE(clock.Load().ok());
    for (int i = 0; i < 1000; ++i) {
      uint64_t v = clock.Next();
      ASSERT_GT(v, last);
      last = v;
    }
  }
}

TEST(VersionClockTest, TheOldestInsertInFlightIsKnownUntilItEnds) {
  TempDir dir;
  auto table = OpenTable(dir.Sub("index"));
  index::VersionClock clock(*table);
  ASSERT_TRUE(clock.Load().ok());
  EXPECT_EQ(clock.OldestInsert(), UINT64_MAX);
  uint64_t a = clock.BeginInsert();
  uint64_t b = clock.BeginInsert();
  uint64_t purge = clock.Next();
  EXPECT_LT(a, b);
  EXPECT_LT(b, purge);
  EXPECT_EQ(clock.OldestInsert(), a);
  clock.EndInsert(a);
  EXPECT_EQ(clock.OldestInsert(), b);
  clock.EndInsert(b);
  EXPECT_EQ(clock.OldestInsert(), UINT64_MAX);
}

// RocksDB's background threads run below the network threads' priority: its flush thread
// ten nice levels down from its first flush, its compaction threads at the lowest; and in
// short scheduler slices.
TEST(IndexDbTest, FlushesRunTenNiceLevelsDownInShortSlicesAndCompactionsOnlyWhenIdle) {
  TempDir dir;
  index::IndexDb db;
  ASSERT_TRUE(index::OpenIndexDb(testing::SmallOptions(), dir.path() + "/index", &db).ok());
  errno = 0;
  const int own = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  ASSERT_EQ(errno, 0);
  for (int round = 0; round < 2; ++round) {  // two tables, so that a compaction has work
    ASSERT_TRUE(db.db->Put({}, db.entries, "key" + std::to_string(round), "value").ok());
    ASSERT_TRUE(db.db->Flush(rocksdb::FlushOptions(), db.entries).ok());  // waits
  }
  const std::vector<int> flush = testing::ThreadNiceValues("self", "rocksdb:high");
  ASSERT_FALSE(flush.empty());
  for (int nice : flush) EXPECT_EQ(nice, std::min(own + 10, 19));
  ASSERT_TRUE(
      db.db->CompactRange(rocksdb::CompactRangeOptions(), db.entries, nullptr, nullptr).ok());
  const std::vector<int> compaction = testing::ThreadNiceValues("self", "rocksdb:low");
  ASSERT_FALSE(compaction.empty());
  EXPECT_NE(std::find(compaction.begin(), compaction.end(), 19), compaction.end());
  // The thread that ran the compaction went to SCHED_IDLE (short_slice.h); the flush
  // thread did not: writes would stall behind a memtable that cannot be flushed.
  const std::vector<int> policies = testing::ThreadPolicies("self", "rocksdb:low");
  EXPECT_NE(std::find(policies.begin(), policies.end(), SCHED_IDLE), policies.end());
  for (int policy : testing::ThreadPolicies("self", "rocksdb:high")) {
    EXPECT_EQ(policy, SCHED_OTHER);
  }
  // This thread, which opened the index and asked for the flushes, keeps its priority.
  EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())), own);
  // The flush thread runs in short scheduler slices where the kernel has them.
  if (!testing::KernelHasCustomSlices()) return;
  const uint64_t short_slice = std::chrono::nanoseconds(kBackgroundSlice).count();
  const std::vector<uint64_t> slices = testing::ThreadSlices("self", "rocksdb:high");
  EXPECT_NE(std::find(slices.begin(), slices.end(), short_slice), slices.end());
}

}  // namespace
}  // namespace edgecache
