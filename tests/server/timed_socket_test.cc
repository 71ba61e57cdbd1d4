// Deadlines without a timer per operation (net/timed_socket.h), over real loopback
// sockets: an operation in flight past its deadline ends with beast::error::timeout (not
// early, and within a sweep of it), a socket with nothing in flight is left alone, and a
// timed-out socket stays closed.
#include "net/timed_socket.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace edgecache::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
constexpr auto kToken = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> Sleep(milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// A connected pair on 127.0.0.1: the server's end as a TimedSocket, the client's plain.
struct Pair {
  std::optional<TimedSocket> server;
  std::optional<tcp::socket> client;
};

asio::awaitable<Pair> Connect() {
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Pair p;
  p.client.emplace(executor);
  co_await p.client->async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  p.server.emplace(co_await acceptor.async_accept(asio::use_awaitable));
  co_return p;
}

// Runs `body` on a fresh io_context until it and the watchdog's last sweep are done.
template <typename Body>
void RunOnIo(Body body) {
  asio::io_context io;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await body();
        finished = true;
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(finished);
}

TEST(TimedSocketTest, AReadPastItsDeadlineFailsWithATimeoutNotEarly) {
  RunOnIo([]() -> asio::awaitable<void> {
    Pair p = co_await Connect();
    p.server->expires_after(milliseconds(200));
    char byte;
    const auto start = Clock::now();
    auto [ec, n] = co_await p.server->async_read_some(asio::buffer(&byte, 1), kToken);
    const auto waited = Clock::now() - start;
    EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
    EXPECT_GE(waited, milliseconds(200));
    // Within a sweep or so; generous for a loaded machine.
    EXPECT_LT(waited, milliseconds(200) + 10 * Watchdog::kSweepInterval);
    // Closed: a later operation fails the same way, even with a new deadline.
    p.server->expires_after(milliseconds(5000));
    std::tie(ec, n) = co_await p.server->async_read_some(asio::buffer(&byte, 1), kToken);
    EXPECT_EQ(ec, boost::beast::error::timeout);
    EXPECT_FALSE(p.server->socket().is_open());
  });
}

TEST(TimedSocketTest, ASocketWithNothingInFlightOutlivesItsDeadline) {
  RunOnIo([]() -> asio::awaitable<void> {
    Pair p = co_await Connect();
    p.server->expires_after(milliseconds(20));
    co_await Sleep(milliseconds(300));  // several sweeps, nothing in flight
    EXPECT_TRUE(p.server->socket().is_open());
    // The client's bytes arrive before the read starts: it completes at once.
    co_await asio::async_write(*p.client, asio::buffer(std::string("hello")), asio::use_awaitable);
    p.server->expires_after(milliseconds(1000));
    std::string got(5, '\0');
    auto [ec, n] = co_await asio::async_read(*p.server, asio::buffer(got), kToken);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(got, "hello");
  });
}

TEST(TimedSocketTest, AWriteToAPeerThatStopsReadingTimesOut) {
  RunOnIo([]() -> asio::awaitable<void> {
    Pair p = co_await Connect();
    // The client reads nothing: once both socket buffers are full the write waits.
    const std::vector<char> chunk(1 << 20, 'x');
    p.server->expires_after(milliseconds(300));
    const auto start = Clock::now();
    boost::system::error_code ec;
    for (int i = 0; i < 256 && !ec; ++i) {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(*p.server, asio::buffer(chunk), kToken);
    }
    EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
    EXPECT_GE(Clock::now() - start, milliseconds(300));
  });
}

TEST(TimedSocketTest, ANewDeadlineBeforeTheOldOneLetsTheOperationRun) {
  RunOnIo([]() -> asio::awaitable<void> {
    Pair p = co_await Connect();
    p.server->expires_after(milliseconds(100));
    p.server->expires_never();
    char byte = 0;
    // The client writes after 300 ms, far past the first deadline.
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> {
          co_await Sleep(milliseconds(300));
          co_await asio::async_write(*p.client, asio::buffer("z", 1), asio::use_awaitable);
        },
        asio::detached);
    auto [ec, n] = co_await p.server->async_read_some(asio::buffer(&byte, 1), kToken);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(byte, 'z');
  });
}

}  // namespace
}  // namespace edgecache::net
