// OriginPool: keep-alive connections to origins, reused across requests.
//
// Acquire hands out an idle connection to the origin when there is one, otherwise connects
// (resolve + connect under the connect timeout). Release returns a connection whose last
// response was read completely, with nothing past it, and may be kept alive. An idle
// connection that has something to read when it is wanted (bytes the origin sent past its
// response, or its end of stream) is closed, never handed out. Reused connections can
// still have been closed by the origin meanwhile: callers retry a request once on a fresh
// connection when a reused one fails before any response byte arrived.
//
// An https:// origin gets TLS (1.2 or later) over the connection: SNI and the certificate
// verified against the origin's host name (or IP address) with the pool's CA store; a
// failed verification is an error, never a fallback to plain HTTP. Sessions are resumed.
//
// Connections are made on the calling coroutine's executor and kept apart per I/O context,
// so a network thread only ever reuses its own (their sockets wait in its reactor).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "edgecache/status.h"
#include "net/stream.h"

namespace edgecache::origin {

struct Connection {
  boost::system::error_code error;  // set when no connection could be made
  std::unique_ptr<net::Stream> stream;
  bool reused = false;
  // With `error` from a TLS handshake: why the origin's certificate was refused
  // ("certificate has expired") or what else failed.
  std::string tls_failure;
};

class OriginPool {
 public:
  explicit OriginPool(std::shared_ptr<boost::asio::ssl::context> tls,
                      size_t max_idle_per_origin = 64);
  ~OriginPool();

  // A connection, or Connection::error when the origin cannot be reached within
  // `connect_timeout`. `fresh` for a request that cannot be sent twice (a streamed body):
  // never a reused connection, which the origin may have closed meanwhile.
  boost::asio::awaitable<Connection> Acquire(const config::OriginUrl& origin,
                                             std::chrono::milliseconds connect_timeout,
                                             bool fresh = false);
  // Back to the idle connections of the context the stream was made on.
  void Release(const config::OriginUrl& origin, std::unique_ptr<net::Stream> stream);
  // Closes every idle connection (shutdown).
  void Clear();

 private:
  // The I/O context, then the origin's host, port, TLS and SNI name. Looked up through a
  // KeyView, with no string built per request.
  using Key =
      std::tuple<const boost::asio::execution_context*, std::string, uint16_t, bool, std::string>;
  using KeyView = std::tuple<const boost::asio::execution_context*, std::string_view, uint16_t,
                             bool, std::string_view>;
  static KeyView KeyFor(const boost::asio::any_io_executor& executor,
                        const config::OriginUrl& origin);
  // The idle connections kept for `key`, made on first use.
  std::vector<std::unique_ptr<net::Stream>>& IdleFor(const KeyView& key);  // REQUIRES: mu_
  // Which TLS session an origin resumes.
  static std::string SessionName(const config::OriginUrl& origin);

  const std::shared_ptr<boost::asio::ssl::context> tls_;
  const size_t max_idle_;
  std::mutex mu_;
  std::map<Key, std::vector<std::unique_ptr<net::Stream>>, std::less<>> idle_;  // GUARDED_BY(mu_)
  // The last TLS session of each origin, offered for resumption (SSL_SESSION*, owned).
  std::map<std::string, SSL_SESSION*> sessions_;  // GUARDED_BY(mu_)
};

}  // namespace edgecache::origin
