#include "origin/origin_pool.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace edgecache::origin {

namespace asio = boost::asio;
namespace beast = boost::beast;

OriginPool::OriginPool(size_t max_idle_per_origin) : max_idle_(max_idle_per_origin) {}

OriginPool::Key OriginPool::KeyFor(const asio::any_io_executor& executor,
                                   const config::OriginUrl& origin) {
  return {&asio::query(executor, asio::execution::context), origin.ToString()};
}

asio::awaitable<Connection> OriginPool::Acquire(const config::OriginUrl& origin,
                                                std::chrono::milliseconds connect_timeout,
                                                bool fresh) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  const Key key = KeyFor(executor, origin);
  if (!fresh) {
    std::lock_guard lock(mu_);
    auto& idle = idle_[key];
    while (!idle.empty()) {
      std::unique_ptr<beast::tcp_stream> stream = std::move(idle.back());
      idle.pop_back();
      if (stream->socket().is_open()) co_return Connection{{}, std::move(stream), true};
    }
  }
  auto token = asio::as_tuple(asio::use_awaitable);
  asio::ip::tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(origin.host, std::to_string(origin.port), token);
  if (resolve_error) co_return Connection{resolve_error, nullptr, false};
  auto stream = std::make_unique<beast::tcp_stream>(executor);
  stream->expires_after(connect_timeout);
  auto [connect_error, endpoint] = co_await stream->async_connect(endpoints, token);
  if (connect_error) co_return Connection{connect_error, nullptr, false};
  boost::system::error_code ignored;
  stream->socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return Connection{{}, std::move(stream), false};
}

void OriginPool::Release(const config::OriginUrl& origin,
                         std::unique_ptr<beast::tcp_stream> stream) {
  stream->expires_never();
  const Key key = KeyFor(stream->get_executor(), origin);
  std::lock_guard lock(mu_);
  auto& idle = idle_[key];
  if (idle.size() < max_idle_) idle.push_back(std::move(stream));
}

void OriginPool::Clear() {
  std::lock_guard lock(mu_);
  idle_.clear();
}

}  // namespace edgecache::origin
