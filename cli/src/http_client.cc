#include "http_client.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace edgecache::ctl {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

template <typename Protocol>
class Client final : public HttpClient {
 public:
  Client(std::vector<typename Protocol::endpoint> endpoints, std::string where,
         std::chrono::milliseconds timeout)
      : endpoints_(std::move(endpoints)),
        where_(std::move(where)),
        timeout_(timeout),
        socket_(io_) {}

  Status Open() {
    buffer_.clear();
    boost::system::error_code ec;
    socket_.close(ec);
    ec = asio::error::host_not_found;
    for (const auto& endpoint : endpoints_) {
      socket_.close(ec);
      socket_.connect(endpoint, ec);
      if (!ec) break;
    }
    if (ec) return Status::IOError("cannot connect to " + where_ + ": " + ec.message());
    // Blocking calls with a bound: a node that stops answering fails the command.
    timeval tv{static_cast<time_t>(timeout_.count() / 1000),
               static_cast<suseconds_t>(timeout_.count() % 1000 * 1000)};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return Status::OK();
  }

  Status Send(const std::string& method, const std::string& target,
              const std::map<std::string, std::string>& headers, const std::string& body,
              HttpReply* reply) override {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_header_);
    req.set(http::field::user_agent, "edgecachectl");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    for (int attempt = 0;; ++attempt) {
      if (!socket_.is_open()) {
        Status s = Open();
        if (!s.ok()) return s;
      }
      boost::system::error_code ec;
      bool received_any = false;
      http::write(socket_, req, ec);
      if (!ec) {
        http::response_parser<http::string_body> parser;
        parser.body_limit(boost::none);
        parser.skip(method == "HEAD");
        http::read_header(socket_, buffer_, parser, ec);
        received_any = !ec;
        if (!ec && !parser.is_done()) http::read(socket_, buffer_, parser, ec);
        if (!ec) {
          *reply = HttpReply{};
          reply->status = static_cast<int>(parser.get().result_int());
          for (const auto& f : parser.get()) {
            std::string name(f.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto& slot = reply->headers[name];
            slot += (slot.empty() ? "" : ", ") + std::string(f.value());
          }
          reply->body = std::move(parser.get().body());
          if (!parser.get().keep_alive()) socket_.close(ec);
          return Status::OK();
        }
      }
      socket_.close();
      // A kept-alive connection the server had closed fails before any byte of the
      // answer: one retry on a fresh connection. Anything else is the answer.
      if (attempt > 0 || received_any) {
        const bool timed_out = ec == asio::error::would_block || ec == asio::error::timed_out;
        return Status::IOError(where_ + ": " + (timed_out ? "no answer in time" : ec.message()));
      }
    }
  }

  std::string host_header_ = "localhost";

 private:
  const std::vector<typename Protocol::endpoint> endpoints_;
  const std::string where_;
  const std::chrono::milliseconds timeout_;
  asio::io_context io_;
  typename Protocol::socket socket_;
  beast::flat_buffer buffer_;
};

}  // namespace

Status HttpClient::Connect(const std::string& where, std::chrono::milliseconds timeout,
                           std::unique_ptr<HttpClient>* out) {
  if (where.starts_with("unix:")) {
    using Local = asio::local::stream_protocol;
    auto client = std::make_unique<Client<Local>>(
        std::vector<Local::endpoint>{Local::endpoint(where.substr(5))}, where, timeout);
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
  auto client = std::make_unique<Client<asio::ip::tcp>>(std::move(endpoints), where, timeout);
  client->host_header_ = rest;
  Status s = client->Open();
  if (!s.ok()) return s;
  *out = std::move(client);
  return Status::OK();
}

}  // namespace edgecache::ctl
