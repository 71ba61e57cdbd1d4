// Store: the public API end to end on real files in a temp directory.
#include "edgecache/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

using testing::Body;
using testing::Get;
using testing::Put;
using testing::SmallOptions;
using testing::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(StoreOptions options = SmallOptions()) {
    store_.reset();
    Status s = Store::Open(options, dir_.Sub("store"), &store_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, InsertThenLookupAndReadBack) {
  ObjectMeta meta;
  meta.status = 200;
  meta.headers = {{"Content-Type", "text/plain"}, {"Cache-Control", "max-age=60"}};
  meta.etag = "\"v1\"";
  meta.last_modified = 1700000000;
  meta.freshness_lifetime = 60;
  meta.tags = {"product-1", "home"};
  const std::string body = Body(1, 100000);  // several 16 KiB chunks
  ASSERT_TRUE(Put(*store_, {"example.com/a", ""}, body, meta).ok());

  std::string got;
  ObjectInfo info;
  Status s = Get(*store_, {"example.com/a", ""}, &got, &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, body);
  EXPECT_EQ(info.body_length, body.size());
  EXPECT_EQ(info.meta.headers, meta.headers);
  EXPECT_EQ(info.meta.etag, "\"v1\"");
  EXPECT_EQ(info.meta.tags, meta.tags);
  EXPECT_EQ(info.extents.size(), 7u);  // ceil(100000 / 16384)
  EXPECT_FALSE(info.invalidated);
  EXPECT_GT(info.stored_at, 0);

  StoreCounters c = store_->Counters();
  EXPECT_EQ(c.objects, 1u);
  EXPECT_EQ(c.body_bytes, body.size());
  EXPECT_EQ(c.inserts, 1u);
  // The body and its records' framing, written once.
  EXPECT_GE(c.written_bytes, body.size());
  EXPECT_LT(c.written_bytes, body.size() + 7 * 1024);
}

TEST_F(StoreTest, MissIsNotFound) {
  ObjectInfo info;
  Status s = store_->Lookup({"example.com/none", ""}, &info);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(store_->Counters().misses, 1u);
}

TEST_F(StoreTest, EmptyBodyAndExactChunkMultiple) {
  ASSERT_TRUE(Put(*store_, {"h/empty", ""}, "").ok());
  const std::string exact = Body(2, 32u << 10);
  ASSERT_TRUE(Put(*store_, {"h/exact", ""}, exact, {}, 16u << 10).ok());
  std::string got;
  ObjectInfo info;
  ASSERT_TRUE(Get(*store_, {"h/empty", ""}, &got, &info).ok());
  EXPECT_EQ(got, "");
  EXPECT_EQ(info.body_length, 0u);
  ASSERT_TRUE(Get(*store_, {"h/exact", ""}, &got, &info).ok());
  EXPECT_EQ(got, exact);
  EXPECT_EQ(info.extents.size(), 2u);
}

TEST_F(StoreTest, RangeReadsAcrossChunks) {
  const std::string body = Body(3, 50000);
  ASSERT_TRUE(Put(*store_, {"h/range", ""}, body).ok());
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"h/range", ""}, &info).ok());
  for (auto [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 1}, {16383, 2}, {16384, 16384}, {100, 40000}, {49999, 1}, {30000, 999999}}) {
    std::string got;
    Status s = store_->Read(info, &got, off, len);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(got, body.substr(off, len)) << off << "+" << len;
  }
  std::string got;
  EXPECT_EQ(store_->Read(info, &got, 50001, 1).code(), Status::Code::kInvalidArgument);
}

TEST_F(StoreTest, AsyncReadReturnsAtMostOneChunk) {
  const std::string body = Body(4, 40000);
  ASSERT_TRUE(Put(*store_, {"h/async", ""}, body).ok());
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"h/async", ""}, &info).ok());
  std::promise<std::string> got;
  store_->AsyncRead(info, 10000, SIZE_MAX, [&](Status s, BodySlice slice) {
    EXPECT_TRUE(s.ok()) << s.ToString();
    got.set_value(std::string(slice.data));
  });
  EXPECT_EQ(got.get_future().get(), body.substr(10000, 16384 - 10000));
}

