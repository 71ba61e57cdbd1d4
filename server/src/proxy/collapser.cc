#include "proxy/collapser.h"

#include <algorithm>

namespace edgecache::proxy {

namespace asio = boost::asio;

void Collapser::Ticket::Release() {
  if (owner_ == nullptr) return;
  owner_->Finish(key_);
  owner_ = nullptr;
}

void Collapser::Ticket::Publish(std::shared_ptr<Broadcast> broadcast) {
  if (owner_ == nullptr) return;
  std::shared_ptr<Flight> flight = owner_->Find(key_);
  if (!flight) return;
  std::lock_guard lock(flight->wait->mu());
  flight->broadcast = std::move(broadcast);
  flight->wait->WakeAll();
}

void Collapser::Ticket::Committing() {
  if (owner_ == nullptr) return;
  std::lock_guard lock(owner_->mu_);
  auto it = owner_->flights_.find(key_);
  if (it == owner_->flights_.end() || it->second->committing) return;
  it->second->committing = true;
  owner_->committing_.fetch_add(1);
}

asio::awaitable<void> Collapser::AwaitCommit(const std::string& key,
                                             std::chrono::milliseconds max_wait) {
  if (committing_.load() == 0) co_return;
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(mu_);
    auto it = flights_.find(key);
    if (it == flights_.end() || !it->second->committing) co_return;
    flight = it->second;
  }
  co_await flight->wait->Park(max_wait, [&] { return flight->finished; });
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
    if (flight->committing) committing_.fetch_sub(1);
  }
  std::lock_guard lock(flight->wait->mu());
  flight->finished = true;
  flight->wait->WakeAll();
}

}  // namespace edgecache::proxy
