// TimedSocket: a TCP socket whose operations fail with beast::error::timeout once a
// deadline passes, as beast::tcp_stream's do, without a timer per operation.
//
// beast::tcp_stream starts a timer wait with every read and write and cancels it when the
// operation completes: four timer-queue changes per request (and their timerfd updates),
// ~4% of a 1 KiB hit's CPU. Here expires_after only records the deadline. One Watchdog
// per io_context looks at its sockets every kSweepInterval while any exist, and closes
// those with an operation in flight past their deadline; the operation then completes
// with beast::error::timeout, as does every later one. A deadline is thus met within
// kSweepInterval late, never early, and a socket with nothing in flight is never closed
// by it (as with beast::tcp_stream).
//
// Thread safety: a TimedSocket is used by one coroutine at a time, on the thread that runs
// its io_context (one thread per io_context, as the node runs them). It may be destroyed
// from another thread once nothing is in flight.
#pragma once

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <mutex>
#include <utility>

namespace edgecache::net {

class TimedSocket;

// The sockets of one io_context and the sweep that times them out.
class Watchdog : public boost::asio::execution_context::service {
 public:
  using key_type = Watchdog;
  static inline boost::asio::execution_context::id id;
  static constexpr std::chrono::milliseconds kSweepInterval{50};

  explicit Watchdog(boost::asio::execution_context& context);
  ~Watchdog() override;

  void Add(TimedSocket* socket);
  void Remove(TimedSocket* socket);

 private:
  void shutdown() override;
  void Arm();    // REQUIRES: mu_ held
  void Sweep();  // on the io_context's thread

  boost::asio::io_context& io_;
  std::mutex mu_;
  TimedSocket* head_ = nullptr;  // GUARDED_BY(mu_): the sockets, linked through their next_
  bool armed_ = false;           // GUARDED_BY(mu_): a sweep is due
  bool shut_down_ = false;       // GUARDED_BY(mu_)
  boost::asio::steady_timer timer_;
};

class TimedSocket {
 public:
  using executor_type = boost::asio::any_io_executor;
  using socket_type = boost::asio::ip::tcp::socket;
  using lowest_layer_type = socket_type::lowest_layer_type;  // for ssl::stream

  // REQUIRES: the executor's context is an io_context.
  explicit TimedSocket(const executor_type& executor);
  explicit TimedSocket(socket_type socket);
  ~TimedSocket();
  TimedSocket(const TimedSocket&) = delete;
  TimedSocket& operator=(const TimedSocket&) = delete;
  // ssl::stream takes its next layer by value.
  TimedSocket(TimedSocket&& other);

  executor_type get_executor() { return socket_.get_executor(); }
  socket_type& socket() { return socket_; }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }

  // Operations that start from now on must be over within `d` (and the one in flight,
  // if any, from now).
  template <typename Duration>
  void expires_after(Duration d) {
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
  }
  void expires_never() { deadline_ = std::chrono::steady_clock::time_point::max(); }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          socket_.async_read_some(b, Completion<decltype(handler)>(this, std::move(handler)));
        },
        token, buffers);
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          socket_.async_write_some(b, Completion<decltype(handler)>(this, std::move(handler)));
        },
        token, buffers);
  }
  // Completes when the socket can take more bytes (for writes made with system calls of
  // their own, such as sendfile), under the same deadline as the other operations.
  template <typename Token>
  auto async_wait_writable(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) {
          socket_.async_wait(socket_type::wait_write,
                             Completion<decltype(handler)>(this, std::move(handler)));
        },
        token);
  }

  // Connects to the first of `endpoints` that accepts (asio::async_connect).
  template <typename Endpoints, typename Token>
  auto async_connect(const Endpoints& endpoints, Token&& token) {
    using Endpoint = typename Endpoints::endpoint_type;
    return boost::asio::async_initiate<Token, void(boost::system::error_code, Endpoint)>(
        [this](auto handler, const Endpoints& e) {
          boost::asio::async_connect(socket_, e,
                                     Completion<decltype(handler)>(this, std::move(handler)));
        },
        token, endpoints);
  }

 private:
  friend class Watchdog;

  // Wraps an operation's handler: counts the operation in flight and turns the error of
  // one a timeout ended into beast::error::timeout. The handler's executor, allocator and
  // cancellation slot stay associated. One destroyed unrun (the io_context is going away)
  // leaves its count: nothing sweeps the socket after that.
  template <typename Handler>
  class Completion {
   public:
    using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
    using allocator_type = boost::asio::associated_allocator_t<Handler>;
    using cancellation_slot_type = boost::asio::associated_cancellation_slot_t<Handler>;

    Completion(TimedSocket* socket, Handler handler)
        : socket_(socket), handler_(std::move(handler)) {
      ++socket_->in_flight_;
    }

    executor_type get_executor() const noexcept {
      return boost::asio::get_associated_executor(handler_, socket_->socket_.get_executor());
    }
    allocator_type get_allocator() const noexcept {
      return boost::asio::get_associated_allocator(handler_);
    }
    cancellation_slot_type get_cancellation_slot() const noexcept {
      return boost::asio::get_associated_cancellation_slot(handler_);
    }

    template <typename... Args>
    void operator()(boost::system::error_code ec, Args&&... args) {
      --socket_->in_flight_;
      if (socket_->timed_out_) ec = boost::beast::error::timeout;
      std::move(handler_)(ec, std::forward<Args>(args)...);
    }

   private:
    TimedSocket* socket_;
    Handler handler_;
  };

  // From the watchdog's sweep: past its deadline with an operation in flight.
  bool Overdue(std::chrono::steady_clock::time_point now) const {
    return in_flight_ > 0 && now >= deadline_;
  }
  void Expire();

  socket_type socket_;
  Watchdog& watchdog_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  int in_flight_ = 0;
  bool timed_out_ = false;
  // The watchdog's list of its sockets (guarded by its mutex).
  TimedSocket* prev_ = nullptr;
  TimedSocket* next_ = nullptr;
};

}  // namespace edgecache::net