// AppendSome takes what the chunk buffers hold without waiting: all of a small body, and of
// a large one at most two chunks (one being written, one filling); the rest is appended
// as usual, and the object is whole.
TEST_F(StoreTest, AppendSomeTakesWhatFitsWithoutWaiting) {
  std::unique_ptr<InsertHandle> insert;
  ASSERT_TRUE(store_->BeginInsert({"h/some-small", ""}, {}, &insert).ok());
  const std::string small = Body(6, 700);
  size_t taken = 0;
  ASSERT_TRUE(insert->AppendSome(small, &taken).ok());
  EXPECT_EQ(taken, small.size());
  ASSERT_TRUE(insert->Commit().ok());
  EXPECT_EQ(insert->AppendSome(small, &taken).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(taken, 0u);

  const size_t chunk = SmallOptions().chunk_bytes;
  const std::string large = Body(7, 5 * chunk + 123);
  ASSERT_TRUE(store_->BeginInsert({"h/some-large", ""}, {}, &insert).ok());
  ASSERT_TRUE(insert->AppendSome(large, &taken).ok());
  EXPECT_EQ(taken, 2 * chunk);
  ASSERT_TRUE(insert->Append(std::string_view(large).substr(taken)).ok());
  ASSERT_TRUE(insert->Commit().ok());

  std::string got;
  ASSERT_TRUE(Get(*store_, {"h/some-small", ""}, &got).ok());
  EXPECT_EQ(got, small);
  ASSERT_TRUE(Get(*store_, {"h/some-large", ""}, &got).ok());
  EXPECT_EQ(got, large);
}

TEST_F(StoreTest, NothingVisibleBeforeCommitAndAbortDiscards) {
  std::unique_ptr<InsertHandle> insert;
  ASSERT_TRUE(store_->BeginInsert({"h/pending", ""}, {}, &insert).ok());
  ASSERT_TRUE(insert->Append(Body(5, 60000)).ok());
  ObjectInfo info;
  EXPECT_TRUE(store_->Lookup({"h/pending", ""}, &info).IsNotFound());
  insert.reset();  // abort
  EXPECT_TRUE(store_->Lookup({"h/pending", ""}, &info).IsNotFound());
  EXPECT_EQ(store_->Counters().objects, 0u);
}

TEST_F(StoreTest, ReplaceKeepsOneObject) {
  ASSERT_TRUE(Put(*store_, {"h/r", ""}, Body(6, 1000)).ok());
  ASSERT_TRUE(Put(*store_, {"h/r", ""}, Body(7, 2000)).ok());
  std::string got;
  ASSERT_TRUE(Get(*store_, {"h/r", ""}, &got).ok());
  EXPECT_EQ(got, Body(7, 2000));
  EXPECT_EQ(store_->Counters().objects, 1u);
  EXPECT_EQ(store_->Counters().body_bytes, 2000u);
}

TEST_F(StoreTest, SurvivesReopen) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(Put(*store_, {"h/p" + std::to_string(i), ""}, Body(i, 1000 + i * 500)).ok());
  }
  Reopen();
  for (int i = 0; i < 50; ++i) {
    std::string got;
    Status s = Get(*store_, {"h/p" + std::to_string(i), ""}, &got);
    ASSERT_TRUE(s.ok()) << i << " " << s.ToString();
    EXPECT_EQ(got, Body(i, 1000 + i * 500));
  }
  EXPECT_EQ(store_->Counters().objects, 50u);
  // Inserts after reopen land in a new segment and coexist with the old ones.
  ASSERT_TRUE(Put(*store_, {"h/after", ""}, Body(99, 5000)).ok());
  std::string got;
  ASSERT_TRUE(Get(*store_, {"h/p7", ""}, &got).ok());
  EXPECT_EQ(got, Body(7, 1000 + 7 * 500));
}

TEST_F(StoreTest, UpdateMetaKeepsBodyAndChecksVersion) {
  ObjectMeta meta;
  meta.etag = "\"a\"";
  meta.tags = {"t1"};
  const std::string body = Body(8, 30000);
  ASSERT_TRUE(Put(*store_, {"h/u", ""}, body, meta).ok());
  ObjectInfo info;
  ASSERT_TRUE(store_->Lookup({"h/u", ""}, &info).ok());

  ObjectMeta fresh = info.meta;
  fresh.freshness_lifetime = 3600;
  fresh.tags = {"t2"};
  ASSERT_TRUE(store_->UpdateMeta({"h/u", ""}, info.version, fresh).ok());
  // A second update with the old version lost the race.
  EXPECT_TRUE(store_->UpdateMeta({"h/u", ""}, info.version, fresh).IsAborted());

  ObjectInfo updated;
  std::string got;
  ASSERT_TRUE(Get(*store_, {"h/u", ""}, &got, &updated).ok());
  EXPECT_EQ(got, body);
  EXPECT_EQ(updated.meta.freshness_lifetime, 3600);
  EXPECT_EQ(updated.body_version, info.body_version);
  EXPECT_NE(updated.version, info.version);
  EXPECT_EQ(updated.extents.size(), info.extents.size());

  // The tag index follows the metadata.
  std::vector<ObjectInfo> listed;
  ASSERT_TRUE(store_->List({.tag = "t1"}, &listed).ok());
  EXPECT_TRUE(listed.empty());
  ASSERT_TRUE(store_->List({.tag = "t2"}, &listed).ok());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key.primary, "h/u");

  EXPECT_TRUE(store_->UpdateMeta({"h/none", ""}, 1, fresh).IsNotFound());
}

