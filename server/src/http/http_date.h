// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms
// that a recipient must still accept. Parsing is strict about the grammar (field widths,
// single spaces, "GMT") and, as most recipients are, case-insensitive about the names of
// days and months and about "GMT".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgecache::http_util {

// Unix seconds, or nullopt for anything that is not a valid HTTP date. `now` places the
// two-digit year of an RFC 850 date: one that would be more than 50 years ahead of `now`
// is the most recent such year in the past.
std::optional<int64_t> ParseHttpDate(std::string_view text, int64_t now);
// The same, placing two-digit years relative to the system clock.
std::optional<int64_t> ParseHttpDate(std::string_view text);

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::string FormatHttpDate(int64_t unix_seconds);

}  // namespace edgecache::http_util
