// Byte ranges (RFC 9110 §14): the Range a client asks for, If-Range, and Content-Range,
// for ranges answered from a stored body, cut out of a fetch as it streams, or stored
// as parts. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgecache::http_util {

// A Range request header against a body of `length` bytes (RFC 9110 §14.2). Only one
// byte range is served; several ranges, other units or a malformed value are ignored
// (a full 200 is always a valid answer).
struct ByteRange {
  enum Kind { kIgnore, kSatisfiable, kUnsatisfiable } kind = kIgnore;
  uint64_t first = 0, last = 0;  // inclusive, when satisfiable
};
ByteRange ParseRange(std::string_view range, uint64_t length);

// A Content-Range of one satisfied byte range with a known complete length (RFC 9110
// §14.4): "bytes 4-9/10". nullopt for "bytes */10", an unknown length ("/*"), other units
// or anything malformed.
struct ContentRange {
  uint64_t first = 0, last = 0;  // inclusive
  uint64_t complete_length = 0;
  uint64_t size() const { return last - first + 1; }
};
std::optional<ContentRange> ParseContentRange(std::string_view value);

// If-Range (RFC 9110 §13.1.5): true when the stored representation is the one the client
// has, so the range applies. ETags compare strongly; dates must equal Last-Modified.
bool IfRangeMatches(std::string_view if_range, std::string_view etag, int64_t last_modified);

// The range a request asks of a representation of `length` bytes with these validators:
// its Range when If-Range (if any) matches them, else kIgnore (the whole is answered).
ByteRange RequestedRange(std::string_view range, std::string_view if_range, std::string_view etag,
                         int64_t last_modified, uint64_t length);

// The Content-Range of an answer: "bytes 0-99/1000", or "bytes */1000" when unsatisfiable.
std::string ContentRangeValue(const ByteRange& range, uint64_t complete_length);

}  // namespace edgecache::http_util
