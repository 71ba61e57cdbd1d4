// edgecache/asio.h: engine completions delivered on the caller's executor.
#include "edgecache/asio.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "support/store_util.h"
#include "support/temp_dir.h"

namespace edgecache {
namespace {

namespace asio = boost::asio;

TEST(AsioAdapterTest, CoroutineStoresAndReadsOnItsOwnThread) {
  testing::TempDir dir;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(testing::SmallOptions(), dir.Sub("s"), &store).ok());
  asio::io_context io;
  const std::string body = testing::Body(1, 50000);
  std::string read_back;
  bool all_on_io_thread = true;
  std::thread::id io_thread;

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto token = asio::experimental::as_tuple(asio::use_awaitable);
        std::unique_ptr<InsertHandle> insert;
        EXPECT_TRUE(store->BeginInsert({"a/co", ""}, {}, &insert).ok());
        for (size_t off = 0; off < body.size(); off += 10000) {
          auto [s] =
              co_await async_append(*insert, std::string_view(body).substr(off, 10000), ex, token);
          EXPECT_TRUE(s.ok()) << s.ToString();
          all_on_io_thread &= std::this_thread::get_id() == io_thread;
        }
        auto [committed] = co_await async_commit(*insert, ex, token);
        EXPECT_TRUE(committed.ok()) << committed.ToString();
        all_on_io_thread &= std::this_thread::get_id() == io_thread;

        ObjectInfo info;
        EXPECT_TRUE(store->Lookup({"a/co", ""}, &info).ok());
        for (uint64_t off = 0; off < info.body_length;) {
          auto [s, slice] = co_await async_read(*store, info, off, SIZE_MAX, ex, token);
          EXPECT_TRUE(s.ok()) << s.ToString();
          if (!s.ok()) break;
          all_on_io_thread &= std::this_thread::get_id() == io_thread;
          read_back.append(slice.data);
          off += slice.data.size();
        }
      },
      asio::detached);
  std::thread runner([&] {
    io_thread = std::this_thread::get_id();
    io.run();
  });
  runner.join();
  EXPECT_EQ(read_back, body);
  EXPECT_TRUE(all_on_io_thread);
}

}  // namespace
}  // namespace edgecache
