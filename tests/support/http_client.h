// A small blocking HTTP/1.1 client over loopback for integration tests (Beast).
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace edgecache::testing {

struct HttpResponse {
  int status = 0;                              // 0: no response (connection failed or closed)
  std::map<std::string, std::string> headers;  // lower-case names; repeated ones joined by ", "
  std::string body;
  bool complete = false;  // the whole message arrived
  std::string error;
  std::vector<int> interim;  // statuses of the 1xx responses that came before this one

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  bool Has(const std::string& lower_name) const { return headers.count(lower_name) > 0; }
};

// One connection to 127.0.0.1:port, kept open across requests.
class HttpConnection {
 public:
  explicit HttpConnection(uint16_t port) : socket_(io_) {
    boost::system::error_code ec;
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    connected_ = !ec;
  }

  HttpResponse Send(const std::string& method, const std::string& target,
                    const std::map<std::string, std::string>& headers = {},
                    const std::string& body = "", const std::string& host = "test.local") {
    namespace http = boost::beast::http;
    HttpResponse out;
    if (!connected_) {
      out.error = "connect failed";
      return out;
    }
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == "POST" || method == "PUT") req.prepare_payload();
    boost::system::error_code ec;
    http::write(socket_, req, ec);
    if (ec) {
      out.error = ec.message();
      return out;
    }
    return Read(method == "HEAD");
  }

  // Writes raw bytes (malformed or pipelined requests).
  void SendRaw(const std::string& bytes) {
    boost::system::error_code ec;
    boost::asio::write(socket_, boost::asio::buffer(bytes), ec);
  }

  // The next final response, the 1xx before it listed in `interim`; with
  // `return_interim`, the next response whatever its status.
  HttpResponse Read(bool head = false, bool return_interim = false) {
    namespace http = boost::beast::http;
    HttpResponse out;
    std::optional<http::response_parser<http::string_body>> slot;
    boost::system::error_code ec;
    // Interim responses (1xx but 101) come before the final one, as a client reads them.
    for (;;) {
      slot.emplace();
      slot->body_limit(boost::none);
      slot->skip(head);
      http::read_header(socket_, buffer_, *slot, ec);
      if (ec) {
        out.error = ec.message();
        return out;
      }
      const int status = static_cast<int>(slot->get().result_int());
      if (status >= 200 || status == 101 || return_interim) break;
      out.interim.push_back(status);
    }
    http::response_parser<http::string_body>& parser = *slot;
    out.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto& slot = out.headers[name];
      slot += (slot.empty() ? "" : ", ") + std::string(f.value());
    }
    if (!parser.is_done()) http::read(socket_, buffer_, parser, ec);
    out.body = parser.get().body();
    out.complete = !ec && parser.is_done();
    if (ec) out.error = ec.message();
    return out;
  }

  // Whatever bytes arrive next (blocking), raw.
  size_t ReadSome(char* data, size_t size, boost::system::error_code& ec) {
    return socket_.read_some(boost::asio::buffer(data, size), ec);
  }

  // True when the server has closed the connection (reads EOF).
  bool ClosedByPeer() {
    char c;
    boost::system::error_code ec;
    socket_.non_blocking(false);
    timeval tv{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (buffer_.size() > 0) return false;
    size_t n = socket_.read_some(boost::asio::buffer(&c, 1), ec);
    return n == 0 && ec;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

// One request on a fresh connection.
inline HttpResponse Fetch(uint16_t port, const std::string& method, const std::string& target,
                          const std::map<std::string, std::string>& headers = {},
                          const std::string& body = "", const std::string& host = "test.local") {
  HttpConnection c(port);
  return c.Send(method, target, headers, body, host);
}

}  // namespace edgecache::testing
