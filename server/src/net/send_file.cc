#include "net/send_file.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

namespace edgecache::net {
namespace {

boost::system::error_code LastError() {
  return boost::system::error_code(errno, boost::system::system_category());
}

}  // namespace

boost::asio::awaitable<boost::system::error_code> SendFile(Stream& stream, std::string_view head,
                                                           int fd, uint64_t offset, size_t length,
                                                           uint64_t* sent_body) {
  constexpr auto kToken = boost::asio::as_tuple(boost::asio::use_awaitable);
  *sent_body = 0;
  const int socket = stream.socket().native_handle();
  if (!stream.MakeNonBlocking()) co_return LastError();
  auto wait = [&]() -> boost::asio::awaitable<boost::system::error_code> {
    auto [ec] = co_await stream.timed().async_wait_writable(kToken);
    co_return ec;
  };
  while (!head.empty()) {
    const ssize_t n = ::send(socket, head.data(), head.size(), MSG_MORE | MSG_NOSIGNAL);
    if (n >= 0) {
      head.remove_prefix(static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto ec = co_await wait()) co_return ec;
    } else if (errno != EINTR) {
      co_return LastError();
    }
  }
  off_t at = static_cast<off_t>(offset);
  while (*sent_body < length) {
    const ssize_t n = ::sendfile(socket, fd, &at, length - *sent_body);
    if (n > 0) {
      *sent_body += static_cast<uint64_t>(n);
    } else if (n == 0) {
      co_return boost::system::error_code(EIO, boost::system::system_category());  // file short
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto ec = co_await wait()) co_return ec;
    } else if (errno != EINTR) {
      co_return LastError();
    }
  }
  co_return boost::system::error_code();
}

}  // namespace edgecache::net
