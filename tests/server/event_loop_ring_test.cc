// asio's rings are set up with IORING_SETUP_COOP_TASKRUN (server/src/util/event_loop.cc): a
// binary linking edgecache_common takes io_uring_queue_init, asio's call, through the
// wrapper; the engine's own ring keeps plain flags.
#include <gtest/gtest.h>
#include <liburing.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <thread>

namespace edgecache {
namespace {

TEST(EventLoopRingTest, AsiosRingsLeaveCompletionsForTheThreadsNextEntryIntoTheKernel) {
  io_uring ring;
  const int rc = io_uring_queue_init(8, &ring, 0);  // as asio calls it
  if (rc == -EPERM || rc == -ENOSYS) GTEST_SKIP() << "io_uring cannot be set up here";
  ASSERT_EQ(rc, 0);
  const unsigned wrapped = ring.flags;
  io_uring_queue_exit(&ring);
  // A kernel before 5.19 refuses the flags: the wrapper then sets the ring up plain.
  io_uring_params coop{};
  coop.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  const bool kernel_has_it = io_uring_queue_init_params(8, &ring, &coop) == 0;
  if (kernel_has_it) io_uring_queue_exit(&ring);
  const unsigned expected = kernel_has_it ? coop.flags : 0u;
  EXPECT_EQ(wrapped & (IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG), expected)
      << "flags " << wrapped;

  io_uring_params plain{};
  ASSERT_EQ(io_uring_queue_init_params(8, &ring, &plain), 0);  // as the engine calls it
  EXPECT_EQ(ring.flags & IORING_SETUP_COOP_TASKRUN, 0u);
  io_uring_queue_exit(&ring);
}

// No completion waits for a thread that sleeps: work posted from another thread reaches a
// loop asleep in the ring, and a timer that work arms fires on time.
TEST(EventLoopRingTest, ASleepingLoopStillSeesTimersAndPosts) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the loop sleeps in the ring
  const auto armed = std::chrono::steady_clock::now();
  std::atomic<bool> fired{false};
  boost::asio::steady_timer timer(io);
  boost::asio::post(io, [&] {
    timer.expires_after(std::chrono::milliseconds(20));
    timer.async_wait([&](auto) { fired = true; });
  });
  while (!fired && std::chrono::steady_clock::now() - armed < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto took = std::chrono::steady_clock::now() - armed;
  guard.reset();
  io.stop();
  loop.join();
  EXPECT_TRUE(fired);
  EXPECT_LT(took, std::chrono::seconds(1));
}

}  // namespace
}  // namespace edgecache
