// Keys and values of the RocksDB index (docs/storage-format.md is the reference).
//
// Column families:
//   default   store metadata: format version, reserved version numbers, the oldest live
//             segment, counters at clean close, purge rules ("rule/" + big-endian seq),
//             purge-log positions ("log/" + log name)
//   entries   EntryKey(key) -> EncodeEntry(info)
//   vary      primary key -> Vary header names, '\n'-separated
//   tags      tag '\0' EntryKey -> "" (purge and list by tag are prefix scans)
//   segments  'S' id -> segment record; 'M' id offset -> the entry keys of one batch with a
//             chunk in the segment (so a reclaimed segment's entries are found without a
//             full scan); 'K' id EntryKey -> "" (one member per key: format version 1)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/object.h"
#include "edgecache/status.h"

namespace edgecache::format {

inline constexpr char kEntriesFamily[] = "entries";
inline constexpr char kVaryFamily[] = "vary";
inline constexpr char kTagsFamily[] = "tags";
inline constexpr char kSegmentsFamily[] = "segments";

inline constexpr char kMetaFormatVersion[] = "format_version";
inline constexpr char kMetaVersionReserved[] = "version_reserved";
inline constexpr char kMetaMinLiveSegment[] = "min_live_segment";
inline constexpr char kMetaCounters[] = "counters";
inline constexpr char kMetaRulePrefix[] = "rule/";
inline constexpr char kMetaLogPositionPrefix[] = "log/";  // + log name -> position

// The format version of the whole store (index layout + segment records). Version 2 added
// the batch member keys ('M'); a store of version 1 is read as it is and marked version 2
// when opened for writing.
inline constexpr uint32_t kStoreFormatVersion = 2;
inline constexpr uint32_t kOldestStoreFormatVersion = 1;
// The largest chunk a body extent can hold: StoreOptions caps chunk_bytes at a quarter of
// segment_bytes, which is at most 4 GiB.
inline constexpr uint64_t kMaxChunkBytes = 1ull << 30;

// primary '\0' secondary
std::string EntryKey(const ObjectKey& key);
// EntryKey(key).size(), without building it.
inline size_t EntryKeySize(const ObjectKey& key) {
  return key.primary.size() + 1 + key.secondary.size();
}
std::string EntryKeyPrefix(std::string_view primary);  // primary '\0'
bool SplitEntryKey(std::string_view entry_key, ObjectKey* key);
// The primary key an entry key starts with (a view into it; all of it without a '\0').
std::string_view EntryKeyPrimary(std::string_view entry_key);

std::string TagKey(std::string_view tag, std::string_view entry_key);
std::string TagKeyPrefix(std::string_view tag);
// The inverse of TagKey; false for a key without the separator (views into `tag_key`).
bool SplitTagKey(std::string_view tag_key, std::string_view* tag, std::string_view* entry_key);

std::string SegmentRecordKey(uint64_t segment);
inline constexpr char kSegmentRecordTag = 'S';
// The entries written together into a segment: one key per batch, named by the offset of
// the batch's first chunk (a segment's offsets are each written once, so keys never clash).
std::string SegmentBatchKey(uint64_t segment, uint64_t offset);
std::string SegmentBatchPrefix(uint64_t segment);
std::string EncodeSegmentBatch(const std::vector<std::string_view>& entry_keys);
// False when the value does not decode (`entry_keys` then holds what did).
bool DecodeSegmentBatch(std::string_view value, std::vector<std::string_view>* entry_keys);
// Format version 1: one key per member, the entry key after the prefix.
std::string SegmentMemberKey(uint64_t segment, std::string_view entry_key);
std::string SegmentMemberPrefix(uint64_t segment);

std::string RuleKey(uint64_t seq);

// The entry value: everything in ObjectInfo except the key.
std::string EncodeEntry(const ObjectInfo& info);
Status DecodeEntry(std::string_view value, ObjectInfo* info);

std::string EncodeVaryNames(const std::vector<std::string>& names);
std::vector<std::string> DecodeVaryNames(std::string_view value);

}  // namespace edgecache::format
