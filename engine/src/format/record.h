// On-disk layout of body segment files (docs/storage-format.md is the reference).
//
//   segment file = SegmentHeader (64 bytes) + chunk records, appended; unused space is zero.
//   chunk record = ChunkHeader (48 bytes) + object key + body bytes
//
// Every record carries its object's key, the version of the insert that wrote it and two
// checksums (header+key, data), so a segment can be scanned to verify or rebuild the index
// and a read can prove that the bytes it got belong to the object it wanted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "edgecache/status.h"

namespace edgecache::format {

inline constexpr uint32_t kSegmentMagic = 0x47455345;  // "ESEG" little-endian
inline constexpr uint32_t kChunkMagic = 0x4b4e4843;    // "CHNK" little-endian
inline constexpr uint16_t kSegmentFormatVersion = 1;
inline constexpr uint16_t kChunkFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 64;
inline constexpr size_t kChunkHeaderSize = 48;

struct SegmentHeader {
  uint64_t segment_id = 0;
  int64_t created_at = 0;  // Unix seconds
  uint64_t segment_bytes = 0;
};

// Exactly kSegmentHeaderSize bytes.
std::string EncodeSegmentHeader(const SegmentHeader& header);
Status DecodeSegmentHeader(std::string_view bytes, SegmentHeader* header);

struct ChunkHeader {
  uint32_t key_length = 0;
  uint32_t data_length = 0;
  uint64_t body_version = 0;  // the insert that wrote the chunk
  uint64_t body_offset = 0;   // where the chunk's bytes sit in the object's body
  uint64_t data_checksum = 0;
};

inline size_t ChunkRecordSize(size_t key_length, size_t data_length) {
  return kChunkHeaderSize + key_length + data_length;
}

// Header and key of a chunk record; the data follows them on disk.
std::string EncodeChunkPrefix(const ChunkHeader& header, std::string_view key);

// Completes a record built as ChunkRecordSize(key.size(), 0) placeholder bytes followed by
// the chunk's data: writes the header (checksums included) and key over the placeholder.
void SealChunkRecord(std::string* record, std::string_view key, uint64_t body_version,
                     uint64_t body_offset);

// Checks a whole chunk record read from disk: magic, version, header checksum, and that it
// is the chunk of `key` written by `body_version` at `body_offset` with `data_length`
// bytes whose checksum matches. On success *data points at the body bytes inside `record`.
Status VerifyChunkRecord(std::string_view record, std::string_view key, uint64_t body_version,
                         uint64_t body_offset, uint32_t data_length, std::string_view* data);

// Parses a chunk header at the start of `bytes` without knowing what to expect (for
// scans). NotFound when the bytes are not a chunk header (end of the written part).
Status ParseChunkHeader(std::string_view bytes, ChunkHeader* header);

uint64_t Checksum(std::string_view bytes);

}  // namespace edgecache::format
