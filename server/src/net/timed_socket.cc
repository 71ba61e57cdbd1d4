// TimedSocket and its Watchdog: see timed_socket.h.
#include "net/timed_socket.h"

namespace edgecache::net {

namespace asio = boost::asio;

Watchdog::Watchdog(asio::execution_context& context)
    : asio::execution_context::service(context),
      io_(static_cast<asio::io_context&>(context)),
      timer_(io_) {}

Watchdog::~Watchdog() = default;

void Watchdog::shutdown() {
  std::lock_guard lock(mu_);
  shut_down_ = true;
}

void Watchdog::Add(TimedSocket* socket) {
  std::lock_guard lock(mu_);
  socket->prev_ = nullptr;
  socket->next_ = head_;
  if (head_ != nullptr) head_->prev_ = socket;
  head_ = socket;
  if (!armed_ && !shut_down_) Arm();
}

void Watchdog::Remove(TimedSocket* socket) {
  std::lock_guard lock(mu_);
  if (socket->prev_ != nullptr) {
    socket->prev_->next_ = socket->next_;
  } else {
    head_ = socket->next_;
  }
  if (socket->next_ != nullptr) socket->next_->prev_ = socket->prev_;
  socket->prev_ = socket->next_ = nullptr;
  // An armed sweep that finds no socket does not arm the next one.
}

void Watchdog::Arm() {
  armed_ = true;
  timer_.expires_after(kSweepInterval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Sweep();
  });
}

void Watchdog::Sweep() {
  std::lock_guard lock(mu_);
  armed_ = false;
  if (shut_down_) return;
  const auto now = std::chrono::steady_clock::now();
  for (TimedSocket* s = head_; s != nullptr; s = s->next_) {
    if (s->Overdue(now)) s->Expire();
  }
  if (head_ != nullptr) Arm();
}

TimedSocket::TimedSocket(const executor_type& executor)
    : socket_(executor),
      watchdog_(asio::use_service<Watchdog>(asio::query(executor, asio::execution::context))) {
  watchdog_.Add(this);
}

TimedSocket::TimedSocket(socket_type socket)
    : socket_(std::move(socket)),
      watchdog_(asio::use_service<Watchdog>(
          asio::query(socket_.get_executor(), asio::execution::context))) {
  watchdog_.Add(this);
}

TimedSocket::TimedSocket(TimedSocket&& other)
    : socket_(std::move(other.socket_)),
      watchdog_(other.watchdog_),
      deadline_(other.deadline_),
      timed_out_(other.timed_out_) {
  watchdog_.Add(this);
}

TimedSocket::~TimedSocket() { watchdog_.Remove(this); }

void TimedSocket::Expire() {
  // Like beast::tcp_stream: the socket is closed, so the operation in flight ends now
  // (operation_aborted, reported as a timeout) and no later one can succeed.
  timed_out_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace edgecache::net
