// Stream: one connection, plain TCP or TLS over TCP, behind the one interface Beast's HTTP
// reads and writes take (AsyncReadStream, AsyncWriteStream), with deadlines
// (net/timed_socket.h). Connections to origins (TLS client) and from clients (TLS server)
// both.
//
// Thread safety: as TimedSocket's: used by one coroutine at a time, on its io_context's
// thread.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cerrno>
#include <iterator>
#include <optional>
#include <vector>

#include "net/timed_socket.h"

namespace edgecache::net {

class Stream {
 public:
  using executor_type = boost::asio::any_io_executor;

  explicit Stream(const executor_type& executor) { plain_.emplace(executor); }
  explicit Stream(boost::asio::ip::tcp::socket socket) { plain_.emplace(std::move(socket)); }

  // Turns the connected stream into a TLS stream (the handshake, client or server, is the
  // caller's).
  void StartTls(boost::asio::ssl::context& context) {
    tls_.emplace(std::move(*plain_), context);
    plain_.reset();
  }
  bool tls() const { return tls_.has_value(); }
  boost::asio::ssl::stream<TimedSocket>& tls_stream() { return *tls_; }

  TimedSocket& timed() { return plain_ ? *plain_ : tls_->next_layer(); }
  boost::asio::ip::tcp::socket& socket() { return timed().socket(); }
  executor_type get_executor() { return timed().get_executor(); }
  // Operations (TLS handshakes included) must be over within `d` from now, else they
  // fail with beast::error::timeout and the connection is closed.
  template <typename Duration>
  void expires_after(Duration d) {
    timed().expires_after(d);
  }
  void expires_never() { timed().expires_never(); }

  // What was read from the connection and not parsed yet. It stays with the connection,
  // so a reused keep-alive connection reads into memory it already has; it is empty between
  // requests (a connection with bytes past its last response is never reused).
  boost::beast::flat_buffer& read_buffer() { return read_buffer_; }

  // True when nothing waits to be read: no byte held by TLS or in the socket, and no end
  // of stream. An idle keep-alive connection must be quiet: bytes sent past the last
  // response would be read as the answer to the next request. One non-blocking peek.
  bool Quiet() {
    if (tls_) {
      SSL* ssl = tls_->native_handle();
      if (SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) return false;
    }
    char byte;
    const ssize_t n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // Makes the socket non-blocking, for system calls made on it directly (sendfile has no
  // per-call "do not block" flag); asio's operations handle such a socket as they must (an
  // EAGAIN is waited out, not returned). The first call per connection changes the flag;
  // later ones make no system call. False, with errno set, if that fails. What it remembers
  // is the socket as it is now: call it only once the stream is connected (a connect that
  // tries several addresses closes and opens the socket again).
  bool MakeNonBlocking() {
    if (non_blocking_) return true;
    const int fd = socket().native_handle();
    const int flags = ::fcntl(fd, F_GETFL);
    non_blocking_ =
        flags >= 0 && ((flags & O_NONBLOCK) || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
    return non_blocking_;
  }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            plain_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          if (!tls_) {
            plain_->async_write_some(b, std::move(handler));
          } else if (const size_t n = Coalesce(b); n > 0) {
            tls_->async_write_some(boost::asio::buffer(coalesced_.data(), n), std::move(handler));
          } else {
            tls_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  // TLS writes one record per call, from the first non-empty buffer only: a header and a
  // small body would go out as two records and two system calls. Several buffers are
  // copied into one record's worth (16 KiB) instead; returns the bytes copied, 0 for a
  // lone or large first buffer (written as it is). Empty buffers do not count: a body
  // piece after its header was sent comes behind one. The copy stays untouched until the
  // write completes, since a stream has one write at a time.
  template <typename Buffers>
  size_t Coalesce(const Buffers& buffers) {
    constexpr size_t kRecord = 16 * 1024;
    const auto end = boost::asio::buffer_sequence_end(buffers);
    auto non_empty = [&](auto from) {
      while (from != end && boost::asio::buffer_size(*from) == 0) ++from;
      return from;
    };
    const auto it = non_empty(boost::asio::buffer_sequence_begin(buffers));
    if (it == end || non_empty(std::next(it)) == end || boost::asio::buffer_size(*it) >= kRecord) {
      return 0;
    }
    coalesced_.resize(kRecord);
    return boost::asio::buffer_copy(boost::asio::buffer(coalesced_), buffers);
  }

  std::vector<char> coalesced_;
  bool non_blocking_ = false;  // MakeNonBlocking has set O_NONBLOCK
  boost::beast::flat_buffer read_buffer_;
  std::optional<TimedSocket> plain_;
  std::optional<boost::asio::ssl::stream<TimedSocket>> tls_;
};

}  // namespace edgecache::net
