#include "http/response_writer.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>

namespace edgecache::http_util {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr auto kToken = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
}  // namespace

ResponseWriter::ResponseWriter(net::Stream& stream, const http::response_header<>& header)
    : stream_(stream),
      chunked_(http::token_list(header[http::field::transfer_encoding]).exists("chunked")) {
  head_.reserve(512);
  head_ += "HTTP/1.1 ";
  head_ += std::to_string(header.result_int());
  head_ += ' ';
  const std::string_view reason = header.reason();
  head_.append(reason.data(), reason.size());
  head_ += kCrlf;
  for (const auto& f : header) {
    head_.append(f.name_string().data(), f.name_string().size());
    head_ += ": ";
    head_.append(f.value().data(), f.value().size());
    head_ += kCrlf;
  }
  head_ += kCrlf;
}

ResponseWriter::ResponseWriter(net::Stream& stream, std::string head, bool chunked)
    : stream_(stream), head_(std::move(head)), chunked_(chunked) {}

asio::awaitable<boost::system::error_code> ResponseWriter::WriteHeader() {
  if (header_sent_) co_return boost::system::error_code{};
  header_sent_ = true;
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(head_), kToken);
  co_return ec;
}

asio::awaitable<boost::system::error_code> ResponseWriter::Write(std::string_view piece) {
  if (piece.empty()) co_return co_await WriteHeader();
  std::string_view size_line, trailer;
  if (chunked_) {
    const int n = std::snprintf(chunk_size_, sizeof chunk_size_, "%zx\r\n", piece.size());
    size_line = std::string_view(chunk_size_, static_cast<size_t>(n));
    trailer = kCrlf;
  }
  const std::array<asio::const_buffer, 4> buffers = {
      asio::buffer(header_sent_ ? std::string_view() : std::string_view(head_)),
      asio::buffer(size_line), asio::buffer(piece.data(), piece.size()), asio::buffer(trailer)};
  header_sent_ = true;
  auto [ec, n] = co_await asio::async_write(stream_, buffers, kToken);
  co_return ec;
}

asio::awaitable<boost::system::error_code> ResponseWriter::Finish() {
  const std::array<asio::const_buffer, 2> buffers = {
      asio::buffer(header_sent_ ? std::string_view() : std::string_view(head_)),
      asio::buffer(chunked_ ? kLastChunk : std::string_view())};
  header_sent_ = true;
  if (asio::buffer_size(buffers) == 0) co_return boost::system::error_code{};
  auto [ec, n] = co_await asio::async_write(stream_, buffers, kToken);
  co_return ec;
}

}  // namespace edgecache::http_util
