#include "proxy/collapser.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace edgecache::proxy {

namespace asio = boost::asio;

struct Collapser::Waiter {
  asio::any_io_executor executor;
  asio::steady_timer* timer;
};

void Collapser::Ticket::Release() {
  if (owner_ == nullptr) return;
  owner_->Finish(key_);
  owner_ = nullptr;
}

asio::awaitable<bool> Collapser::Acquire(const std::string& key, std::chrono::milliseconds max_wait,
                                         Ticket* ticket) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  Waiter self{executor, &timer};
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
      it->second = std::make_shared<Flight>();
      ticket->owner_ = this;
      ticket->key_ = key;
      co_return false;
    }
    flight = it->second;
    flight->waiters.push_back(&self);
  }
  // Leaves the waiter list however this frame ends (woken, timed out, or destroyed at
  // shutdown), so the leader never touches a timer that is gone.
  struct Registration {
    Collapser* owner;
    Flight* flight;
    Waiter* waiter;
    ~Registration() {
      std::lock_guard lock(owner->mu_);
      std::erase(flight->waiters, waiter);
    }
  } registration{this, flight.get(), &self};
  timer.expires_after(max_wait);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));  // cancelled by the leader
  co_return true;
}

void Collapser::Finish(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = flights_.find(key);
  if (it == flights_.end()) return;
  std::shared_ptr<Flight> flight = std::move(it->second);
  flights_.erase(it);
  for (Waiter* w : flight->waiters) {
    // On the waiter's own strand; it may have timed out and left meanwhile, which the
    // check under the lock sees before its timer is touched.
    asio::post(w->executor, [this, flight, w] {
      std::lock_guard lock(mu_);
      if (std::find(flight->waiters.begin(), flight->waiters.end(), w) != flight->waiters.end()) {
        w->timer->cancel();
      }
    });
  }
}

}  // namespace edgecache::proxy
