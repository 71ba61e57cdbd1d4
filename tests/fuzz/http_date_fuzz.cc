// Fuzz target: HTTP-date parsing (IMF-fixdate, RFC 850, asctime) as used for Date,
// Expires, Last-Modified, If-Modified-Since and If-Range. A date that parses formats
// back to an IMF-fixdate that parses to the same instant.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/http_date.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgecache::http_util;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto t = ParseHttpDate(input);
  if (!t) return 0;
  if (*t < 0 || *t > 253402300799) return 0;  // years 1970..9999 round-trip
  const std::string formatted = FormatHttpDate(*t);
  if (ParseHttpDate(formatted) != t) std::abort();
  return 0;
}
