#include "net/tls.h"

#include <openssl/ssl.h>

namespace edgecache::net {
namespace {

namespace ssl = boost::asio::ssl;

// ALPN: this node speaks HTTP/1.1 only; a client that offers no http/1.1 gets no ALPN
// answer (RFC 7301 §3.2 lets a server ignore protocols it does not know).
int SelectHttp11(SSL*, const unsigned char** out, unsigned char* out_length,
                 const unsigned char* in, unsigned int in_length, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp11, sizeof(kHttp11), in, in_length) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

Status MakeClientContext(const std::string& ca_file, std::shared_ptr<ssl::context>* out) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->set_verify_mode(ssl::verify_peer);
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(ca_file, ec);
  }
  if (ec) {
    return Status::InvalidArgument("origin_ca_file " + (ca_file.empty() ? "(system)" : ca_file) +
                                   ": " + ec.message());
  }
  // Sessions are kept by the pool (per origin), not in OpenSSL's client cache.
  SSL_CTX_set_session_cache_mode(context->native_handle(), SSL_SESS_CACHE_CLIENT);
  *out = std::move(context);
  return Status::OK();
}

Status MakeServerContext(const std::string& cert_file, const std::string& key_file,
                         std::shared_ptr<ssl::context>* out) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2: ECDHE with AEAD only (TLS 1.3's suites are all of that kind already).
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_alpn_select_cb(native, SelectHttp11, nullptr);
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) return Status::InvalidArgument("tls.cert " + cert_file + ": " + ec.message());
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("tls.key " + key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::InvalidArgument("tls.key " + key_file + " does not match tls.cert " + cert_file);
  }
  *out = std::move(context);
  return Status::OK();
}

}  // namespace edgecache::net
