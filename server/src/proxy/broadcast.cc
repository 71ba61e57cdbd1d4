#include "proxy/broadcast.h"

#include <algorithm>

namespace edgecache::proxy {

namespace asio = boost::asio;

Broadcast::Broadcast(SharedResponse shared, uint64_t max_buffered)
    : shared_(std::move(shared)), max_buffered_(max_buffered) {}

Broadcast::Reader* Broadcast::Slowest() {
  Reader* slowest = nullptr;
  for (Reader* r : readers_) {
    if (!r->let_go_ && (slowest == nullptr || r->offset_ < slowest->offset_)) slowest = r;
  }
  return slowest;
}

void Broadcast::Trim() {
  Reader* slowest = Slowest();
  const uint64_t keep_from = slowest == nullptr ? received_ : slowest->offset_;
  while (!pieces_.empty() && base_ + pieces_.front()->size() <= keep_from) {
    base_ += pieces_.front()->size();
    pieces_.pop_front();
  }
  if (pieces_.empty()) base_ = received_;
}

asio::awaitable<void> Broadcast::Append(std::string_view piece,
                                        std::chrono::milliseconds max_wait) {
  {
    std::lock_guard lock(wait_->mu());
    pieces_.push_back(std::make_shared<const std::string>(piece));
    received_ += piece.size();
    // While the body is being stored, nobody waits: readers beyond the window finish from
    // the store.
    while (storing_ && received_ - base_ > max_buffered_) {
      Reader* slowest = Slowest();
      if (slowest == nullptr) break;
      slowest->let_go_ = true;
      Trim();
    }
    Trim();
    wait_->WakeAll();
    if (received_ - base_ <= max_buffered_) co_return;
  }
  // Not storing: the slowest reader paces the origin rather than being cut short.
  co_await wait_->Park(max_wait, [this] { return received_ - base_ <= max_buffered_; });
  std::lock_guard lock(wait_->mu());
  while (received_ - base_ > max_buffered_) {  // it did not read within the wait: let it go
    Reader* slowest = Slowest();
    if (slowest == nullptr) break;
    slowest->let_go_ = true;
    Trim();
  }
  wait_->WakeAll();
}

void Broadcast::StoreFailed() {
  std::lock_guard lock(wait_->mu());
  storing_ = false;
}

void Broadcast::Finish(bool complete, bool stored) {
  std::lock_guard lock(wait_->mu());
  if (done_) return;
  done_ = true;
  complete_ = complete;
  stored_ = complete && stored;
  wait_->WakeAll();
}

std::unique_ptr<Broadcast::Reader> Broadcast::Join() {
  std::lock_guard lock(wait_->mu());
  if (base_ > 0 || done_) return nullptr;  // the first bytes are gone: read the store
  std::unique_ptr<Reader> reader(new Reader(shared_from_this()));
  readers_.push_back(reader.get());
  return reader;
}

Broadcast::Reader::~Reader() {
  std::lock_guard lock(b_->wait_->mu());
  std::erase(b_->readers_, this);
  b_->Trim();
  b_->wait_->WakeAll();  // the filler may wait for room
}

asio::awaitable<Broadcast::Next> Broadcast::Reader::Read(std::chrono::milliseconds max_wait) {
  Broadcast& b = *b_;
  co_await b.wait_->Park(max_wait, [&] { return let_go_ || offset_ < b.received_ || b.done_; });
  std::lock_guard lock(b.wait_->mu());
  Next next;
  if (let_go_) {
    next.let_go = true;
  } else if (offset_ < b.received_) {
    uint64_t start = b.base_;
    for (const auto& piece : b.pieces_) {
      if (offset_ < start + piece->size()) {
        next.piece = piece;
        next.data = std::string_view(*piece).substr(offset_ - start);
        break;
      }
      start += piece->size();
    }
    if (next.data.empty()) {  // not kept (cannot happen while it streams): the store has it
      let_go_ = true;
      next.let_go = true;
    }
    offset_ += next.data.size();
    b.Trim();
    b.wait_->WakeAll();
  } else if (b.done_) {
    next.done = true;
    next.complete = b.complete_;
    next.stored = b.stored_;
  } else {
    next.timed_out = true;
  }
  co_return next;
}

asio::awaitable<std::pair<bool, bool>> Broadcast::WaitDone(std::chrono::milliseconds max_wait) {
  // As long as bytes keep arriving the wait goes on: a large body takes longer than one
  // wait, a stalled one does not.
  uint64_t seen = UINT64_MAX;
  for (;;) {
    {
      std::lock_guard lock(wait_->mu());
      if (done_) co_return std::make_pair(complete_, stored_);
      if (received_ == seen) co_return std::make_pair(false, false);
      seen = received_;
    }
    co_await wait_->Park(max_wait, [&] { return done_ || received_ != seen; });
  }
}

}  // namespace edgecache::proxy
