#include "http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "util/ascii.h"

namespace edgecache::ctl {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Blocking calls built from asynchronous ones on a private io_context, so every connect,
// write and read has a deadline (blocking socket calls in Asio have none).
template <typename Protocol>
class Client final : public HttpClient {
 public:
  Client(std::vector<typename Protocol::endpoint> endpoints, std::string where,
         std::string host_header, std::chrono::milliseconds timeout)
      : endpoints_(std::move(endpoints)),
        where_(std::move(where)),
        host_header_(std::move(host_header)),
        timeout_(timeout) {}

  Status Open() {
    stream_ = std::make_unique<beast::basic_stream<Protocol>>(io_);
    buffer_.clear();
    reused_ = false;
    boost::system::error_code ec;
    Arm();
    stream_->async_connect(endpoints_, [&ec](const boost::system::error_code& e,
                                             const typename Protocol::endpoint&) { ec = e; });
    Run();
    if (ec) return Status::IOError("cannot connect to " + where_ + ": " + Describe(ec));
    return Status::OK();
  }

  Status Send(const std::string& method, const std::string& target,
              const std::map<std::string, std::string>& headers, const std::string& body,
              HttpReply* reply) override {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_header_);
    req.set(http::field::user_agent, "edgecachectl");
    // The admin API takes only JSON POSTs (a browser cannot send one cross-site).
    if (method == "POST") req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    for (;;) {
      if (!stream_) {
        Status s = Open();
        if (!s.ok()) return s;
      }
      const bool reused = reused_;
      boost::system::error_code ec;
      bool answered = false;
      http::response_parser<http::string_body> parser;
      parser.body_limit(boost::none);
      parser.skip(method == "HEAD");
      Arm();
      http::async_write(*stream_, req, [&](const boost::system::error_code& e, size_t) {
        ec = e;
        if (e) return;
        http::async_read_header(
            *stream_, buffer_, parser, [&](const boost::system::error_code& e2, size_t) {
              ec = e2;
              answered = !e2;
              if (e2 || parser.is_done()) return;
              http::async_read(*stream_, buffer_, parser,
                               [&](const boost::system::error_code& e3, size_t) { ec = e3; });
            });
      });
      Run();
      if (!ec) {
        *reply = HttpReply{};
        reply->status = static_cast<int>(parser.get().result_int());
        for (const auto& f : parser.get()) {
          const std::string_view name(f.name_string().data(), f.name_string().size());
          auto& slot = reply->headers[util::AsciiLower(name)];
          slot += (slot.empty() ? "" : ", ") + std::string(f.value());
        }
        reply->body = std::move(parser.get().body());
        if (parser.get().keep_alive()) {
          reused_ = true;
        } else {
          stream_.reset();
        }
        return Status::OK();
      }
      stream_.reset();
      // A kept-alive connection the server closed while idle fails before any answer:
      // one retry on a fresh connection, never for a POST (it may have been carried out).
      const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                          ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
      if (!(reused && closed && !answered && method != "POST")) {
        return Status::IOError(where_ + ": " + Describe(ec));
      }
    }
  }

 private:
  void Arm() {
    if (timeout_.count() > 0) {
      stream_->expires_after(timeout_);
    } else {
      stream_->expires_never();
    }
  }
  void Run() {
    io_.restart();
    io_.run();
  }
  static std::string Describe(const boost::system::error_code& ec) {
    return ec == beast::error::timeout ? "no answer in time" : ec.message();
  }

  const std::vector<typename Protocol::endpoint> endpoints_;
  const std::string where_;
  const std::string host_header_;
  const std::chrono::milliseconds timeout_;  // 0: none
  asio::io_context io_;
  std::unique_ptr<beast::basic_stream<Protocol>> stream_;
  beast::flat_buffer buffer_;
  bool reused_ = false;  // the connection has carried a request already
};

}  // namespace

Status HttpClient::Connect(const std::string& where, std::chrono::milliseconds timeout,
                           std::unique_ptr<HttpClient>* out) {
  if (where.starts_with("unix:")) {
    using Local = asio::local::stream_protocol;
    auto client = std::make_unique<Client<Local>>(
        std::vector<Local::endpoint>{Local::endpoint(where.substr(5))}, where, "localhost",
        timeout);
    Status s = client->Open();
    if (!s.ok()) return s;
    *out = std::move(client);
    return Status::OK();
  }
  std::string rest = where;
  if (rest.starts_with("http://")) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (rest.empty() || colon == std::string::npos || colon == 0 || colon + 1 == rest.size() ||
      rest.find('/') != std::string::npos) {
    return Status::InvalidArgument("'" + where + "' is not http://HOST:PORT or unix:/PATH");
  }
  std::string host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, rest.substr(colon + 1), ec);
  if (ec) return Status::IOError("cannot resolve " + where + ": " + ec.message());
  std::vector<asio::ip::tcp::endpoint> endpoints;
  for (const auto& r : results) endpoints.push_back(r.endpoint());
  auto client = std::make_unique<Client<asio::ip::tcp>>(std::move(endpoints), where, rest, timeout);
  Status s = client->Open();
  if (!s.ok()) return s;
  *out = std::move(client);
  return Status::OK();
}

}  // namespace edgecache::ctl
