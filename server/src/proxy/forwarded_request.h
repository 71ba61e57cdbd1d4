// The request as the origin receives it, and what the cache keys it by.
//
// Trust boundary: the cache key and the variant key are computed from the request exactly
// as it is forwarded, never from a differently normalised copy. PrepareForward therefore
// rewrites the client's request in place, once, into the one form that is both keyed and
// sent on:
//
//   * the target in origin form, percent-encoding normalised, dot-segments (also encoded
//     ones) resolved, query parameters stripped and sorted as configured; a fragment, an
//     authority-form or asterisk-form target is refused;
//   * Host set to the routed host: the authority of an absolute-form target replaces Host
//     (RFC 9112 §3.2.2); a Host that is not a reg-name, IPv4 or [IPv6] with an optional
//     numeric port is refused, and so are several Host lines; the host is lower-cased and
//     the port dropped, so the key and the forwarded Host name the same thing;
//   * hop-by-hop fields (and those Connection names) and Expect removed; request fields
//     that make origins serve something else than the URL says (X-Forwarded-Host,
//     X-Original-URL, X-HTTP-Method-Override, Forwarded …) removed unless the operator
//     lists them in `key_headers`, which then join every stored variant's key;
//   * repeated field lines combined into one (", "; "; " for Cookie), so a Vary-selected
//     value is all of what the origin saw;
//   * Accept-Encoding of GET/HEAD reduced to the coding variants are kept for;
//   * Via and X-Forwarded-For extended by this hop.
//
// Pure functions: no I/O, no shared state.
#pragma once

#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/status.h"
#include "proxy/cache_key.h"

namespace edgecache::proxy {

struct ForwardOptions {
  KeyOptions key;
  // Lower-case names of request fields that are normally dropped (see above) but that the
  // operator's origins need; they are forwarded and become part of every variant key.
  std::vector<std::string> key_headers;
  std::string via;  // this hop's Via member, "1.1 <name>"
};

struct Routed {
  std::string host;    // lower-case, without port or trailing dot
  std::string target;  // normalised origin form, exactly as forwarded
  std::string key;     // the cache key: [scheme prefix] + host + target
};

// Rewrites `req` into the request forwarded to the origin (see above) and fills *routed;
// `https`: the request came over TLS (the key's scheme, proxy/cache_key.h). InvalidArgument
// naming the reason when the target or Host cannot be normalised unambiguously; `req` is
// then unspecified and must be answered with 400.
Status PrepareForward(boost::beast::http::request_header<>& req, const ForwardOptions& options,
                      std::string_view client_address, bool https, Routed* routed);

// Request fields that change what an origin serves without being part of the URL, dropped
// unless listed in ForwardOptions::key_headers (lower-case).
bool IsUnkeyedOverrideHeader(std::string_view lower_name);

}  // namespace edgecache::proxy
