// TLS contexts: the client one https origins are verified with, and the server one TLS
// listeners present (docs/configuration.md, docs/security.md).
//
// Thread safety: pure functions; a context is shared read-only by the connections made
// with it.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "edgecache/status.h"

namespace edgecache::net {

// For connections to https origins: TLS 1.2+, peers verified against `ca_file` (PEM), or
// the system's CA store when empty. InvalidArgument naming origin_ca_file when the file
// cannot be loaded.
Status MakeClientContext(const std::string& ca_file,
                         std::shared_ptr<boost::asio::ssl::context>* out);

// For TLS listeners: certificate chains `cert_files` and their private keys `key_files`
// (PEM, pairwise), TLS 1.2+ with forward-secret AEAD ciphers, ALPN http/1.1. A client's SNI
// picks the first certificate valid for that name (its subjectAltName DNS names, wildcards
// included); without SNI, or when none is, the first one is presented. InvalidArgument
// naming tls.cert or tls.key when one cannot be loaded or a pair does not match.
Status MakeServerContext(const std::vector<std::string>& cert_files,
                         const std::vector<std::string>& key_files,
                         std::shared_ptr<boost::asio::ssl::context>* out);

}  // namespace edgecache::net
