// Fuzz target: index entry values as read back from RocksDB (format/index_layout.h). A
// value that decodes re-encodes to one that decodes to the same entry; nothing decoded
// can size an allocation past the bounds of a chunk. The same bytes as a segment's member
// list: what decodes (even partly) lies inside the value and survives a re-encoding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "format/index_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgecache;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> members, again_members;
  format::DecodeSegmentBatch(input, &members);
  for (std::string_view m : members) {
    if (m.data() < input.data() || m.data() + m.size() > input.data() + input.size()) std::abort();
  }
  const std::string encoded = format::EncodeSegmentBatch(members);
  if (!format::DecodeSegmentBatch(encoded, &again_members) || again_members != members) {
    std::abort();
  }
  ObjectInfo info;
  if (!format::DecodeEntry(input, &info).ok()) return 0;
  uint64_t total = 0;
  for (const BodyExtent& e : info.extents) {
    if (e.length == 0 || e.length > format::kMaxChunkBytes) std::abort();
    total += e.length;
  }
  if (total != info.body_length) std::abort();
  ObjectInfo again;
  if (!format::DecodeEntry(format::EncodeEntry(info), &again).ok()) std::abort();
  if (again.extents != info.extents || again.meta.headers != info.meta.headers ||
      again.meta.vary != info.meta.vary || again.meta.tags != info.meta.tags ||
      again.body_length != info.body_length || again.version != info.version) {
    std::abort();
  }
  (void)format::DecodeVaryNames(input);
  return 0;
}
