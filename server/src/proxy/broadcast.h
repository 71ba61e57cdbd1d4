// Broadcast: one origin response body, read from the origin once at the origin's pace and
// sent to several clients (the leader's own client and collapsed followers), each at its
// own pace, while it is written into the store.
//
// Memory is bounded and held only for readers: a piece is kept until every registered
// reader has read past it, and never more than `max_buffered` bytes in all. A request that
// joins after the first bytes were dropped cannot stream (Join gives nullptr): it waits for
// the end and is served from the store. When the window is full:
//   * while the body is being stored, the readers furthest behind are let go: they wait
//     for the end and read the rest from the store, so one slow client never paces the
//     origin fetch or the other clients;
//   * once storing has failed (or when nothing is stored), the filler waits for the
//     slowest reader instead (bounded by its wait), so no reader is cut short.
//
// Thread safety: every method may be called from any coroutine; readers and the filler
// must each run on a single-threaded executor or a strand (every connection of
// the node does).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/wait_list.h"

namespace edgecache::proxy {

// What every client of a broadcast may be sent: the response header as it is stored (no
// Set-Cookie, no private="…" / no-cache="…" fields), its length when known, and the
// variant it is: the Vary names it was selected by and the variant key they gave.
struct SharedResponse {
  boost::beast::http::response_header<> header;
  std::optional<uint64_t> length;
  std::vector<std::string> vary;
  std::string secondary;
};

class Broadcast : public std::enable_shared_from_this<Broadcast> {
 public:
  Broadcast(SharedResponse shared, uint64_t max_buffered);

  const boost::beast::http::response_header<>& header() const { return shared_.header; }
  std::optional<uint64_t> length() const { return shared_.length; }
  const std::vector<std::string>& vary() const { return shared_.vary; }
  const std::string& secondary() const { return shared_.secondary; }

  // --- filler side ---
  // Appends the next piece of the body; may wait (up to `max_wait`) for readers, see above.
  boost::asio::awaitable<void> Append(std::string_view piece, std::chrono::milliseconds max_wait);
  // Storing the body failed: readers can no longer finish from the store.
  void StoreFailed();
  // The body is over: `complete` when every byte arrived, `stored` when it was committed.
  void Finish(bool complete, bool stored);

  // --- reader side ---
  struct Next {
    std::shared_ptr<const std::string> piece;  // keeps `data` alive
    std::string_view data;                     // the next bytes, or empty with one of:
    bool let_go = false;                       // fell behind: WaitDone, then read on from the store
    bool done = false;                         // the body is over
    bool complete = false;
    bool stored = false;
    bool timed_out = false;  // nothing arrived within the wait
  };
  class Reader {
   public:
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    uint64_t offset() const { return offset_; }
    // The bytes at offset() (then past them), or why there are none.
    boost::asio::awaitable<Next> Read(std::chrono::milliseconds max_wait);

   private:
    friend class Broadcast;
    explicit Reader(std::shared_ptr<Broadcast> b) : b_(std::move(b)) {}
    std::shared_ptr<Broadcast> b_;
    uint64_t offset_ = 0;  // GUARDED_BY(b_->wait_->mu())
    bool let_go_ = false;  // GUARDED_BY(b_->wait_->mu())
  };
  // A reader from the first byte, or nullptr when those bytes are gone already.
  std::unique_ptr<Reader> Join();

  // Waits for the end of the body: {complete, stored}.
  boost::asio::awaitable<std::pair<bool, bool>> WaitDone(std::chrono::milliseconds max_wait);

 private:
  // Drops pieces every reader has passed. REQUIRES: wait_->mu() held.
  void Trim();
  // The slowest reader still streaming, or nullptr. REQUIRES: wait_->mu() held.
  Reader* Slowest();

  const SharedResponse shared_;
  const uint64_t max_buffered_;
  std::shared_ptr<WaitList> wait_ = std::make_shared<WaitList>();
  // GUARDED_BY(wait_->mu()):
  std::deque<std::shared_ptr<const std::string>> pieces_;
  uint64_t base_ = 0;      // body offset of pieces_.front()
  uint64_t received_ = 0;  // body offset past the last piece
  std::vector<Reader*> readers_;
  bool storing_ = true;
  bool done_ = false, complete_ = false, stored_ = false;
};

// The window of a broadcast: readers more than this far behind are let go (or, once the
// store failed, waited for).
inline constexpr uint64_t kBroadcastBufferBytes = 4ull << 20;

}  // namespace edgecache::proxy
