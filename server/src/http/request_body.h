// RequestBody: a client request's body, read from its connection piece by piece while it is
// forwarded, so a request body is never held whole in memory (nor copied for the origin).
//
// The node reads the request header, then hands the proxy the header and this. The body
// is bounded by limits.max_request_body_bytes (an error past it) and each read by the client
// timeout. A connection may carry another request only once done() (its body was read to
// the end); Discard reads and drops what is left, for requests whose body is not forwarded.
//
// Thread safety: none; used by the one coroutine that serves the connection.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

#include "net/stream.h"

namespace edgecache::http_util {

class RequestBody {
 public:
  // `head` has read the header (and nothing of the body).
  RequestBody(net::Stream& stream, boost::beast::flat_buffer& buffer,
              boost::beast::http::request_parser<boost::beast::http::empty_body>&& head,
              uint64_t limit, std::chrono::milliseconds timeout);

  // No body, or every byte of it read.
  bool done() const { return parser_.is_done(); }
  // Content-Length, or nullopt for a chunked body.
  std::optional<uint64_t> length() const;
  // At most `size` bytes of the body into `data`: 0 once done(). Sets `ec` on a read
  // error, a timeout, or a body past the limit.
  boost::asio::awaitable<size_t> Read(char* data, size_t size, boost::system::error_code& ec);
  // Reads the rest and drops it. False when that failed (the connection must close).
  boost::asio::awaitable<bool> Discard();

 private:
  net::Stream& stream_;
  boost::beast::flat_buffer& buffer_;
  boost::beast::http::request_parser<boost::beast::http::buffer_body> parser_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace edgecache::http_util
