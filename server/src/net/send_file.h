// SendFile: a response's header and a piece of its body sent from a file with sendfile(2),
// so the socket takes the file's pages by reference and the body is not copied through
// this process (the RAM cache's large records, edgecache/object.h BodySlice::fd).
//
// Thread safety: as Stream's: one coroutine at a time, on the stream's io_context thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/stream.h"

namespace edgecache::net {

// Sends `head` (may be empty) and then `length` bytes of `fd` from `offset`, waiting while
// the socket's buffer is full, within the stream's deadline (a timeout ends it with
// beast::error::timeout, as a write's). The header goes out with MSG_MORE, so it travels
// in the same segment as the body's first bytes. `*sent_body` counts the body bytes the
// socket took, whatever the result. REQUIRES: a plain TCP stream (!stream.tls()), no other
// write in flight, and `fd`'s bytes unchanged until this completes.
boost::asio::awaitable<boost::system::error_code> SendFile(Stream& stream, std::string_view head,
                                                           int fd, uint64_t offset, size_t length,
                                                           uint64_t* sent_body);

}  // namespace edgecache::net
