// WaitList: coroutines parked until another thread's event, or a timeout.
//
// The owner guards its state with mu() and parks with Park(ready): `ready` is checked
// under the mutex, and if false the coroutine parks on a timer until WakeAll (called with
// the mutex held) cancels it, or the timeout passes. A wake-up is posted to the parked
// coroutine's own executor, so waiters must run on a single-threaded executor
// or a strand (every connection does: one io_context per network thread).
//
// Thread safety: as above; hold WaitList by shared_ptr (posted wake-ups keep it alive).
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace edgecache::proxy {

class WaitList : public std::enable_shared_from_this<WaitList> {
 public:
  std::mutex& mu() { return mu_; }

  // Returns once `ready()` (evaluated under mu()) holds, or after `max_wait`.
  // REQUIRES: mu() not held.
  boost::asio::awaitable<void> Park(std::chrono::milliseconds max_wait,
                                    const std::function<bool()>& ready) {
    auto executor = co_await boost::asio::this_coro::executor;
    const auto deadline = std::chrono::steady_clock::now() + max_wait;
    for (;;) {
      boost::asio::steady_timer timer(executor);
      Waiter self{executor, &timer};
      {
        std::lock_guard lock(mu_);
        if (ready() || std::chrono::steady_clock::now() >= deadline) co_return;
        waiters_.push_back(&self);
      }
      // Leaves the list however the frame ends, so WakeAll never touches a dead timer.
      struct Registration {
        WaitList* list;
        Waiter* waiter;
        ~Registration() {
          std::lock_guard lock(list->mu_);
          std::erase(list->waiters_, waiter);
        }
      } registration{this, &self};
      timer.expires_at(deadline);
      co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

  // Wakes every parked coroutine (each re-checks its condition). REQUIRES: mu() held.
  void WakeAll() {
    for (Waiter* w : waiters_) {
      boost::asio::post(w->executor, [self = shared_from_this(), w] {
        std::lock_guard lock(self->mu_);
        if (std::find(self->waiters_.begin(), self->waiters_.end(), w) != self->waiters_.end()) {
          w->timer->cancel();
        }
      });
    }
  }

 private:
  struct Waiter {
    boost::asio::any_io_executor executor;
    boost::asio::steady_timer* timer;
  };
  std::mutex mu_;
  std::vector<Waiter*> waiters_;  // GUARDED_BY(mu_)
};

}  // namespace edgecache::proxy
