// What the proxy's files share about one request: the Exchange (its state from the
// client's request to the last byte sent), the origin exchange it may lead to, and small
// helpers. Internal to proxy/: nothing outside it includes this.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <ctime>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/headers.h"
#include "http/range.h"
#include "policy/cache_policy.h"
#include "proxy/flow.h"
#include "proxy/proxy.h"

namespace edgecache::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using http_util::CacheStatus;

inline constexpr auto kToken = asio::as_tuple(asio::use_awaitable);
inline constexpr size_t kPieceBytes = 64 * 1024;
// The first read of an origin's response: a header and a small body in one system call
// (an empty flat_buffer reads 512 bytes at a time).
inline constexpr size_t kOriginFirstReadBytes = 16 * 1024;
// More interim (1xx) responses than this before the final one: the origin misbehaves.
inline constexpr int kMaxInterimResponses = 8;

inline int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

template <typename Name>
std::string_view Field(const http::fields& f, Name name) {
  auto it = f.find(name);
  return it == f.end() ? std::string_view()
                       : std::string_view(it->value().data(), it->value().size());
}

// The request's fields as variant keys see them (NormalizeVaryValue). A value that
// normalising changes is kept in `scratch`, which must outlive the getter's results.
HeaderGetter RequestHeaders(const Request& req, std::deque<std::string>* scratch);

// Fills the metadata the engine stores from an origin response and the storage decision.
// `key_headers` (cache.key_headers) select variants as if every response named them in Vary.
ObjectMeta MetaFrom(const http::response_header<>& resp, const policy::StorageDecision& d,
                    int64_t request_time, int64_t response_time,
                    const std::vector<std::string>& key_headers);

// The byte range a stored 206 holds, nullopt for any other stored response.
std::optional<http_util::ContentRange> StoredPart(const ObjectMeta& meta);

// What If-Range can carry to complete a stored part (RFC 9111 §3.4 needs a strong
// validator): its strong ETag, else its Last-Modified; "" when it has neither.
std::string CompletionValidator(const ObjectMeta& meta);

bool IsTimeout(const boost::system::error_code& ec);

// Hands bytes [first, end) of a stored body to `sink` in order: from the RAM cache when it
// has them, up to the end of each chunk, else read from disk in pieces of up to
// kStoredPieceBytes. A piece of a large chunk can be sent from its file (BodySlice::fd).
// Stops early when the sink returns false (then Aborted). A failed read's error is
// returned; `*delivered` counts the bytes handed over either way.
inline constexpr size_t kStoredPieceBytes = 4 * kPieceBytes;
// A stored piece held in a file is sent from it when it is at least this large: below
// that, the header's system call of its own costs more than the copy it saves.
inline constexpr size_t kSendFileBytes = 16 * 1024;
using StoredSink = std::function<asio::awaitable<bool>(const BodySlice& piece)>;
asio::awaitable<Status> ReadStored(Store& store, const ObjectInfo& info, uint64_t first,
                                   uint64_t end, const StoredSink& sink, uint64_t* delivered);

// One client request, from its header to the last byte sent.
struct Proxy::Exchange {
  Request& req;         // the header (as forwarded, once prepared)
  net::Stream* client;  // null for a background revalidation: nobody to answer
  std::string client_address;
  // The settings this request started under, kept to its end (a reload changes the next).
  std::shared_ptr<const Settings> settings;
  http_util::RequestBody* body = nullptr;  // streamed to the origin for other methods
  bool head = false;
  bool keep_alive = true;
  std::string host;
  std::string target;   // origin-form: path and query
  std::string primary;  // cache key
  const config::OriginUrl* origin = nullptr;
  CacheStatus cs;
  metrics::Outcome outcome = metrics::Outcome::kPass;
  unsigned status = 0;
  uint64_t sent_bytes = 0;
  double origin_ms = -1;    // until the origin's final response header; < 0: not asked
  bool from_store = false;  // the body sent came from the store (byte hit ratio)
  std::vector<std::string> response_locations;  // Location / Content-Location received
  // Set-Cookie of a 304 answering this client's revalidation: sent to this client only.
  std::vector<std::string> own_set_cookies;
  std::deque<std::string> vary_values;  // request values normalised for variant keys
  bool collapsed = false;               // waited once for another request's fetch of the same key
  Collapser::Ticket* ticket = nullptr;  // held while this request leads a collapsed fetch

  const config::NodeConfig& config() const { return *settings->config; }
  // GET or HEAD: the methods whose responses are looked up and stored.
  // The store is fenced off (a gap in the purge log): every request is passed through.
  bool bypass_store = false;
  bool cacheable_method() const {
    return !bypass_store && (head || req.method() == http::verb::get);
  }
};

// What the look-up state found: the stored response, if any, and what flow:: needs of it.
struct Proxy::Lookup {
  // Shared with the store's entry cache: never modified. Null only after a failed lookup.
  std::shared_ptr<const ObjectInfo> info;
  flow::Found found;
};

// The origin's side of a fetch: what was asked, the connection, and the final response's
// header read (its body still to come through `parser`), or the error that ended it.
struct Proxy::Upstream {
  // Set before the fetch.
  const ObjectInfo* stale = nullptr;   // a stored response being revalidated
  const ObjectInfo* prefix = nullptr;  // a stored part from byte 0 being completed
  bool head_to_origin = false;         // a HEAD revalidating a stored response

  origin::Connection conn;
  // What was read from the origin and not parsed yet: the connection's own buffer.
  // REQUIRES: conn.stream (until the connection goes back to the pool).
  beast::flat_buffer& buffer() const { return conn.stream->read_buffer(); }
  std::optional<http::response_parser<http::buffer_body>> parser;
  boost::system::error_code ec;
  std::string tls_failure;          // the origin's TLS handshake failed: why
  bool client_body_failed = false;  // the client's request body broke off or was too large
  int64_t request_time = 0, response_time = 0;
  uint64_t received = 0;          // body bytes read from the origin
  std::unique_ptr<char[]> piece;  // what ReadOrigin reads the body into
  size_t piece_size = 0;

  // Set by Fetch from the final response's header.
  unsigned status = 0;  // 200 for a completed part
  // The body's length as the client and the store see it: a completed prefix is the whole
  // representation, its first bytes from the store.
  std::optional<uint64_t> body_length;
  bool completing = false;  // the origin sent the rest of `prefix`
  // For flow::State::kError: the status and text to answer with (0: close, no answer).
  unsigned error_status = 0;
  std::string error_text;

  // Whether the rest of the body, of known length, has been read already (with the
  // header: most small objects) and fits one piece.
  bool body_buffered() const {
    if (!conn.stream) return false;  // back in the pool: nothing more to read
    const auto left = parser->content_length_remaining();
    return left && *left <= buffer().size() && *left <= kPieceBytes;
  }
  // A new response whose whole body came with its header: stored and sent at once
  // (StoreWhole), with no broadcast and no revalidation to compare it with.
  bool whole_in_hand() const { return stale == nullptr && !completing && body_buffered(); }
};

}  // namespace edgecache::proxy
