#include "format/record.h"

#include <xxhash.h>

#include "format/coding.h"

namespace edgecache::format {
namespace {

// Checksum over the header's first 40 bytes and the key.
uint64_t HeaderChecksum(std::string_view header40, std::string_view key) {
  XXH64_hash_t seed = XXH3_64bits(header40.data(), header40.size());
  return XXH3_64bits_withSeed(key.data(), key.size(), seed);
}

}  // namespace

uint64_t Checksum(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string out;
  out.reserve(kSegmentHeaderSize);
  PutFixed32(&out, kSegmentMagic);
  PutFixed16(&out, kSegmentFormatVersion);
  PutFixed16(&out, 0);
  PutFixed64(&out, header.segment_id);
  PutFixed64(&out, static_cast<uint64_t>(header.created_at));
  PutFixed64(&out, header.segment_bytes);
  out.resize(kSegmentHeaderSize - 8, '\0');
  PutFixed64(&out, Checksum(out));
  return out;
}

Status DecodeSegmentHeader(std::string_view bytes, SegmentHeader* header) {
  if (bytes.size() < kSegmentHeaderSize) return Status::Corruption("segment header truncated");
  if (DecodeFixed32(bytes.data()) != kSegmentMagic) {
    return Status::Corruption("segment header: bad magic");
  }
  if (DecodeFixed64(bytes.data() + kSegmentHeaderSize - 8) !=
      Checksum(bytes.substr(0, kSegmentHeaderSize - 8))) {
    return Status::Corruption("segment header: checksum mismatch");
  }
  uint16_t version = DecodeFixed16(bytes.data() + 4);
  if (version != kSegmentFormatVersion) {
    return Status::Incompatible("segment format version " + std::to_string(version));
  }
  header->segment_id = DecodeFixed64(bytes.data() + 8);
  header->created_at = static_cast<int64_t>(DecodeFixed64(bytes.data() + 16));
  header->segment_bytes = DecodeFixed64(bytes.data() + 24);
  return Status::OK();
}

std::string EncodeChunkPrefix(const ChunkHeader& header, std::string_view key) {
  std::string out;
  out.reserve(kChunkHeaderSize + key.size());
  PutFixed32(&out, kChunkMagic);
  PutFixed16(&out, kChunkFormatVersion);
  PutFixed16(&out, 0);
  PutFixed32(&out, header.key_length);
  PutFixed32(&out, header.data_length);
  PutFixed64(&out, header.body_version);
  PutFixed64(&out, header.body_offset);
  PutFixed64(&out, header.data_checksum);
  PutFixed64(&out, HeaderChecksum(out, key));
  out.append(key);
  return out;
}

void SealChunkRecord(std::string* record, std::string_view key, uint64_t body_version,
                     uint64_t body_offset) {
  const size_t prefix_size = kChunkHeaderSize + key.size();
  std::string_view data = std::string_view(*record).substr(prefix_size);
  ChunkHeader h;
  h.key_length = static_cast<uint32_t>(key.size());
  h.data_length = static_cast<uint32_t>(data.size());
  h.body_version = body_version;
  h.body_offset = body_offset;
  h.data_checksum = Checksum(data);
  record->replace(0, prefix_size, EncodeChunkPrefix(h, key));
}

Status ParseChunkHeader(std::string_view bytes, ChunkHeader* header) {
  if (bytes.size() < kChunkHeaderSize || DecodeFixed32(bytes.data()) != kChunkMagic) {
    return Status::NotFound("no chunk record here");
  }
  uint16_t version = DecodeFixed16(bytes.data() + 4);
  if (version != kChunkFormatVersion) {
    return Status::Incompatible("chunk format version " + std::to_string(version));
  }
  header->key_length = DecodeFixed32(bytes.data() + 8);
  header->data_length = DecodeFixed32(bytes.data() + 12);
  header->body_version = DecodeFixed64(bytes.data() + 16);
  header->body_offset = DecodeFixed64(bytes.data() + 24);
  header->data_checksum = DecodeFixed64(bytes.data() + 32);
  return Status::OK();
}

Status VerifyChunkRecord(std::string_view record, std::string_view key, uint64_t body_version,
                         uint64_t body_offset, uint32_t data_length, std::string_view* data) {
  ChunkHeader h;
  Status s = ParseChunkHeader(record, &h);
  if (!s.ok()) {
    if (s.IsNotFound()) return Status::Corruption("chunk record: bad magic");
    return s;
  }
  if (h.key_length != key.size() || h.data_length != data_length ||
      record.size() != ChunkRecordSize(h.key_length, h.data_length)) {
    return Status::Corruption("chunk record: length mismatch");
  }
  std::string_view stored_key = record.substr(kChunkHeaderSize, h.key_length);
  if (DecodeFixed64(record.data() + 40) != HeaderChecksum(record.substr(0, 40), stored_key)) {
    return Status::Corruption("chunk record: header checksum mismatch");
  }
  if (stored_key != key || h.body_version != body_version || h.body_offset != body_offset) {
    return Status::Corruption("chunk record belongs to another object");
  }
  std::string_view body = record.substr(kChunkHeaderSize + h.key_length);
  if (Checksum(body) != h.data_checksum) {
    return Status::Corruption("chunk record: data checksum mismatch");
  }
  *data = body;
  return Status::OK();
}

}  // namespace edgecache::format
