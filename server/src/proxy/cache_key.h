// Cache keys: one key per resource however clients spell its URL.
//
// key = lower-case host + normalised path + normalised query, where normalising means
// (RFC 3986 §6.2.2) upper-case percent-encoding hex digits, decoded unreserved characters
// and removed dot segments; then, when configured, query parameters dropped by name
// (`utm_*` style trailing wildcards allowed) and the rest sorted. The request forwarded
// to the origin keeps the client's path and query unchanged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace edgecache::proxy {

struct KeyOptions {
  bool sort_query = false;
  std::vector<std::string> strip_query_params;  // names; "utm_*" matches any utm_ prefix
};

// `host` lower-case without port; `target` in origin form ("/path?query").
std::string CacheKey(std::string_view host, std::string_view target, const KeyOptions& options);

// Accept-Encoding reduced to what the node caches variants of: "br", "gzip" or
// "identity" (best acceptable by q-value and preference), so equivalent requests share
// one variant.
std::string NormalizeAcceptEncoding(std::string_view value);

}  // namespace edgecache::proxy
