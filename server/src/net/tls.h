// TLS contexts: the client one https origins are verified with, and the server one TLS
// listeners present (docs/configuration.md, docs/security.md).
//
// Thread safety: pure functions; a context is shared read-only by the connections made
// with it.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "edgecache/status.h"

namespace edgecache::net {

// For connections to https origins: TLS 1.2+, peers verified against `ca_file` (PEM), or
// the system's CA store when empty. InvalidArgument naming origin_ca_file when the file
// cannot be loaded.
Status MakeClientContext(const std::string& ca_file,
                         std::shared_ptr<boost::asio::ssl::context>* out);

// For TLS listeners: the certificate chain `cert_file` and its private key `key_file`
// (PEM), TLS 1.2+ with forward-secret AEAD ciphers, ALPN http/1.1. InvalidArgument naming
// tls.cert or tls.key when they cannot be loaded or do not match.
Status MakeServerContext(const std::string& cert_file, const std::string& key_file,
                         std::shared_ptr<boost::asio::ssl::context>* out);

}  // namespace edgecache::net
