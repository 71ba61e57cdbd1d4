// Fuzz target: chunk records and segment headers as read back from a segment file
// (format/record.h). Whatever the bytes, verification either accepts a record whose data
// lies inside it or refuses it; a record sealed from fuzzed data always verifies.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "format/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgecache::format;
  FuzzedDataProvider in(data, size);
  const std::string key = in.ConsumeRandomLengthString(64);
  const uint64_t version = in.ConsumeIntegral<uint64_t>();
  const uint64_t offset = in.ConsumeIntegral<uint64_t>();
  const std::string bytes = in.ConsumeRemainingBytesAsString();

  // Untrusted bytes, as read from disk.
  std::string_view found;
  if (VerifyChunkRecord(bytes, key, version, offset, static_cast<uint32_t>(bytes.size() / 2),
                        &found)
          .ok()) {
    if (found.data() < bytes.data() || found.data() + found.size() > bytes.data() + bytes.size())
      std::abort();
  }
  ChunkHeader header;
  (void)ParseChunkHeader(bytes, &header);
  SegmentHeader segment;
  (void)DecodeSegmentHeader(bytes, &segment);

  // A record sealed here verifies, and only as itself.
  std::string record(ChunkRecordSize(key.size(), 0), '\0');
  record += bytes;
  SealChunkRecord(&record, key, version, offset);
  std::string_view sealed;
  if (!VerifyChunkRecord(record, key, version, offset, static_cast<uint32_t>(bytes.size()), &sealed)
           .ok() ||
      sealed != bytes) {
    std::abort();
  }
  if (VerifyChunkRecord(record, key, version + 1, offset, static_cast<uint32_t>(bytes.size()),
                        &sealed)
          .ok()) {
    std::abort();
  }
  return 0;
}
