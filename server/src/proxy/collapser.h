// Collapser: request collapsing. Concurrent misses (and revalidations) of one cache key
// make one origin request: the first caller leads, the others wait, bounded.
//
// When the leader's response is going to be stored, waiters that want the plain response
// (a GET without conditionals or ranges) are handed a Broadcast and get the body streamed
// as it arrives from the origin; the others wait until the leader is done and then look
// the key up again, served from the store. When the response turns out uncacheable the
// waiters find nothing and go to the origin themselves (without collapsing again).
//
// Thread safety: all methods may be called from any coroutine; waiters must run on a
// strand (or a single-threaded executor), as every connection of the node does.
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

#include "proxy/wait_list.h"

namespace edgecache::proxy {

// What every follower of a fetch may be sent: the response header as it is stored (no
// Set-Cookie, no private="…" / no-cache="…" fields), its length when known, and the
// variant it is: the Vary names it was selected by and the variant key they gave.
struct SharedResponse {
  boost::beast::http::response_header<> header;
  std::optional<uint64_t> length;
  std::vector<std::string> vary;
  std::string secondary;
};

// One response body fetched once and sent to several clients while it arrives. The
// leader appends pieces; each follower reads from its own offset. At most
// `max_buffered` bytes are kept: a follower that needs bytes beyond them waits for the
// end and reads the rest from the store. A follower may only take it when its own
// request selects the same variant (SecondaryKeyFor(vary(), its headers) == secondary()).
class Broadcast {
 public:
  Broadcast(SharedResponse shared, uint64_t max_buffered);

  const boost::beast::http::response_header<>& header() const { return shared_.header; }
  std::optional<uint64_t> length() const { return shared_.length; }
  const std::vector<std::string>& vary() const { return shared_.vary; }
  const std::string& secondary() const { return shared_.secondary; }

  // Leader side.
  void Append(std::string_view piece);
  void Finish(bool complete);  // complete: every byte arrived and the object was stored

  // Follower side: bytes from `offset` (a slice of one buffered piece), or none with
  // `done` set when the response is over (or `beyond_buffer` when the bytes at `offset`
  // were not kept).
  struct Next {
    std::shared_ptr<const std::string> piece;
    std::string_view data;
    bool done = false;
    bool complete = false;
    bool beyond_buffer = false;
  };
  boost::asio::awaitable<Next> Read(uint64_t offset, std::chrono::milliseconds max_wait);
  // Waits for the end of the response: true when it completed (and was stored).
  boost::asio::awaitable<bool> WaitDone(std::chrono::milliseconds max_wait);

 private:
  const SharedResponse shared_;
  const uint64_t max_buffered_;
  std::shared_ptr<WaitList> wait_ = std::make_shared<WaitList>();
  // GUARDED_BY(wait_->mu()):
  std::vector<std::shared_ptr<const std::string>> pieces_;
  std::vector<uint64_t> starts_;  // body offset of each piece
  uint64_t buffered_ = 0;         // bytes in pieces_
  bool overflowed_ = false;       // pieces past max_buffered_ were not kept
  bool done_ = false;
  bool complete_ = false;
};

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
    std::shared_ptr<Broadcast> StartBroadcast(SharedResponse shared);

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

// Buffer limit of a broadcast (kept for every collapsible miss in flight): followers that
// need bytes beyond it continue from the store once the object is committed.
inline constexpr uint64_t kBroadcastBufferBytes = 4ull << 20;

}  // namespace edgecache::proxy
