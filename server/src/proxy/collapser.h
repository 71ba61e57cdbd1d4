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
// single-threaded executor (or a strand), as every connection of the node does. A Ticket
// may be released from any thread.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
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
    // Hands the lead over (to a commit finishing on another thread); `other` holds nothing.
    Ticket(Ticket&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}
    void Release();
    bool held() const { return owner_ != nullptr; }
    // Once the leader knows its response will be stored: the broadcast that waiters which
    // can take the plain response (now or arriving later) stream from.
    void Publish(std::shared_ptr<Broadcast> broadcast);
    // Once the leader has sent its response and only its commit is left: from now until
    // the release, every request for the key waits (AwaitCommit) before it looks it up.
    void Committing();

   private:
    friend class Collapser;
    Collapser* owner_ = nullptr;
    std::string key_;
  };

  struct Joined {
    bool waited = false;                   // another request led; look the key up again
    std::shared_ptr<Broadcast> broadcast;  // ...or stream its response from here
  };

  // Returns once `key` has no committing leader (Ticket::Committing), or after `max_wait`:
  // a response a client has received is in the store when another request looks for it.
  // Immediate when no leader anywhere is committing.
  boost::asio::awaitable<void> AwaitCommit(const std::string& key,
                                           std::chrono::milliseconds max_wait);

  // Leads (waited == false, *ticket set) when nobody works on `key`; otherwise waits
  // until the leader broadcasts (when `can_stream`) or finishes, or `max_wait` passes.
  boost::asio::awaitable<Joined> Acquire(const std::string& key, std::chrono::milliseconds max_wait,
                                         bool can_stream, Ticket* ticket);

 private:
  struct Flight {
    std::shared_ptr<WaitList> wait = std::make_shared<WaitList>();
    std::shared_ptr<Broadcast> broadcast;  // GUARDED_BY(wait->mu())
    bool finished = false;                 // GUARDED_BY(wait->mu())
    bool committing = false;               // GUARDED_BY(mu_)
  };
  void Finish(const std::string& key);
  std::shared_ptr<Flight> Find(const std::string& key);

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // GUARDED_BY(mu_)
  std::atomic<int> committing_{0};  // flights with `committing` set
};

}  // namespace edgecache::proxy
