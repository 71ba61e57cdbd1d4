// On-disk formats: chunk records, segment headers, index entries.
#include <gtest/gtest.h>

#include "format/coding.h"
#include "format/index_layout.h"
#include "format/record.h"

namespace edgecache::format {
namespace {

std::string Record(std::string_view key, std::string_view data, uint64_t version, uint64_t offset) {
  std::string record(ChunkRecordSize(key.size(), 0), '\0');
  record += data;
  SealChunkRecord(&record, key, version, offset);
  return record;
}

TEST(RecordTest, ChunkRoundTripAndEveryFlippedByteIsCaught) {
  const std::string key = std::string("h/a\0", 4);
  const std::string rec = Record(key, "hello, world", 7, 4096);
  ASSERT_EQ(rec.size(), ChunkRecordSize(key.size(), 12));
  std::string_view data;
  ASSERT_TRUE(VerifyChunkRecord(rec, key, 7, 4096, 12, &data).ok());
  EXPECT_EQ(data, "hello, world");

  for (size_t i = 0; i < rec.size(); ++i) {
    std::string bad = rec;
    bad[i] ^= 0x20;
    Status s = VerifyChunkRecord(bad, key, 7, 4096, 12, &data);
    EXPECT_FALSE(s.ok()) << "flip at byte " << i << " went unnoticed";
  }
}

TEST(RecordTest, ChunkOfAnotherObjectOrVersionIsRefused) {
  const std::string key = std::string("h/a\0", 4);
  const std::string rec = Record(key, "data", 7, 0);
  std::string_view data;
  EXPECT_TRUE(VerifyChunkRecord(rec, std::string("h/b\0", 4), 7, 0, 4, &data).IsCorruption());
  EXPECT_TRUE(VerifyChunkRecord(rec, key, 8, 0, 4, &data).IsCorruption());
  EXPECT_TRUE(VerifyChunkRecord(rec, key, 7, 16, 4, &data).IsCorruption());
  EXPECT_TRUE(VerifyChunkRecord(rec.substr(0, rec.size() - 1), key, 7, 0, 4, &data).IsCorruption());
  EXPECT_TRUE(VerifyChunkRecord(std::string(rec.size(), '\0'), key, 7, 0, 4, &data).IsCorruption());
}

TEST(RecordTest, SegmentHeaderRoundTrip) {
  std::string bytes = EncodeSegmentHeader({42, 1700000000, 1 << 20});
  ASSERT_EQ(bytes.size(), kSegmentHeaderSize);
  SegmentHeader h;
  ASSERT_TRUE(DecodeSegmentHeader(bytes, &h).ok());
  EXPECT_EQ(h.segment_id, 42u);
  EXPECT_EQ(h.created_at, 1700000000);
  bytes[9] ^= 1;
  EXPECT_TRUE(DecodeSegmentHeader(bytes, &h).IsCorruption());
}

TEST(IndexLayoutTest, EntryRoundTrip) {
  ObjectInfo in;
  in.meta.status = 203;
  in.meta.headers = {{"Content-Type", "text/html"}, {"X-Empty", ""}};
  in.meta.etag = "W/\"x\"";
  in.meta.last_modified = 1600000000;
  in.meta.date = -5;
  in.meta.freshness_lifetime = 86400;
  in.meta.stale_while_revalidate = 30;
  in.meta.stale_if_error = 600;
  in.meta.policy_flags = 0x5;
  in.meta.tags = {"a", "b"};
  in.meta.vary = {"accept-encoding"};
  in.version = 99;
  in.body_version = 98;
  in.invalidated = true;
  in.body_length = 30;
  in.body_hash = 0x1234567890abcdefull;
  in.stored_at = 1700000001;
  in.extents = {{3, 64, 10}, {4, 64, 20}};
  ObjectInfo out;
  ASSERT_TRUE(DecodeEntry(EncodeEntry(in), &out).ok());
  EXPECT_EQ(out.meta.status, 203);
  EXPECT_EQ(out.meta.headers, in.meta.headers);
  EXPECT_EQ(out.meta.etag, in.meta.etag);
  EXPECT_EQ(out.meta.date, -5);
  EXPECT_EQ(out.meta.stale_if_error, 600);
  EXPECT_EQ(out.meta.policy_flags, 5u);
  EXPECT_EQ(out.meta.tags, in.meta.tags);
  EXPECT_EQ(out.meta.vary, in.meta.vary);
  EXPECT_EQ(out.version, 99u);
  EXPECT_EQ(out.body_version, 98u);
  EXPECT_TRUE(out.invalidated);
  EXPECT_EQ(out.body_hash, in.body_hash);
  ASSERT_EQ(out.extents.size(), 2u);
  EXPECT_EQ(out.extents[1].segment, 4u);
  EXPECT_EQ(out.extents[1].length, 20u);
}

TEST(IndexLayoutTest, TruncatedOrGarbageEntriesAreCorruption) {
  ObjectInfo in;
  in.body_length = 5;
  in.extents = {{1, 64, 5}};
  std::string value = EncodeEntry(in);
  ObjectInfo out;
  for (size_t n = 0; n < value.size(); ++n) {
    EXPECT_FALSE(DecodeEntry(value.substr(0, n), &out).ok()) << n;
  }
  EXPECT_FALSE(DecodeEntry(value + "x", &out).ok());
  EXPECT_FALSE(DecodeEntry(std::string(100, '\xff'), &out).ok());
}

TEST(IndexLayoutTest, ExtentsOutOfBoundsAreCorruptionBeforeAnyAllocation) {
  ObjectInfo empty;
  empty.body_length = 5;
  std::string prefix = EncodeEntry(empty);
  prefix.pop_back();  // the extent count, 0: one varint byte
  auto with_extent = [&](uint64_t offset, uint64_t length) {
    std::string value = prefix;
    PutVarint64(&value, 1);  // one extent
    PutVarint64(&value, 1);  // segment
    PutVarint64(&value, offset);
    PutVarint64(&value, length);
    return value;
  };
  ObjectInfo out;
  ASSERT_TRUE(DecodeEntry(with_extent(64, 5), &out).ok());  // the shape is right
  EXPECT_TRUE(DecodeEntry(with_extent(1ull << 33, 5), &out).IsCorruption());
  EXPECT_TRUE(DecodeEntry(with_extent(64, 0), &out).IsCorruption());
  EXPECT_TRUE(DecodeEntry(with_extent(64, (1ull << 32) + 5), &out).IsCorruption());
  EXPECT_TRUE(DecodeEntry(with_extent(64, kMaxChunkBytes + 1), &out).IsCorruption());
}

TEST(IndexLayoutTest, KeysSortAndSplit) {
  EXPECT_LT(EntryKey({"a", "zzz"}), EntryKey({"a/", ""}));  // variants of "a" stay together
  ObjectKey k;
  ASSERT_TRUE(SplitEntryKey(EntryKey({"h/p?q", "accept-encoding=gzip"}), &k));
  EXPECT_EQ(k.primary, "h/p?q");
  EXPECT_EQ(k.secondary, "accept-encoding=gzip");
  for (const ObjectKey& key : {ObjectKey{"h/p", ""}, ObjectKey{"h/p?q", "accept-encoding=gzip"}}) {
    EXPECT_EQ(EntryKeySize(key), EntryKey(key).size());
  }
  EXPECT_LT(SegmentRecordKey(9), SegmentRecordKey(10));
  EXPECT_LT(SegmentMemberPrefix(255), SegmentMemberPrefix(256));
}

TEST(SecondaryKeyTest, OrderAndCaseOfNamesDoNotMatter) {
  auto getter = [](std::string_view name) -> std::optional<std::string_view> {
    if (name == "accept-encoding") return "gzip";
    if (name == "accept-language") return "  en  ";
    return std::nullopt;
  };
  EXPECT_EQ(SecondaryKeyFor({"Accept-Language", "accept-encoding"}, getter),
            SecondaryKeyFor({"ACCEPT-ENCODING", "accept-language"}, getter));
  EXPECT_EQ(SecondaryKeyFor({"accept-encoding", "x-missing"}, getter),
            "accept-encoding=gzip\nx-missing=");
}

}  // namespace
}  // namespace edgecache::format
