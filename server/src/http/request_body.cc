#include "http/request_body.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

namespace edgecache::http_util {

namespace http = boost::beast::http;

RequestBody::RequestBody(net::Stream& stream, boost::beast::flat_buffer& buffer,
                         http::request_parser<http::empty_body>&& head, uint64_t limit,
                         std::chrono::milliseconds timeout)
    : stream_(stream), buffer_(buffer), parser_(std::move(head)), timeout_(timeout) {
  parser_.body_limit(limit);
}

std::optional<uint64_t> RequestBody::length() const {
  auto n = parser_.content_length();
  return n ? std::optional<uint64_t>(*n) : std::nullopt;
}

boost::asio::awaitable<size_t> RequestBody::Read(char* data, size_t size,
                                                 boost::system::error_code& ec) {
  ec = {};
  if (parser_.is_done()) co_return 0;
  parser_.get().body().data = data;
  parser_.get().body().size = size;
  stream_.expires_after(timeout_);
  auto [read_error, n] = co_await http::async_read_some(
      stream_, buffer_, parser_, boost::asio::as_tuple(boost::asio::use_awaitable));
  if (read_error == http::error::need_buffer) read_error = {};
  ec = read_error;
  co_return size - parser_.get().body().size;
}

boost::asio::awaitable<bool> RequestBody::Discard() {
  std::vector<char> sink(16 * 1024);
  boost::system::error_code ec;
  while (!done()) {
    co_await Read(sink.data(), sink.size(), ec);
    if (ec) co_return false;
  }
  co_return true;
}

}  // namespace edgecache::http_util
