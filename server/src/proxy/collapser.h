// Collapser: request collapsing. Concurrent misses (and revalidations) of one cache key
// make one origin request: the first caller leads, the others wait, bounded.
//
// When the leader's response is going to be stored, waiters that want the plain response
// (a GET without conditionals or ranges) are handed its Broadcast (proxy/broadcast.h) and
// get the body streamed as it arrives from the origin; the others wait until the leader is
// done and then look the key up again, served from the store. When the response turns out
// uncacheable the waiters find nothing and go to the origin themselves (without collapsing again).
//
// Thread safety: all methods may be called from any coroutine; waiters must run on a
// single-threaded executor (or a strand), as every connection of the node does.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/broadcast.h"
#include "proxy/wait_list.h"

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
    // Once the leader knows its response will be stored: the broadcast that waiters which
    // can take the plain response (now or arriving later) stream from.
    void Publish(std::shared_ptr<Broadcast> broadcast);

   private:
    friend class Collapser;
    Collapser* owner_ = nullptr;
    std::string key_;
  };

  struct Joined {
    bool waited = false;                   // another request led; look the key up again
    std::shared_ptr<Broadcast> broadcast;  // ...or stream its response from here
  };

  // Leads (waited == false, *ticket set) when nobody works on `key`; otherwise waits
  // until the leader broadcasts (when `can_stream`) or finishes, or `max_wait` passes.
  boost::asio::awaitable<Joined> Acquire(const std::string& key, std::chrono::milliseconds max_wait,
                                         bool can_stream, Ticket* ticket);

 private:
  struct Flight {
    std::shared_ptr<WaitList> wait = std::make_shared<WaitList>();
    std::shared_ptr<Broadcast> broadcast;  // GUARDED_BY(wait->mu())
    bool finished = false;                 // GUARDED_BY(wait->mu())
  };
  void Finish(const std::string& key);
  std::shared_ptr<Flight> Find(const std::string& key);

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // GUARDED_BY(mu_)
};

}  // namespace edgecache::proxy