TEST_F(StoreTest, RemoveDeletesOneVariant) {
  ASSERT_TRUE(Put(*store_, {"h/x", ""}, "body").ok());
  ASSERT_TRUE(store_->Remove({"h/x", ""}).ok());
  ObjectInfo info;
  EXPECT_TRUE(store_->Lookup({"h/x", ""}, &info).IsNotFound());
  EXPECT_TRUE(store_->Remove({"h/x", ""}).IsNotFound());
  EXPECT_EQ(store_->Counters().objects, 0u);
}

TEST_F(StoreTest, VaryVariantsFoundFromRequestHeaders) {
  auto headers = [](std::string enc, std::string lang) {
    return [enc, lang](std::string_view name) -> std::optional<std::string_view> {
      if (name == "accept-encoding") return enc;
      if (name == "accept-language") return lang;
      return std::nullopt;
    };
  };
  ObjectMeta meta;
  meta.vary = {"Accept-Encoding", "Accept-Language"};
  std::vector<std::string> vary = meta.vary;
  ASSERT_TRUE(
      Put(*store_, {"h/v", SecondaryKeyFor(vary, headers("gzip", "en"))}, "gzip-en", meta).ok());
  ASSERT_TRUE(
      Put(*store_, {"h/v", SecondaryKeyFor(vary, headers("br", "en"))}, "br-en", meta).ok());

  std::shared_ptr<const ObjectInfo> info;
  std::string got;
  ASSERT_TRUE(store_->LookupVariant("h/v", headers("br", " en "), &info).ok());
  ASSERT_TRUE(store_->Read(*info, &got).ok());
  EXPECT_EQ(got, "br-en");
  ASSERT_TRUE(store_->LookupVariant("h/v", headers("gzip", "en"), &info).ok());
  ASSERT_TRUE(store_->Read(*info, &got).ok());
  EXPECT_EQ(got, "gzip-en");
  EXPECT_TRUE(store_->LookupVariant("h/v", headers("gzip", "fr"), &info).IsNotFound());
  // A miss names the variant it looked for; a URL without Vary names has no secondary.
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->key.primary, "h/v");
  EXPECT_EQ(info->key.secondary, SecondaryKeyFor(vary, headers("gzip", "fr")));
  EXPECT_TRUE(store_->LookupVariant("h/none", headers("gzip", "fr"), &info).IsNotFound());
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->key.primary, "h/none");
  EXPECT_EQ(info->key.secondary, "");

  std::vector<ObjectInfo> variants;
  ASSERT_TRUE(store_->Variants("h/v", &variants).ok());
  EXPECT_EQ(variants.size(), 2u);

  uint64_t affected = 0;
  ASSERT_TRUE(store_->PurgeUrl("h/v", PurgeMode::kHard, &affected).ok());
  EXPECT_EQ(affected, 2u);
  ASSERT_TRUE(store_->Variants("h/v", &variants).ok());
  EXPECT_TRUE(variants.empty());
}

