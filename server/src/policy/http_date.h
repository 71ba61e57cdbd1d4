// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms
// that a recipient must still accept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgecache::policy {

// Unix seconds, or nullopt for anything that is not a valid HTTP date.
std::optional<int64_t> ParseHttpDate(std::string_view text);

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::string FormatHttpDate(int64_t unix_seconds);

}  // namespace edgecache::policy
