// Header handling shared by the proxy's paths: hop-by-hop removal (RFC 9110 §7.6.1),
// Cache-Status (RFC 9211), surrogate tags, and conversions between Beast headers and the
// engine's stored ObjectMeta headers.
#pragma once

#include <boost/beast/http.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgecache/object.h"

namespace edgecache::http_util {

namespace http = boost::beast::http;

// The members of a comma-separated list field (Connection, Vary, Transfer-Encoding …)
// over all its lines, trimmed and lower-cased, empty members skipped (RFC 9110 §5.6.1).
std::vector<std::string> ListMembers(const http::fields& fields, http::field name);

// Why a request's framing must be refused (RFC 9112 §6.1, §6.3): 400 for
// Transfer-Encoding whose final coding is not chunked, Transfer-Encoding together with
// Content-Length, or Transfer-Encoding in an HTTP/1.0 request; 501 for a transfer coding
// other than chunked. nullopt when the framing is sound.
struct FramingError {
  unsigned status;
  std::string reason;
};
std::optional<FramingError> RequestFramingError(const http::request_header<>& request);

// Removes Connection, the headers it names, and the other hop-by-hop headers.
void StripHopByHop(http::fields& fields);

// A field value read back from somewhere other than a parser (the store on disk) that can
// be written into a message: no CR, LF or NUL to split it or break its framing.
bool IsSafeFieldValue(std::string_view value);

// True for the headers a cache keeps out of what it stores and replays: hop-by-hop ones
// and the Content-Length / Transfer-Encoding framing (recomputed when serving).
bool IsFramingOrHopByHop(std::string_view name);

// Surrogate tags of a response: Surrogate-Key (space-separated) and Cache-Tag
// (comma-separated), de-duplicated, in order.
std::vector<std::string> SurrogateTags(const http::fields& fields);
bool IsSurrogateHeader(std::string_view name);

// The end-to-end headers of a response, in order, as the engine stores them.
std::vector<std::pair<std::string, std::string>> StoredHeaders(const http::fields& fields);

// RFC 9111 §3.2, §4.3.4: a newer response's headers (a 304, a 200 to HEAD, the rest of a
// stored part) replace the stored ones of the same name. The stored Age goes whatever the
// newer response says: it described the older one. Set-Cookie is never merged (it belongs
// to the user who revalidated).
void MergeNotModified(const http::fields& not_modified,
                      std::vector<std::pair<std::string, std::string>>* stored);

// Builds a response header from stored headers (without Age, framing, Set-Cookie, and
// surrogate headers unless `forward_surrogate`).
void LoadStoredHeaders(const ObjectMeta& meta, bool forward_surrogate, http::fields* out);

// A header value from stored headers (case-insensitive name), "" when absent.
std::string_view StoredHeader(const ObjectMeta& meta, std::string_view name);

// "edgecache; hit; ttl=42" / "edgecache; fwd=miss; fwd-status=200; stored"
// (the identifier is the node's configured name).
struct CacheStatus {
  std::string name = "edgecache";
  bool hit = false;
  std::string fwd;  // miss, stale, uri-miss, vary-miss, request, bypass
  int fwd_status = 0;
  bool stored = false;
  bool has_ttl = false;
  int64_t ttl = 0;
  std::string detail;
  std::string ToString() const;
};

// "HTTP/1.1 200 OK\r\n" + every field + "\r\n": the header block, ready to send.
std::string SerializeHeader(const http::response_header<>& header);

// The stored fields LoadStoredHeaders would load, except those named in `skip`, appended
// to *out as field lines ("Name: value" CRLF each).
void AppendStoredFields(const ObjectMeta& meta, bool forward_surrogate,
                        std::initializer_list<std::string_view> skip, std::string* out);

// A response header block written straight into its wire form, for the hit path: no field
// table is built and torn down per request. Unlike http::fields, Add never replaces a
// field, so the caller leaves out of the stored lines it adds what it writes itself.
class HeaderBlock {
 public:
  explicit HeaderBlock(unsigned status, size_t reserve = 512);
  void Add(std::string_view name, std::string_view value);
  // Field lines as AppendStoredFields writes them.
  void AddLines(std::string_view lines) { out_ += lines; }
  // The block with its final empty line.
  std::string Finish() &&;

 private:
  std::string out_;
};

// A strong entity tag derived from a body's XXH3-64: "ec-0123456789abcdef".
std::string ContentEtag(uint64_t body_hash);

// Weak comparison of entity tags (RFC 9110 §8.8.3.2): W/"x" matches "x".
bool WeakMatch(std::string_view a, std::string_view b);
// Whether an If-None-Match field value matches `etag` ("*" matches any).
bool IfNoneMatchMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace edgecache::http_util
