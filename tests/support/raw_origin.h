// RawOrigin: an origin server written for one test, on a free 127.0.0.1 port, that answers
// each request with the exact bytes a handler returns (any header line, any framing,
// interim responses, nonsense), then closes the connection; in keep-alive mode it reads
// the next request on the same connection instead, until the client closes it (one
// connection at a time). What it received is kept for the test to inspect. It stops, and
// its thread joins, when the object is destroyed.
//
// Unlike origin-sim it shares no code with the proxy's HTTP handling, so a rule tested
// through it is checked against bytes written from the RFC text, not against ourselves.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace edgecache::testing {

struct RawRequest {
  std::string method;
  std::string target;
  std::string head;  // request line and header lines, as received
  std::string body;
  int connection = 0;  // which accepted connection it came on, counting from 1

  // The value of the first header line `name` (case-insensitive), "" when absent.
  std::string Header(std::string name) const {
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    const std::string h = lower(head);
    const size_t at = h.find("\r\n" + lower(name) + ":");
    if (at == std::string::npos) return "";
    size_t start = at + 3 + name.size();
    while (start < head.size() && head[start] == ' ') ++start;
    return head.substr(start, head.find("\r\n", start) - start);
  }
};

class RawOrigin {
 public:
  using Handler = std::function<std::string(const RawRequest&)>;
  // In a handler's answer, stands for half a second without sending: a slow origin.
  static constexpr std::string_view kPause = "\x01pause\x01";

  enum class Mode { kCloseAfterResponse, kKeepAlive };

  explicit RawOrigin(Handler handler, Mode mode = Mode::kCloseAfterResponse)
      : handler_(std::move(handler)), mode_(mode) {
    // Close-on-exec: a node started after this must not inherit (and keep) the port.
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~RawOrigin() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  RawOrigin(const RawOrigin&) = delete;
  RawOrigin& operator=(const RawOrigin&) = delete;

  uint16_t port() const { return port_; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<RawRequest> Requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // How many requests arrived whose target starts with `prefix`.
  int Count(const std::string& prefix) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& r : requests_) n += r.target.starts_with(prefix) ? 1 : 0;
    return n;
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      timeval tv{5, 0};
      ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      ++connections_;
      std::string pending;  // bytes read past the last request
      RawRequest req;
      while (ReadRequest(conn, &pending, &req)) {
        req.connection = connections_;
        {
          std::lock_guard lock(mu_);
          requests_.push_back(req);
        }
        Send(conn, handler_(req));
        if (mode_ == Mode::kCloseAfterResponse) break;
        req = {};
      }
      ::close(conn);
    }
  }

  void Send(int conn, std::string_view response) {
    while (!response.empty() && !stop_) {
      const size_t pause = response.find(kPause);
      const std::string_view part = response.substr(0, pause);
      for (size_t sent = 0; sent < part.size();) {
        const ssize_t n = ::send(conn, part.data() + sent, part.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<size_t>(n);
      }
      if (pause == std::string_view::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      response.remove_prefix(pause + kPause.size());
    }
  }

  // Appends what arrives to `data`; false on end of stream, an error, 5 s without a byte,
  // or the origin stopping.
  bool Receive(int conn, std::string* data) {
    for (int waited_ms = 0; !stop_ && waited_ms < 5000; waited_ms += 50) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(conn, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      data->append(buf, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  // One request from `pending` and what arrives; what follows it is left in `pending`.
  bool ReadRequest(int conn, std::string* pending, RawRequest* req) {
    std::string& data = *pending;
    size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
      if (!Receive(conn, &data)) return false;
    }
    req->head = data.substr(0, head_end + 2);
    req->method = req->head.substr(0, req->head.find(' '));
    const size_t target_start = req->method.size() + 1;
    req->target = req->head.substr(target_start, req->head.find(' ', target_start) - target_start);
    data.erase(0, head_end + 4);
    const std::string length = req->Header("content-length");
    const bool chunked = req->Header("transfer-encoding").find("chunked") != std::string::npos;
    // The body's length; npos until a chunked body's last chunk has arrived.
    auto body_size = [&]() -> size_t {
      if (!chunked) return length.empty() ? 0 : std::stoul(length);
      const size_t last = data.find("0\r\n\r\n");
      return last == std::string::npos ? std::string::npos : last + 5;
    };
    while (body_size() == std::string::npos || data.size() < body_size()) {
      if (!Receive(conn, &data)) return false;
    }
    req->body = data.substr(0, body_size());
    data.erase(0, req->body.size());
    return true;
  }

  Handler handler_;
  const Mode mode_;
  int connections_ = 0;  // accepted so far (the server thread's own)
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<RawRequest> requests_;  // GUARDED_BY(mu_)
};

}  // namespace edgecache::testing
