// Helpers shared by the fuzz targets.
#pragma once

#include <boost/beast/http.hpp>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace edgecache::fuzz {

// A failed invariant: libFuzzer records the input as a crash.
inline void Check(bool ok) {
  if (!ok) std::abort();
}

// The message head at the start of `input`, parsed as the node parses one (16 KiB limit);
// nullopt when it is not a complete, valid head.
template <bool isRequest>
std::optional<boost::beast::http::header<isRequest>> ParseHead(std::string_view input) {
  namespace http = boost::beast::http;
  http::parser<isRequest, http::empty_body> parser;
  parser.header_limit(16 * 1024);
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(input.data(), input.size()), ec);
  if (ec || !parser.is_header_done()) return std::nullopt;
  return parser.get().base();
}

}  // namespace edgecache::fuzz
