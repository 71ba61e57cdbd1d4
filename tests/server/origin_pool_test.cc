// The origin connection pool (origin/origin_pool.h) over real loopback listeners: an idle
// connection goes back only to the origin and I/O context it was made for (a connection
// handed to another origin would send one site's request, and its answer, to another),
// and one with bytes waiting past its last response is never handed out.
#include "origin/origin_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <vector>

namespace edgecache::origin {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr std::chrono::milliseconds kConnectTimeout{2000};

// A loopback listener that accepts every connection and keeps it open.
struct Listener {
  explicit Listener(asio::io_context& io)
      : io(io), acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io, Accept(), [this](std::exception_ptr) { done = true; });
  }
  // Closed, and its cancelled accept reaped before the context goes: on io_uring an accept
  // still in the ring when the context is destroyed is freed after the socket service it
  // uses (a use after free in Boost 1.81's asio).
  ~Listener() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    io.restart();
    for (int i = 0; i < 100 && !done; ++i) io.run_for(std::chrono::milliseconds(10));
  }
  config::OriginUrl url() const {
    config::OriginUrl u;
    u.host = "127.0.0.1";
    u.port = acceptor.local_endpoint().port();
    return u;
  }
  asio::awaitable<void> Accept() {
    for (;;) {
      auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      accepted.push_back(std::move(socket));
    }
  }
  // Until `n` connections were accepted (bounded).
  asio::awaitable<bool> Accepted(size_t n) {
    for (int i = 0; i < 200 && accepted.size() < n; ++i) {
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(10));
      co_await t.async_wait(asio::use_awaitable);
    }
    co_return accepted.size() >= n;
  }
  asio::io_context& io;
  tcp::acceptor acceptor;
  std::vector<tcp::socket> accepted;
  bool done = false;  // the accept loop ended
};

std::shared_ptr<asio::ssl::context> Tls() {
  return std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
}

template <typename Body>
void RunOn(asio::io_context& io, Body body) {
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await body();
        finished = true;
        io.stop();  // the listeners' accept loops
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run_for(std::chrono::seconds(20));
  ASSERT_TRUE(finished);
}

uint16_t PeerPort(const Connection& c) { return c.stream->socket().remote_endpoint().port(); }

TEST(OriginPoolTest, AnIdleConnectionGoesBackOnlyToItsOwnOrigin) {
  asio::io_context io;
  Listener a(io), b(io);
  OriginPool pool(Tls());
  config::OriginUrl b_tls = b.url();
  b_tls.tls = true;  // same host and port, another origin
  config::OriginUrl a_sni = a.url();
  a_sni.sni = "example.test";
  RunOn(io, [&]() -> asio::awaitable<void> {
    Connection first = co_await pool.Acquire(a.url(), kConnectTimeout);
    EXPECT_FALSE(first.error);
    EXPECT_FALSE(first.reused);
    const auto first_local = first.stream->socket().local_endpoint();
    pool.Release(a.url(), std::move(first.stream));

    // Another port: a connection of its own.
    Connection other = co_await pool.Acquire(b.url(), kConnectTimeout);
    EXPECT_FALSE(other.error);
    EXPECT_FALSE(other.reused);
    EXPECT_EQ(PeerPort(other), b.url().port);
    pool.Release(b.url(), std::move(other.stream));

    // The same address with TLS, or with another TLS name: never the plain connection.
    Connection tls = co_await pool.Acquire(b_tls, std::chrono::milliseconds(300));
    EXPECT_FALSE(tls.reused);
    Connection sni = co_await pool.Acquire(a_sni, kConnectTimeout);
    EXPECT_FALSE(sni.error);
    EXPECT_FALSE(sni.reused);

    // The origin itself gets its idle connection back.
    Connection again = co_await pool.Acquire(a.url(), kConnectTimeout);
    EXPECT_FALSE(again.error);
    EXPECT_TRUE(again.reused);
    EXPECT_EQ(again.stream->socket().local_endpoint(), first_local);
    Connection again_b = co_await pool.Acquire(b.url(), kConnectTimeout);
    EXPECT_TRUE(again_b.reused);
    EXPECT_EQ(PeerPort(again_b), b.url().port);
  });
}

TEST(OriginPoolTest, AConnectionWithBytesPastItsResponseIsNotHandedOut) {
  asio::io_context io;
  Listener a(io);
  OriginPool pool(Tls());
  RunOn(io, [&]() -> asio::awaitable<void> {
    Connection first = co_await pool.Acquire(a.url(), kConnectTimeout);
    EXPECT_FALSE(first.error);
    if (!co_await a.Accepted(1)) {
      ADD_FAILURE() << "the origin accepted no connection";
      co_return;
    }
    const auto first_local = first.stream->socket().local_endpoint();
    pool.Release(a.url(), std::move(first.stream));
    // The origin sends something nobody asked for while the connection is idle.
    co_await asio::async_write(a.accepted.back(), asio::buffer("HTTP/1.1 200 OK\r\n\r\n", 19),
                               asio::use_awaitable);
    asio::steady_timer settle(io, std::chrono::milliseconds(50));
    co_await settle.async_wait(asio::use_awaitable);
    Connection next = co_await pool.Acquire(a.url(), kConnectTimeout);
    EXPECT_FALSE(next.error);
    EXPECT_FALSE(next.reused);
    EXPECT_NE(next.stream->socket().local_endpoint(), first_local);
  });
}

TEST(OriginPoolTest, ConnectionsAreKeptApartPerIoContext) {
  asio::io_context io, other_io;
  Listener a(io);
  OriginPool pool(Tls());
  RunOn(io, [&]() -> asio::awaitable<void> {
    Connection first = co_await pool.Acquire(a.url(), kConnectTimeout);
    pool.Release(a.url(), std::move(first.stream));
  });
  bool reused = true;
  asio::co_spawn(
      other_io,
      [&]() -> asio::awaitable<void> {
        Connection c = co_await pool.Acquire(a.url(), kConnectTimeout);
        reused = c.reused;
      },
      asio::detached);
  other_io.run_for(std::chrono::seconds(5));
  EXPECT_FALSE(reused);
}

}  // namespace
}  // namespace edgecache::origin
