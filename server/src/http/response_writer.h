// ResponseWriter: a response whose body reaches the client piece by piece as it arrives (a
// miss relayed from the origin, a collapsed request following one). The header is
// written into one buffer once and goes out in the same write as the first piece; each
// piece is framed as the header says: as it is under Content-Length, as a chunk under
// Transfer-Encoding: chunked. Beast's serializer did this with a buffer sequence walked
// per write, which cost more than the rest of the relay.
//
// Thread safety: none; used by the one coroutine that answers the request. The caller
// arms the stream's deadline before each call.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http.hpp>
#include <string>
#include <string_view>

#include "net/stream.h"

namespace edgecache::http_util {

class ResponseWriter {
 public:
  // `header` is complete: status, fields, and the framing its body will have.
  ResponseWriter(net::Stream& stream, const boost::beast::http::response_header<>& header);
  // The same, with the header already in wire form (HeaderBlock); `chunked` when it says
  // Transfer-Encoding: chunked.
  ResponseWriter(net::Stream& stream, std::string head, bool chunked);

  // The header, if not sent yet, alone.
  boost::asio::awaitable<boost::system::error_code> WriteHeader();
  // The header, if not sent yet, and `piece` framed, in one write. An empty piece sends
  // the header only (never a chunk of size 0, which would end a chunked body).
  boost::asio::awaitable<boost::system::error_code> Write(std::string_view piece);
  // The header, if not sent yet, and the end of a chunked body.
  boost::asio::awaitable<boost::system::error_code> Finish();

  bool header_sent() const { return header_sent_; }

 private:
  net::Stream& stream_;
  std::string head_;
  const bool chunked_;
  bool header_sent_ = false;
  char chunk_size_[24];  // "<hex>\r\n" of the chunk being written
};

}  // namespace edgecache::http_util
