// Request collapsing on its own (proxy/collapser.h), on one single-threaded io_context as
// a node's connection strand runs it: who leads, who waits, what wakes the waiters.
#include "proxy/collapser.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace edgecache::proxy {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

asio::awaitable<void> Sleep(milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

struct Follower {
  bool done = false;
  Collapser::Joined joined;
  std::chrono::steady_clock::duration waited{};
};

// A follower of `key` that records what it got and how long it took.
void Follow(asio::io_context& io, Collapser& c, std::string key, bool can_stream,
            milliseconds max_wait, Follower* out) {
  asio::co_spawn(
      io,
      [&c, key, can_stream, max_wait, out]() -> asio::awaitable<void> {
        const auto start = std::chrono::steady_clock::now();
        Collapser::Ticket ticket;
        out->joined = co_await c.Acquire(key, max_wait, can_stream, &ticket);
        out->waited = std::chrono::steady_clock::now() - start;
        out->done = true;
      },
      asio::detached);
}

TEST(CollapserTest, TheFirstLeadsOthersWaitUntilItReleases) {
  asio::io_context io;
  Collapser c;
  Collapser::Ticket leader_ticket;
  Follower other_key, a, b;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Collapser::Joined leader =
            co_await c.Acquire("k", milliseconds(5000), true, &leader_ticket);
        EXPECT_FALSE(leader.waited);  // leads
        co_await Sleep(milliseconds(150));
        leader_ticket.Release();
      },
      asio::detached);
  Follow(io, c, "k", false, milliseconds(5000), &a);
  Follow(io, c, "k", true, milliseconds(5000), &b);
  Follow(io, c, "other", false, milliseconds(5000), &other_key);
  io.run();
  EXPECT_TRUE(other_key.done);
  EXPECT_FALSE(other_key.joined.waited);  // another key: leads at once
  ASSERT_TRUE(a.done && b.done);
  EXPECT_TRUE(a.joined.waited);
  EXPECT_TRUE(b.joined.waited);
  EXPECT_FALSE(b.joined.broadcast);  // nothing was published: look the key up again
  EXPECT_GE(a.waited, milliseconds(100));
  EXPECT_LT(a.waited, milliseconds(4000));
}

TEST(CollapserTest, APublishedBroadcastWakesStreamingWaitersOnly) {
  asio::io_context io;
  Collapser c;
  Collapser::Ticket leader_ticket;
  Follower streaming, plain;
  std::shared_ptr<Broadcast> published;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await c.Acquire("k", milliseconds(5000), true, &leader_ticket);
        co_await Sleep(milliseconds(50));
        published = std::make_shared<Broadcast>(SharedResponse{}, 1 << 20);
        leader_ticket.Publish(published);
        co_await Sleep(milliseconds(300));
        EXPECT_TRUE(streaming.done);  // woken by the publication
        EXPECT_FALSE(plain.done);     // still waiting for the leader to finish
        leader_ticket.Release();
      },
      asio::detached);
  Follow(io, c, "k", true, milliseconds(5000), &streaming);
  Follow(io, c, "k", false, milliseconds(5000), &plain);
  io.run();
  EXPECT_EQ(streaming.joined.broadcast, published);
  EXPECT_TRUE(plain.done);
  EXPECT_FALSE(plain.joined.broadcast);
  EXPECT_GE(plain.waited, milliseconds(300));
}

TEST(CollapserTest, AWaiterGivesUpAfterItsBoundAndTheKeyIsFreeAfterRelease) {
  asio::io_context io;
  Collapser c;
  Collapser::Ticket leader_ticket;
  Follower bounded, after;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await c.Acquire("k", milliseconds(5000), true, &leader_ticket);
        co_await Sleep(milliseconds(400));  // past the follower's bound
        EXPECT_TRUE(bounded.done);          // it did not wait for the leader
        leader_ticket.Release();
        Follow(io, c, "k", false, milliseconds(5000), &after);
      },
      asio::detached);
  Follow(io, c, "k", false, milliseconds(100), &bounded);
  io.run();
  ASSERT_TRUE(bounded.done);
  EXPECT_TRUE(bounded.joined.waited);
  ASSERT_TRUE(after.done);
  EXPECT_FALSE(after.joined.waited);  // the key was free again: it leads
}

}  // namespace
}  // namespace edgecache::proxy
