#include "proxy/collapser.h"

#include <algorithm>

namespace edgecache::proxy {

namespace asio = boost::asio;

Broadcast::Broadcast(SharedResponse shared, uint64_t max_buffered)
    : shared_(std::move(shared)), max_buffered_(max_buffered) {}

void Broadcast::Append(std::string_view piece) {
  std::lock_guard lock(wait_->mu());
  if (overflowed_ || buffered_ + piece.size() > max_buffered_) {
    overflowed_ = true;
  } else {
    starts_.push_back(buffered_);
    pieces_.push_back(std::make_shared<const std::string>(piece));
    buffered_ += piece.size();
  }
  wait_->WakeAll();
}

void Broadcast::Finish(bool complete) {
  std::lock_guard lock(wait_->mu());
  done_ = true;
  complete_ = complete;
  wait_->WakeAll();
}

asio::awaitable<Broadcast::Next> Broadcast::Read(uint64_t offset,
                                                 std::chrono::milliseconds max_wait) {
  co_await wait_->Park(max_wait, [&] { return offset < buffered_ || overflowed_ || done_; });
  std::lock_guard lock(wait_->mu());
  Next next;
  if (offset < buffered_) {
    size_t i = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) -
                                   starts_.begin()) -
               1;
    next.piece = pieces_[i];
    next.data = std::string_view(*next.piece).substr(offset - starts_[i]);
    co_return next;
  }
  next.done = done_;
  next.complete = complete_;
  next.beyond_buffer = overflowed_;
  co_return next;
}

asio::awaitable<bool> Broadcast::WaitDone(std::chrono::milliseconds max_wait) {
  co_await wait_->Park(max_wait, [&] { return done_; });
  std::lock_guard lock(wait_->mu());
  co_return done_&& complete_;
}

void Collapser::Ticket::Release() {
  if (owner_ == nullptr) return;
  owner_->Finish(key_);
  owner_ = nullptr;
}

std::shared_ptr<Broadcast> Collapser::Ticket::StartBroadcast(SharedResponse shared) {
  if (owner_ == nullptr) return nullptr;
  std::shared_ptr<Flight> flight = owner_->Find(key_);
  if (!flight) return nullptr;
  std::lock_guard lock(flight->wait->mu());
  // Made even when nobody waits yet: a request arriving mid-body still needs the bytes
  // from the start. kBroadcastBufferBytes bounds what that costs.
  flight->broadcast = std::make_shared<Broadcast>(std::move(shared), kBroadcastBufferBytes);
  flight->wait->WakeAll();
  return flight->broadcast;
}

std::shared_ptr<Collapser::Flight> Collapser::Find(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = flights_.find(key);
  return it == flights_.end() ? nullptr : it->second;
}

asio::awaitable<Collapser::Joined> Collapser::Acquire(const std::string& key,
                                                      std::chrono::milliseconds max_wait,
                                                      bool can_stream, Ticket* ticket) {
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
      it->second = std::make_shared<Flight>();
      ticket->owner_ = this;
      ticket->key_ = key;
      co_return Joined{};
    }
    flight = it->second;
  }
  co_await flight->wait->Park(
      max_wait, [&] { return flight->finished || (can_stream && flight->broadcast != nullptr); });
  std::lock_guard lock(flight->wait->mu());
  co_return Joined{true, can_stream ? flight->broadcast : nullptr};
}

void Collapser::Finish(const std::string& key) {
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(mu_);
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    flight = std::move(it->second);
    flights_.erase(it);
  }
  std::lock_guard lock(flight->wait->mu());
  flight->finished = true;
  flight->wait->WakeAll();
}

}  // namespace edgecache::proxy
