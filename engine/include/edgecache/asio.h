// Asio completion-token adapters for the engine's asynchronous calls.
//
// Each function initiates the engine operation and delivers its result to the completion
// handler on the handler's associated executor (for a coroutine, the coroutine's own
// executor), never on an engine thread. So a proxy coroutine can write
//
//   auto [status, slice] = co_await edgecache::async_read(store, info, offset, max,
//                                                         asio::as_tuple(asio::use_awaitable));
//
// and resume on its own strand/io_context, with no disk I/O ever run on it.
//
// Thread safety: as the underlying Store / InsertHandle calls.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "edgecache/store.h"

namespace edgecache {
namespace asio_detail {

inline void MarkSeen(const Status& s) { s.IgnoreError(); }
template <typename T>
void MarkSeen(const T&) {}

// Wraps a handler so that invoking it from any thread posts the call to the handler's
// executor, keeping that executor busy (work-guarded) until then. The wrapper is copyable,
// as the engine's std::function callbacks require.
template <typename Handler, typename IoExecutor>
auto BindToExecutor(Handler handler, const IoExecutor& io_executor) {
  auto executor = boost::asio::get_associated_executor(handler, io_executor);
  using Work = decltype(boost::asio::make_work_guard(executor));
  struct State {
    Handler handler;
    Work work;
  };
  auto state =
      std::make_shared<State>(State{std::move(handler), boost::asio::make_work_guard(executor)});
  return [state](auto&&... args) {
    auto values = std::make_shared<std::tuple<std::decay_t<decltype(args)>...>>(
        std::forward<decltype(args)>(args)...);
    // The handler receives fresh copies and must check them; these stored ones may be
    // dropped unread if the executor is shut down before it runs the handler.
    std::apply([](const auto&... v) { (MarkSeen(v), ...); }, *values);
    boost::asio::post(state->work.get_executor(), [state, values]() mutable {
      std::apply([&](auto&... v) { state->handler(std::move(v)...); }, *values);
    });
  };
}

}  // namespace asio_detail

// Reads the chunk slice of Store::AsyncRead. Handler signature: void(Status, BodySlice).
template <typename Executor, typename CompletionToken>
auto async_read(Store& store, const ObjectInfo& info, uint64_t offset, size_t max_len,
                const Executor& executor, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(Status, BodySlice)>(
      [&store, &info, offset, max_len, executor](auto handler) {
        store.AsyncRead(info, offset, max_len,
                        asio_detail::BindToExecutor(std::move(handler), executor));
      },
      token);
}

// InsertHandle::AsyncAppend. Handler signature: void(Status).
template <typename Executor, typename CompletionToken>
auto async_append(InsertHandle& insert, std::string_view data, const Executor& executor,
                  CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(Status)>(
      [&insert, data, executor](auto handler) {
        insert.AsyncAppend(data, asio_detail::BindToExecutor(std::move(handler), executor));
      },
      token);
}

// InsertHandle::AsyncCommit. Handler signature: void(Status).
template <typename Executor, typename CompletionToken>
auto async_commit(InsertHandle& insert, const Executor& executor, CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(Status)>(
      [&insert, executor](auto handler) {
        insert.AsyncCommit(asio_detail::BindToExecutor(std::move(handler), executor));
      },
      token);
}

}  // namespace edgecache
