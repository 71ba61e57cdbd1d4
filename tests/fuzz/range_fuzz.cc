// Fuzz target: Range, If-Range and Content-Range (http/headers.h) against a body length
// taken from the input. A satisfiable range lies inside the body; a parsed Content-Range
// lies inside its complete length.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/headers.h"
#include "http/range.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgecache::http_util;
  FuzzedDataProvider in(data, size);
  const uint64_t length = in.ConsumeIntegral<uint64_t>();
  const std::string etag = in.ConsumeRandomLengthString(64);
  const int64_t last_modified = in.ConsumeIntegral<int64_t>();
  const std::string if_range = in.ConsumeRandomLengthString(128);
  const std::string range = in.ConsumeRemainingBytesAsString();
  ByteRange r = ParseRange(range, length);
  if (r.kind == ByteRange::kSatisfiable && !(r.first <= r.last && r.last < length)) std::abort();
  if (auto cr = ParseContentRange(range);
      cr && !(cr->first <= cr->last && cr->last < cr->complete_length)) {
    std::abort();
  }
  (void)IfRangeMatches(if_range, etag, last_modified);
  (void)IfNoneMatchMatches(if_range, etag);
  return 0;
}
