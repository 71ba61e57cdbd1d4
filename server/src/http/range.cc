#include "http/range.h"

#include <algorithm>

#include "http/http_date.h"
#include "util/ascii.h"

namespace edgecache::http_util {

using util::TrimOws;

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  value = TrimOws(value);
  if (!value.starts_with("bytes ")) return std::nullopt;
  value.remove_prefix(6);
  // Exactly 1*DIGIT, no sign or space, at most 19 digits (no overflow).
  auto number = [&value](char until, uint64_t* out) {
    const size_t end = until == '\0' ? value.size() : value.find(until);
    if (end == 0 || end == std::string_view::npos || end > 19) return false;
    uint64_t v = 0;
    for (char c : value.substr(0, end)) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    value.remove_prefix(end == value.size() ? end : end + 1);
    return true;
  };
  ContentRange r;
  if (!number('-', &r.first) || !number('/', &r.last) || !number('\0', &r.complete_length)) {
    return std::nullopt;
  }
  if (r.first > r.last || r.last >= r.complete_length) return std::nullopt;
  return r;
}

ByteRange ParseRange(std::string_view range, uint64_t length) {
  ByteRange r;
  range = TrimOws(range);
  if (!range.starts_with("bytes=")) return r;
  std::string_view spec = TrimOws(range.substr(6));
  if (spec.find(',') != std::string_view::npos) return r;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return r;
  auto number = [](std::string_view t, uint64_t* out) {
    t = TrimOws(t);
    if (t.empty() || t.size() > 19) return false;
    uint64_t v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *out = v;
    return true;
  };
  uint64_t a = 0, b = 0;
  const bool has_a = number(spec.substr(0, dash), &a);
  const bool has_b = number(spec.substr(dash + 1), &b);
  if (!has_a && !TrimOws(spec.substr(0, dash)).empty()) return r;
  if (!has_b && !TrimOws(spec.substr(dash + 1)).empty()) return r;
  if (has_a) {
    if (has_b && b < a) return r;
    if (a >= length) {
      r.kind = ByteRange::kUnsatisfiable;
      return r;
    }
    r.first = a;
    r.last = has_b ? std::min(b, length - 1) : length - 1;
  } else {
    if (!has_b) return r;
    if (b == 0 || length == 0) {
      r.kind = ByteRange::kUnsatisfiable;
      return r;
    }
    r.first = b >= length ? 0 : length - b;
    r.last = length - 1;
  }
  r.kind = ByteRange::kSatisfiable;
  return r;
}

bool IfRangeMatches(std::string_view if_range, std::string_view etag, int64_t last_modified) {
  if_range = TrimOws(if_range);
  if (if_range.starts_with("\"") || if_range.starts_with("W/")) {
    // Strong comparison: neither may be weak.
    return !etag.empty() && !etag.starts_with("W/") && !if_range.starts_with("W/") &&
           if_range == TrimOws(etag);
  }
  auto date = http_util::ParseHttpDate(if_range);
  return date && last_modified != 0 && *date == last_modified;
}

ByteRange RequestedRange(std::string_view range, std::string_view if_range, std::string_view etag,
                         int64_t last_modified, uint64_t length) {
  if (range.empty() || (!if_range.empty() && !IfRangeMatches(if_range, etag, last_modified))) {
    return ByteRange{};
  }
  return ParseRange(range, length);
}

std::string ContentRangeValue(const ByteRange& range, uint64_t complete_length) {
  if (range.kind != ByteRange::kSatisfiable) return "bytes */" + std::to_string(complete_length);
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(complete_length);
}

}  // namespace edgecache::http_util
