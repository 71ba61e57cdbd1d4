#include "origin/origin_pool.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace edgecache::origin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;

OriginPool::OriginPool(std::shared_ptr<ssl::context> tls, size_t max_idle_per_origin)
    : tls_(std::move(tls)), max_idle_(max_idle_per_origin) {}

OriginPool::~OriginPool() {
  for (auto& [origin, session] : sessions_) SSL_SESSION_free(session);
}

OriginPool::KeyView OriginPool::KeyFor(const asio::any_io_executor& executor,
                                       const config::OriginUrl& origin) {
  return {&asio::query(executor, asio::execution::context), origin.host, origin.port, origin.tls,
          origin.sni};
}

std::vector<std::unique_ptr<net::Stream>>& OriginPool::IdleFor(const KeyView& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) {
    const auto& [context, host, port, tls, sni] = key;
    it = idle_.try_emplace(Key{context, std::string(host), port, tls, std::string(sni)}).first;
  }
  return it->second;
}

std::string OriginPool::SessionName(const config::OriginUrl& origin) {
  return origin.ToString() + " " + origin.sni;
}

asio::awaitable<Connection> OriginPool::Acquire(const config::OriginUrl& origin,
                                                std::chrono::milliseconds connect_timeout,
                                                bool fresh) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  if (!fresh) {
    std::lock_guard lock(mu_);
    auto& idle = IdleFor(KeyFor(executor, origin));
    while (!idle.empty()) {
      std::unique_ptr<net::Stream> stream = std::move(idle.back());
      idle.pop_back();
      if (stream->socket().is_open() && stream->Quiet()) {
        co_return Connection{{}, std::move(stream), true};
      }
    }
  }
  auto token = asio::as_tuple(asio::use_awaitable);
  asio::ip::tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(origin.host, std::to_string(origin.port), token);
  if (resolve_error) co_return Connection{resolve_error, nullptr, false};
  auto stream = std::make_unique<net::Stream>(executor);
  // The connect timeout covers the TLS handshake too.
  stream->expires_after(connect_timeout);
  auto [connect_error, endpoint] = co_await stream->timed().async_connect(endpoints, token);
  if (connect_error) co_return Connection{connect_error, nullptr, false};
  boost::system::error_code ignored;
  stream->socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  if (origin.tls) {
    stream->StartTls(*tls_);
    SSL* handle = stream->tls_stream().native_handle();
    const std::string& name = origin.sni.empty() ? origin.host : origin.sni;
    boost::system::error_code not_ip;
    asio::ip::make_address(name, not_ip);
    // SNI names hosts only (RFC 6066 §3); the certificate is checked against the configured
    // TLS name, else the host name or IP address of the origin's URL.
    if (not_ip) SSL_set_tlsext_host_name(handle, name.c_str());
    stream->tls_stream().set_verify_callback(ssl::host_name_verification(name));
    {
      std::lock_guard lock(mu_);
      if (auto it = sessions_.find(SessionName(origin)); it != sessions_.end())
        SSL_set_session(handle, it->second);
    }
    auto [handshake_error] =
        co_await stream->tls_stream().async_handshake(ssl::stream_base::client, token);
    if (handshake_error) {
      const long verify = SSL_get_verify_result(handle);
      co_return Connection{
          handshake_error, nullptr, false,
          verify != X509_V_OK ? X509_verify_cert_error_string(verify) : handshake_error.message()};
    }
  }
  co_return Connection{{}, std::move(stream), false};
}

void OriginPool::Release(const config::OriginUrl& origin, std::unique_ptr<net::Stream> stream) {
  stream->expires_never();
  // The session after a whole exchange: a TLS 1.3 server's tickets have arrived by then.
  SSL_SESSION* session =
      stream->tls() ? SSL_get1_session(stream->tls_stream().native_handle()) : nullptr;
  std::lock_guard lock(mu_);
  if (session != nullptr) {
    SSL_SESSION*& slot = sessions_[SessionName(origin)];
    if (slot != nullptr) SSL_SESSION_free(slot);
    slot = session;
  }
  auto& idle = IdleFor(KeyFor(stream->get_executor(), origin));
  if (idle.size() < max_idle_) idle.push_back(std::move(stream));
}

void OriginPool::Clear() {
  std::lock_guard lock(mu_);
  idle_.clear();
}

}  // namespace edgecache::origin