TEST_F(StoreTest, AURLStoredAgainWithoutVaryIsFoundWithoutVariantKeys) {
  // An origin drops Vary: the response stored without it replaces the recorded names, so
  // the lookup stops selecting variants (and a URL that never had Vary is unaffected).
  auto gzip = [](std::string_view name) -> std::optional<std::string_view> {
    if (name == "accept-encoding") return "gzip";
    return std::nullopt;
  };
  ObjectMeta varied;
  varied.vary = {"accept-encoding"};
  ASSERT_TRUE(Put(*store_, {"h/dropped", SecondaryKeyFor(varied.vary, gzip)}, "gz", varied).ok());
  ASSERT_TRUE(Put(*store_, {"h/dropped", ""}, "plain").ok());
  ASSERT_TRUE(Put(*store_, {"h/never", ""}, "never").ok());
  for (const char* url : {"h/dropped", "h/never"}) {
    std::shared_ptr<const ObjectInfo> info;
    ASSERT_TRUE(store_->LookupVariant(url, gzip, &info).ok()) << url;
    EXPECT_EQ(info->key.secondary, "") << url;
  }
  // Reopened: the same from the index on disk, not from the entry cache.
  Reopen();
  std::shared_ptr<const ObjectInfo> info;
  std::string got;
  ASSERT_TRUE(store_->LookupVariant("h/dropped", gzip, &info).ok());
  ASSERT_TRUE(store_->Read(*info, &got).ok());
  EXPECT_EQ(got, "plain");
  // A revalidation's new metadata keeps it so; the entry looked up before is unchanged.
  const std::shared_ptr<const ObjectInfo> before = info;
  const uint64_t version = before->version;
  ASSERT_TRUE(store_->UpdateMeta(info->key, info->version, info->meta).ok());
  ASSERT_TRUE(store_->LookupVariant("h/dropped", gzip, &info).ok());
  EXPECT_EQ(info->key.secondary, "");
  EXPECT_GT(info->version, version);
  EXPECT_EQ(before->version, version);
}

TEST_F(StoreTest, ListByPrefixAndTagWithPaging) {
  for (int i = 0; i < 30; ++i) {
    ObjectMeta meta;
    meta.tags = {i % 2 ? "odd" : "even"};
    char key[32];
    std::snprintf(key, sizeof(key), "site/%02d", i);
    ASSERT_TRUE(Put(*store_, {key, ""}, Body(i, 100), meta).ok());
  }
  ASSERT_TRUE(Put(*store_, {"other/1", ""}, "x").ok());

  std::vector<ObjectInfo> page;
  ASSERT_TRUE(store_->List({.prefix = "site/", .limit = 10}, &page).ok());
  ASSERT_EQ(page.size(), 10u);
  EXPECT_EQ(page.front().key.primary, "site/00");
  EXPECT_EQ(page.back().key.primary, "site/09");
  ASSERT_TRUE(
      store_->List({.prefix = "site/", .start_after = "site/09", .limit = 100}, &page).ok());
  ASSERT_EQ(page.size(), 20u);
  EXPECT_EQ(page.front().key.primary, "site/10");

  ASSERT_TRUE(store_->List({.tag = "odd"}, &page).ok());
  EXPECT_EQ(page.size(), 15u);
  for (const auto& info : page) EXPECT_EQ(info.meta.tags[0], "odd");
  ASSERT_TRUE(store_->List({.prefix = "site/2", .tag = "even"}, &page).ok());
  EXPECT_EQ(page.size(), 5u);  // 20 22 24 26 28
}

TEST_F(StoreTest, BadKeysAreRefused) {
  std::unique_ptr<InsertHandle> insert;
  EXPECT_EQ(store_->BeginInsert({"", ""}, {}, &insert).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->BeginInsert({std::string("a\0b", 3), ""}, {}, &insert).code(),
            Status::Code::kInvalidArgument);
  ObjectMeta meta;
  meta.tags = {""};
  EXPECT_EQ(store_->BeginInsert({"h/ok", ""}, meta, &insert).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(StoreTest, ConcurrentInsertsAndReads) {
  constexpr int kThreads = 4, kPerThread = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int id = t * kPerThread + i;
        std::string key = "c/" + std::to_string(id);
        ASSERT_TRUE(Put(*store_, {key, ""}, Body(id, 500 + id * 97)).ok());
        std::string got;
        ASSERT_TRUE(Get(*store_, {key, ""}, &got).ok());
        ASSERT_EQ(got, Body(id, 500 + id * 97));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store_->Counters().objects, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(StoreTest, RamCacheServesRepeatedReads) {
  ASSERT_TRUE(Put(*store_, {"h/hot", ""}, Body(9, 4000)).ok());
  std::string got;
  ASSERT_TRUE(Get(*store_, {"h/hot", ""}, &got).ok());
  uint64_t disk = store_->Counters().disk_reads;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Get(*store_, {"h/hot", ""}, &got).ok());
  EXPECT_EQ(store_->Counters().disk_reads, disk);
  EXPECT_GE(store_->Counters().ram_cache_hits, 5u);
}

}  // namespace
}  // namespace edgecache
