#include "net/tls.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

// The certificates after the first a listener picks from by SNI. The first certificate's
// SSL_CTX owns them (ex_data, freed with it), and every connection holds that SSL_CTX, so a
// reload that replaces the contexts never frees them under a handshake.
struct SniChoices {
  std::vector<SSL_CTX*> contexts;  // one reference each
  ~SniChoices() {
    for (SSL_CTX* context : contexts) SSL_CTX_free(context);
  }
};

void FreeSniChoices(void*, void* choices, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<SniChoices*>(choices);
}

int SniChoicesIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeSniChoices);
  return index;
}

bool ValidFor(SSL_CTX* context, const char* name) {
  X509* cert = SSL_CTX_get0_certificate(context);
  return cert != nullptr && X509_check_host(cert, name, 0, 0, nullptr) == 1;
}

// The handshake's certificate: the first (of the connection's context, then the choices)
// valid for the client's SNI; the connection's own when none is or there is no SNI.
int SelectBySni(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || ValidFor(SSL_get_SSL_CTX(ssl), name)) return SSL_TLSEXT_ERR_OK;
  for (SSL_CTX* context : static_cast<SniChoices*>(arg)->contexts) {
    if (ValidFor(context, name)) {
      SSL_set_SSL_CTX(ssl, context);
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

// One certificate and key, with the listener's protocol versions, ciphers and ALPN.
Status MakeOneServerContext(const std::string& cert_file, const std::string& key_file,
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

Status MakeServerContext(const std::vector<std::string>& cert_files,
                         const std::vector<std::string>& key_files,
                         std::shared_ptr<ssl::context>* out) {
  if (cert_files.empty() || cert_files.size() != key_files.size())
    return Status::InvalidArgument("tls.cert and tls.key: one key for each certificate");
  std::shared_ptr<ssl::context> first;
  Status s = MakeOneServerContext(cert_files[0], key_files[0], &first);
  if (!s.ok()) return s;
  if (cert_files.size() > 1) {
    auto choices = std::make_unique<SniChoices>();
    for (size_t i = 1; i < cert_files.size(); ++i) {
      std::shared_ptr<ssl::context> other;
      s = MakeOneServerContext(cert_files[i], key_files[i], &other);
      if (!s.ok()) return s;
      SSL_CTX_up_ref(other->native_handle());
      choices->contexts.push_back(other->native_handle());
    }
    SSL_CTX* native = first->native_handle();
    SSL_CTX_set_tlsext_servername_callback(native, SelectBySni);
    SSL_CTX_set_tlsext_servername_arg(native, choices.get());
    SSL_CTX_set_ex_data(native, SniChoicesIndex(), choices.release());
  }
  *out = std::move(first);
  return Status::OK();
}

}  // namespace edgecache::net
