// Collapser: request collapsing. Concurrent misses (and revalidations) of one cache key
// make one origin request: the first caller leads, the others wait, bounded, until the
// leader's response is stored, then look the key up again and are served from the store.
// When the response turns out uncacheable the waiters find nothing and go to the origin
// themselves (without collapsing again).
//
// Thread safety: Acquire may be called from any coroutine; waiters must run on a strand
// (or a single-threaded executor), as every connection of the node does.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace edgecache::proxy {

class Collapser {
 public:
  // Held by the leader for as long as it works on the key; releasing it (or destroying
  // it) wakes the waiters.
  class Ticket {
   public:
    Ticket() = default;
    ~Ticket() { Release(); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    void Release();

   private:
    friend class Collapser;
    Collapser* owner_ = nullptr;
    std::string key_;
  };

  // Leads (returns false, *ticket set) when nobody works on `key`; otherwise waits until
  // the leader releases its ticket or `max_wait` passes, and returns true.
  boost::asio::awaitable<bool> Acquire(const std::string& key, std::chrono::milliseconds max_wait,
                                       Ticket* ticket);

 private:
  struct Waiter;
  struct Flight {
    std::vector<Waiter*> waiters;
  };
  void Finish(const std::string& key);

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // GUARDED_BY(mu_)
};

}  // namespace edgecache::proxy
