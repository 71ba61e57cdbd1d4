#include "format/index_layout.h"

#include "format/coding.h"

namespace edgecache::format {
namespace {

constexpr unsigned char kEntryValueVersion = 1;
constexpr uint64_t kFlagInvalidated = 1;

}  // namespace

std::string EntryKey(const ObjectKey& key) {
  std::string out = EntryKeyPrefix(key.primary);
  out += key.secondary;
  return out;
}

std::string EntryKeyPrefix(std::string_view primary) {
  std::string out(primary);
  out.push_back('\0');
  return out;
}

bool SplitEntryKey(std::string_view entry_key, ObjectKey* key) {
  size_t nul = entry_key.find('\0');
  if (nul == std::string_view::npos) return false;
  key->primary.assign(entry_key.substr(0, nul));
  key->secondary.assign(entry_key.substr(nul + 1));
  return true;
}

std::string_view EntryKeyPrimary(std::string_view entry_key) {
  return entry_key.substr(0, entry_key.find('\0'));
}

std::string TagKey(std::string_view tag, std::string_view entry_key) {
  std::string out = TagKeyPrefix(tag);
  out.append(entry_key);
  return out;
}

std::string TagKeyPrefix(std::string_view tag) {
  std::string out(tag);
  out.push_back('\0');
  return out;
}

bool SplitTagKey(std::string_view tag_key, std::string_view* tag, std::string_view* entry_key) {
  const size_t nul = tag_key.find('\0');
  if (nul == std::string_view::npos) return false;
  *tag = tag_key.substr(0, nul);
  *entry_key = tag_key.substr(nul + 1);
  return true;
}

std::string SegmentRecordKey(uint64_t segment) {
  std::string out(1, kSegmentRecordTag);
  PutBigEndian64(&out, segment);
  return out;
}

std::string SegmentBatchPrefix(uint64_t segment) {
  std::string out(1, 'M');
  PutBigEndian64(&out, segment);
  return out;
}

std::string SegmentBatchKey(uint64_t segment, uint64_t offset) {
  std::string out = SegmentBatchPrefix(segment);
  PutBigEndian64(&out, offset);
  return out;
}

std::string EncodeSegmentBatch(const std::vector<std::string_view>& entry_keys) {
  std::string out;
  PutVarint64(&out, entry_keys.size());
  for (std::string_view key : entry_keys) PutLengthPrefixed(&out, key);
  return out;
}

bool DecodeSegmentBatch(std::string_view value, std::vector<std::string_view>* entry_keys) {
  entry_keys->clear();
  Decoder d(value);
  const uint64_t n = d.Varint64();
  for (uint64_t i = 0; d.ok() && i < n; ++i) {
    std::string_view key = d.LengthPrefixed();
    if (d.ok()) entry_keys->push_back(key);
  }
  return d.ok() && d.done();
}

std::string SegmentMemberPrefix(uint64_t segment) {
  std::string out(1, 'K');
  PutBigEndian64(&out, segment);
  return out;
}

std::string SegmentMemberKey(uint64_t segment, std::string_view entry_key) {
  std::string out = SegmentMemberPrefix(segment);
  out.append(entry_key);
  return out;
}

std::string RuleKey(uint64_t seq) {
  std::string out(kMetaRulePrefix);
  PutBigEndian64(&out, seq);
  return out;
}

std::string EncodeEntry(const ObjectInfo& info) {
  const ObjectMeta& m = info.meta;
  std::string out;
  out.push_back(static_cast<char>(kEntryValueVersion));
  PutVarint64(&out, info.version);
  PutVarint64(&out, info.body_version);
  PutVarint64(&out, info.invalidated ? kFlagInvalidated : 0);
  PutVarint64(&out, info.body_length);
  PutFixed64(&out, info.body_hash);
  PutVarsint64(&out, info.stored_at);
  PutVarint64(&out, m.status);
  PutLengthPrefixed(&out, m.etag);
  PutVarsint64(&out, m.last_modified);
  PutVarsint64(&out, m.date);
  PutVarsint64(&out, m.request_time);
  PutVarsint64(&out, m.response_time);
  PutVarsint64(&out, m.freshness_lifetime);
  PutVarsint64(&out, m.stale_while_revalidate);
  PutVarsint64(&out, m.stale_if_error);
  PutVarint64(&out, m.policy_flags);
  PutVarint64(&out, m.headers.size());
  for (const auto& [name, value] : m.headers) {
    PutLengthPrefixed(&out, name);
    PutLengthPrefixed(&out, value);
  }
  PutVarint64(&out, m.tags.size());
  for (const auto& tag : m.tags) PutLengthPrefixed(&out, tag);
  PutVarint64(&out, m.vary.size());
  for (const auto& name : m.vary) PutLengthPrefixed(&out, name);
  PutVarint64(&out, info.extents.size());
  for (const auto& e : info.extents) {
    PutVarint64(&out, e.segment);
    PutVarint64(&out, e.offset);
    PutVarint64(&out, e.length);
  }
  return out;
}

Status DecodeEntry(std::string_view value, ObjectInfo* info) {
  if (value.empty() || static_cast<unsigned char>(value[0]) != kEntryValueVersion) {
    return Status::Corruption("index entry: unknown value version");
  }
  Decoder d(value.substr(1));
  ObjectMeta& m = info->meta;
  info->version = d.Varint64();
  info->body_version = d.Varint64();
  info->invalidated = (d.Varint64() & kFlagInvalidated) != 0;
  info->body_length = d.Varint64();
  info->body_hash = d.Fixed64();
  info->stored_at = d.Varsint64();
  m.status = static_cast<uint16_t>(d.Varint64());
  m.etag.assign(d.LengthPrefixed());
  m.last_modified = d.Varsint64();
  m.date = d.Varsint64();
  m.request_time = d.Varsint64();
  m.response_time = d.Varsint64();
  m.freshness_lifetime = d.Varsint64();
  m.stale_while_revalidate = d.Varsint64();
  m.stale_if_error = d.Varsint64();
  m.policy_flags = static_cast<uint32_t>(d.Varint64());
  // Counts are bounded by the remaining bytes so a corrupt count cannot allocate wildly.
  uint64_t n = d.Varint64();
  if (n > value.size()) return Status::Corruption("index entry: bad header count");
  m.headers.clear();
  for (uint64_t i = 0; i < n && d.ok(); ++i) {
    std::string name(d.LengthPrefixed());
    std::string val(d.LengthPrefixed());
    m.headers.emplace_back(std::move(name), std::move(val));
  }
  n = d.Varint64();
  if (n > value.size()) return Status::Corruption("index entry: bad tag count");
  m.tags.clear();
  for (uint64_t i = 0; i < n && d.ok(); ++i) m.tags.emplace_back(d.LengthPrefixed());
  n = d.Varint64();
  if (n > value.size()) return Status::Corruption("index entry: bad vary count");
  m.vary.clear();
  for (uint64_t i = 0; i < n && d.ok(); ++i) m.vary.emplace_back(d.LengthPrefixed());
  n = d.Varint64();
  if (n > value.size()) return Status::Corruption("index entry: bad extent count");
  info->extents.clear();
  uint64_t total = 0;
  for (uint64_t i = 0; i < n && d.ok(); ++i) {
    BodyExtent e;
    e.segment = d.Varint64();
    const uint64_t offset = d.Varint64();
    const uint64_t length = d.Varint64();
    // Bounded before anything is allocated from them: a chunk record lies inside one
    // segment (at most 4 GiB) and holds at most a quarter of it.
    if (offset > UINT32_MAX || length == 0 || length > kMaxChunkBytes) {
      return Status::Corruption("index entry: extent out of bounds");
    }
    e.offset = static_cast<uint32_t>(offset);
    e.length = static_cast<uint32_t>(length);
    total += e.length;
    info->extents.push_back(e);
  }
  if (!d.ok() || !d.done()) return Status::Corruption("index entry: truncated or overlong");
  if (total != info->body_length) return Status::Corruption("index entry: extents != length");
  return Status::OK();
}

std::string EncodeVaryNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out.push_back('\n');
    out += n;
  }
  return out;
}

std::vector<std::string> DecodeVaryNames(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    size_t nl = value.find('\n');
    out.emplace_back(value.substr(0, nl));
    if (nl == std::string_view::npos) break;
    value.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace edgecache::format
