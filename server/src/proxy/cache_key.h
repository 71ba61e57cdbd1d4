// Cache keys: one key per resource however clients spell its URL.
//
// key = lower-case host + normalised path + normalised query, where normalising means
// (RFC 3986 §6.2.2) upper-case percent-encoding hex digits, decoded unreserved characters
// and removed dot segments; then, when configured, query parameters dropped by name
// (`utm_*` style trailing wildcards allowed) and the rest sorted. The proxy forwards the
// normalised target itself (proxy/forwarded_request.h), so the key is what the origin saw.
// With `key_scheme` (cache.key_scheme), requests that came over TLS have keys of their own,
// "https://" + the key above; http keys are the same with the option on or off.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgecache::proxy {

struct KeyOptions {
  bool sort_query = false;
  std::vector<std::string> strip_query_params;  // names; "utm_*" matches any utm_ prefix
  bool key_scheme = false;
};

// What keys of requests that came over TLS (`https`) start with: "https://" with
// key_scheme, else nothing.
std::string_view KeyPrefix(bool https, const KeyOptions& options);

// `target` (origin form, "/path?query") normalised as above. Idempotent: a normalised
// target normalises to itself.
std::string NormalizeTarget(std::string_view target, const KeyOptions& options);

// `host` lower-case without port; `target` in origin form:
// KeyPrefix(https) + host + NormalizeTarget(target).
std::string CacheKey(bool https, std::string_view host, std::string_view target,
                     const KeyOptions& options);

// A Host field value or an absolute URI's authority (RFC 9110 §7.2, RFC 3986 §3.2): the
// lower-case host without port or trailing dot; nullopt when it is not a reg-name, IPv4
// address or [IPv6 address] followed by an optional numeric port (no userinfo).
std::optional<std::string> ParseAuthority(std::string_view authority);

// An absolute URI's lower-case host (without port) and its origin-form path and query;
// nullopt when `uri` is not an absolute URI with a valid authority (no userinfo).
std::optional<std::pair<std::string, std::string>> SplitAbsolute(std::string_view uri);

// The cache key of a URL as an operator writes it: "http://host/path?q", "https://…" (the
// same key unless key_scheme), or "host/path?q" (http assumed); the port is not part of
// the key. nullopt when it is not a URL with a
// host. A URL prefix gives the key prefix of every URL under it.
std::optional<std::string> CacheKeyForUrl(std::string_view url, const KeyOptions& options);

// Accept-Encoding reduced to what the node caches variants of: "br", "gzip" or
// "identity" (best acceptable by q-value, br preferred on a tie; a coding listed with q=0
// is refused even when "*" accepts the rest), so equivalent requests share one variant.
std::string NormalizeAcceptEncoding(std::string_view value);

// Accept, Accept-Language and Accept-Charset in one canonical spelling (RFC 9111 §4.1:
// requests match when their values differ only in whitespace, the case of what is
// case-insensitive, or the order of members whose order carries no meaning): members
// without whitespace, lower-case outside quoted strings, sorted, joined by ",". Variants
// keyed on them are then shared by equivalent requests. The request is forwarded as the
// client wrote it: some origins read the order of equal-q members as a preference.
std::string NormalizePreferenceList(std::string_view value);

// A request field's value as variant keys see it: Accept-Encoding and the preference
// lists above normalised, any other field as it is. `lower_name` is lower-case.
std::string NormalizeVaryValue(std::string_view lower_name, std::string_view value);

}  // namespace edgecache::proxy
