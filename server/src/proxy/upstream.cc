// The fetch states (kRevalidate, kFetch, kCompletePart, kPass): the request the origin
// gets and its sending (validators and ranges set, a client's body streamed, one retry on
// a reused connection that turns out closed, interim responses relayed) up to the final
// response's header, and what that answer means (Proxy::Fetch, flow::AfterOrigin).
#include <spdlog/spdlog.h>

#include <boost/asio/write.hpp>
#include <chrono>

#include "http/http_date.h"
#include "proxy/cache_key.h"
#include "proxy/exchange.h"
#include "proxy/proxy.h"

namespace edgecache::proxy {

asio::awaitable<flow::State> Proxy::Fetch(Exchange& x, Upstream* up) {
  const bool cacheable_method = x.cacheable_method();
  const ObjectInfo* stale = up->stale;
  // A HEAD for a stored response is revalidated with a HEAD (RFC 9111 §4.3.5 says how its
  // answer updates the stored one); a HEAD miss is fetched as a GET to fill the cache.
  up->head_to_origin = x.head && stale != nullptr;
  std::optional<Request> out;
  std::string wire;
  if (cacheable_method) {
    wire = CacheFetchRequest(x, stale, up->prefix, up->head_to_origin);
  } else {
    out.emplace(PassRequest(x));
  }
  up->request_time = Now();
  const auto asked = std::chrono::steady_clock::now();
  metrics_.CountOriginRequest();
  co_await SendUpstream(x, out ? &*out : nullptr, wire, up->head_to_origin, up);
  x.origin_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - asked).count();
  if (up->client_body_failed) {
    // The client's body broke off (or passed limits.max_request_body_bytes): nothing
    // complete reached the origin; the client is told when the limit was the cause.
    x.keep_alive = false;
    up->error_status = up->ec == http::error::body_limit ? 413 : 0;
    up->error_text = "request body too large\n";
    co_return flow::State::kError;
  }
  flow::Answer answer;
  answer.revalidating = stale != nullptr;
  answer.head_revalidation = up->head_to_origin;
  answer.stale_if_error = StaleIfErrorAllows(x, stale);
  if (const boost::system::error_code ec = up->ec) {
    metrics_.CountOriginError();
    if (stale != nullptr) metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    // A TLS failure names its reason (an unverifiable certificate is never retried in the
    // clear); its text comes from OpenSSL, so only characters safe in the sf-string.
    std::string tls = up->tls_failure;
    std::erase_if(tls, [](char c) { return c == '"' || c == '\\' || c < 0x20 || c > 0x7e; });
    spdlog::warn("origin {} for {}{}: {}{}", x.origin->ToString(), x.host, x.target, ec.message(),
                 tls.empty() ? "" : " (" + tls + ")");
    x.cs.detail = IsTimeout(ec)  ? "origin timeout"
                  : !tls.empty() ? "origin TLS: " + tls
                                 : "origin unreachable";
    // A stored response that could not be revalidated is answered 504 (RFC 9111 §4.2.4,
    // §5.2.2.2), whatever stopped the origin; without one, the cause decides.
    up->error_status = IsTimeout(ec) || stale != nullptr ? 504 : 502;
    up->error_text = IsTimeout(ec)      ? "origin timed out\n"
                     : stale != nullptr ? "stored response needs revalidation; origin unreachable\n"
                                        : "origin unreachable\n";
    answer.failed = true;
    co_return flow::AfterOrigin(answer);
  }
  up->response_time = Now();
  http::response_parser<http::buffer_body>& parser = *up->parser;
  const http::response_header<>& header = parser.get().base();
  up->status = header.result_int();
  x.cs.fwd_status = static_cast<int>(up->status);
  if (auto length = parser.content_length()) up->body_length = *length;
  if (up->prefix != nullptr && up->status == 206) {
    const http_util::ContentRange part = *StoredPart(up->prefix->meta);
    const auto rest = http_util::ParseContentRange(Field(header, http::field::content_range));
    if (!rest || rest->first != part.last + 1 || rest->last + 1 != rest->complete_length ||
        rest->complete_length != part.complete_length || up->body_length != rest->size()) {
      up->error_status = 502;
      up->error_text = "origin answered a completion with another range\n";
      answer.bad_completion = true;
      co_return flow::AfterOrigin(answer);
    }
    up->completing = true;
    up->status = 200;
    up->body_length = rest->complete_length;
  }
  const unsigned status = up->status;
  answer.status = status;
  for (auto f : {http::field::location, http::field::content_location}) {
    if (auto it = header.find(f); it != header.end())
      x.response_locations.emplace_back(it->value());
  }
  // Before any of the response reaches the client, so its next request sees the result.
  if (!cacheable_method) Invalidate(x, status);
  // No body follows a 304 or a 200 to HEAD: the connection can go back to the pool at once.
  if (stale != nullptr && (status == 304 || (up->head_to_origin && status == 200))) Reuse(x, *up);
  if (up->head_to_origin && status == 200) answer.head_matches = HeadMatchesStored(header, *stale);

  const flow::State next = flow::AfterOrigin(answer);
  if (next == flow::State::kServeStale) {
    // The origin's error body is not read: the connection is dropped, not pooled.
    metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    metrics_.CountOriginError();
    x.cs.detail = "origin error";
  } else if (next == flow::State::kRelay && stale != nullptr) {
    if (up->head_to_origin && status == 200) {
      // A 200 to HEAD that does not match: the stored response is stale (§4.3.5).
      uint64_t marked = 0;
      Status s = store_.PurgeUrl(x.primary, PurgeMode::kSoft, &marked);
      if (!s.ok()) spdlog::warn("marking {} stale: {}", x.primary, s.ToString());
    }
    if (status == 404 || status == 410) {
      uint64_t removed = 0;
      Status s = store_.PurgeUrl(x.primary, PurgeMode::kHard, &removed);
      if (!s.ok()) spdlog::warn("removing {}: {}", x.primary, s.ToString());
      metrics_.CountRevalidation(metrics::Revalidation::kRemoved);
    } else if (status < 500) {
      // A GET's answer is counted once its body is in: same bytes or new (Relay).
      if (up->head_to_origin) metrics_.CountRevalidation(metrics::Revalidation::kReplaced);
    } else {
      metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    }
  }
  co_return next;
}

void Proxy::Invalidate(Exchange& x, unsigned status) {
  // RFC 9111 §4.4: a non-error response to an unsafe request invalidates the target URI
  // and the same-origin URIs in Location and Content-Location. Every method not known to
  // be safe (RFC 9110 §9.2.1 and the IANA method registry) is unsafe, unknown ones too.
  const auto m = x.req.method();
  const bool safe = m == http::verb::get || m == http::verb::head || m == http::verb::options ||
                    m == http::verb::trace || m == http::verb::propfind ||
                    m == http::verb::report || m == http::verb::search;
  if (safe || status < 200 || status >= 400) return;
  std::vector<std::string> keys = {x.primary};
  const bool https = x.client != nullptr && x.client->tls();
  for (const std::string& location : x.response_locations) {
    if (location.starts_with("/")) {
      keys.push_back(CacheKey(https, x.host, location, x.settings->forward.key));
    } else if (auto split = SplitAbsolute(location); split && split->first == x.host) {
      keys.push_back(CacheKey(https, x.host, split->second, x.settings->forward.key));
    }
  }
  for (const auto& key : keys) {
    uint64_t removed = 0;
    Status s = store_.PurgeUrl(key, PurgeMode::kHard, &removed);
    if (!s.ok()) spdlog::warn("invalidating {}: {}", key, s.ToString());
  }
}

void Proxy::Reuse(const Exchange& x, Upstream& up) {
  if (!up.conn.stream || !up.parser || !up.parser->is_done() || !up.parser->keep_alive()) return;
  // Bytes past the framed response would be read as the answer to the next request on
  // the connection (the pool also refuses one that receives some while idle).
  beast::flat_buffer& buffer = up.buffer();
  if (buffer.size() > 0) {
    spdlog::warn("origin {} sent {} bytes past its response to {}{}; connection closed",
                 x.origin->ToString(), buffer.size(), x.host, x.target);
    return;
  }
  // The buffer goes with the connection: what a large response grew it to does not.
  if (buffer.capacity() > kOriginFirstReadBytes) buffer.shrink_to_fit();
  pool_.Release(*x.origin, std::move(up.conn.stream));
}

std::string Proxy::CacheFetchRequest(const Exchange& x, const ObjectInfo* stale,
                                     const ObjectInfo* prefix, bool head_to_origin) const {
  // The request to the origin is the prepared one (Handle), written straight into its
  // wire form (no copy of its field table). Cache fetches are full GETs: the client's own
  // conditionals and ranges are answered here, and a revalidation sends the stored
  // validators instead. A range miss fetches the whole object to store it (the client gets
  // its range out of the stream), unless configured to pass ranges through unstored.
  const bool keep_range = !x.config().range_miss_fetch_full && prefix == nullptr;
  std::string out;
  out.reserve(512 + x.req.body().size());
  out += head_to_origin ? "HEAD " : "GET ";
  out.append(x.req.target().data(), x.req.target().size());
  out += " HTTP/1.1\r\n";
  for (const auto& f : x.req) {
    switch (f.name()) {
      case http::field::if_none_match:
      case http::field::if_modified_since:
      case http::field::if_match:
      case http::field::if_unmodified_since:
        continue;
      case http::field::range:
      case http::field::if_range:
        if (!keep_range) continue;
        break;
      default:
        break;
    }
    const std::string_view name(f.name_string().data(), f.name_string().size());
    // Framing is this request's own (below); hop-by-hop fields went in PrepareForward.
    if (http_util::IsFramingOrHopByHop(name)) continue;
    out.append(name).append(": ").append(f.value().data(), f.value().size()).append("\r\n");
  }
  // The validators come from the stored entry, read back from disk: one that could not
  // have been parsed is left out rather than let it split the request.
  auto add = [&](std::string_view name, std::string_view value) {
    if (!http_util::IsSafeFieldValue(value)) return;
    out.append(name).append(": ").append(value).append("\r\n");
  };
  if (prefix != nullptr) {
    // Only the rest of a stored prefix, and only if it is still the same representation.
    add("Range", "bytes=" + std::to_string(StoredPart(prefix->meta)->last + 1) + "-");
    add("If-Range", CompletionValidator(prefix->meta));
  }
  if (stale != nullptr) {
    if (!stale->meta.etag.empty()) add("If-None-Match", stale->meta.etag);
    if (stale->meta.last_modified != 0) {
      add("If-Modified-Since", http_util::FormatHttpDate(stale->meta.last_modified));
    }
  }
  // A body a client sent with its GET (read whole, within the limits) goes along.
  if (!x.req.body().empty()) add("Content-Length", std::to_string(x.req.body().size()));
  out += "\r\n";
  out += x.req.body();
  return out;
}

Request Proxy::PassRequest(const Exchange& x) const {
  Request out = x.req;
  out.version(11);
  out.keep_alive(true);
  out.prepare_payload();
  return out;
}

asio::awaitable<void> Proxy::SendUpstream(Exchange& x, const Request* out, const std::string& wire,
                                          bool head_to_origin, Upstream* up) {
  // A request body is streamed from the client as it is sent (never held whole): such a
  // request goes on a fresh connection and is never sent twice.
  const bool cacheable_method = x.cacheable_method();
  const bool stream_body = !cacheable_method && x.body != nullptr && !x.body->done();
  origin::Connection& conn = up->conn;
  std::optional<http::response_parser<http::buffer_body>>& parser_slot = up->parser;
  boost::system::error_code& ec = up->ec;
  auto send_streamed = [&]() -> asio::awaitable<boost::system::error_code> {
    http::request<http::buffer_body> streamed{out->base()};
    if (auto length = x.body->length()) {
      streamed.content_length(*length);
    } else {
      streamed.chunked(true);
    }
    streamed.body().data = nullptr;
    streamed.body().more = true;
    http::request_serializer<http::buffer_body> sr{streamed};
    auto [header_error, h] = co_await http::async_write_header(*conn.stream, sr, kToken);
    if (header_error) co_return header_error;
    std::vector<char> piece(kPieceBytes);
    for (;;) {
      boost::system::error_code read_error;
      const size_t got = co_await x.body->Read(piece.data(), piece.size(), read_error);
      if (read_error) {
        up->client_body_failed = true;
        co_return read_error;
      }
      const bool last = x.body->done();
      if (got == 0 && !last) continue;
      streamed.body().data = got > 0 ? piece.data() : nullptr;
      streamed.body().size = got;
      streamed.body().more = !last;
      conn.stream->expires_after(std::chrono::milliseconds(x.config().origin_timeout_ms));
      auto [write_error, w] = co_await http::async_write(*conn.stream, sr, kToken);
      if (write_error && write_error != http::error::need_buffer) co_return write_error;
      if (last) co_return boost::system::error_code{};
    }
  };

  // Send it, retrying once on a fresh connection if a reused one turns out closed.
  for (int attempt = 0; attempt < 2; ++attempt) {
    conn = co_await pool_.Acquire(
        *x.origin, std::chrono::milliseconds(x.config().connect_timeout_ms), /*fresh=*/stream_body);
    if (conn.error) {
      ec = conn.error;
      up->tls_failure = std::move(conn.tls_failure);
      break;
    }
    conn.stream->expires_after(std::chrono::milliseconds(x.config().origin_timeout_ms));
    if (stream_body) {
      ec = co_await send_streamed();
    } else if (out != nullptr) {
      auto [write_error, written] = co_await http::async_write(*conn.stream, *out, kToken);
      ec = write_error;
    } else {
      auto [write_error, written] =
          co_await asio::async_write(*conn.stream, asio::buffer(wire), kToken);
      ec = write_error;
    }
    if (up->client_body_failed) co_return;
    auto fresh_parser = [&] {
      parser_slot.emplace();
      parser_slot->body_limit(boost::none);
      parser_slot->skip(head_to_origin);  // no body follows an answer to HEAD
    };
    if (!ec) {
      fresh_parser();
      beast::flat_buffer& origin_buffer = conn.stream->read_buffer();
      origin_buffer.clear();
      origin_buffer.reserve(kOriginFirstReadBytes);
      conn.stream->expires_after(std::chrono::milliseconds(x.config().origin_timeout_ms));
      auto [read_error, read] =
          co_await http::async_read_header(*conn.stream, origin_buffer, *parser_slot, kToken);
      ec = read_error;
      // Interim responses (RFC 9110 §15.2: 100 Continue, 102 Processing, 103 Early
      // Hints …) come before the final one: relayed to the client as they come (not 100,
      // which this node answers itself), never stored, and never merged into the final
      // response. A fresh parser reads the next response from what is left in the buffer.
      for (int interim = 0; !ec && parser_slot->get().result_int() < 200; ++interim) {
        if (parser_slot->get().result_int() == 101 || interim == kMaxInterimResponses) {
          ec = http::error::bad_status;  // we never ask to switch protocols
          break;
        }
        co_await RelayInterim(x, parser_slot->get().base());
        fresh_parser();
        std::tie(ec, read) =
            co_await http::async_read_header(*conn.stream, origin_buffer, *parser_slot, kToken);
      }
    }
    // Only idempotent requests are sent twice (RFC 9110 §9.2.2): a POST the origin may
    // have acted on before the connection broke is not repeated behind the client's back.
    const bool idempotent =
        out == nullptr || (out->method() != http::verb::post && out->method() != http::verb::patch);
    if (!ec || !conn.reused || IsTimeout(ec) || !idempotent || stream_body) break;
  }
}

asio::awaitable<void> Proxy::RelayInterim(Exchange& x, const http::response_header<>& interim) {
  // Never to an HTTP/1.0 client (RFC 9110 §15.2), and 100 Continue is this node's own.
  if (x.client == nullptr || x.req.version() < 11 || interim.result_int() == 100) co_return;
  http::response_header<> relayed = interim;
  http_util::StripHopByHop(relayed);
  relayed.version(11);
  const std::string bytes = http_util::SerializeHeader(relayed);
  ArmClientDeadline(x);
  co_await asio::async_write(*x.client, asio::buffer(bytes), kToken);  // errors show later
}

bool Proxy::HeadMatchesStored(const http::response_header<>& head, const ObjectInfo& stored) {
  // Every validator the HEAD response has must equal the stored one, and it needs one.
  const std::string_view etag = Field(head, http::field::etag);
  const std::string_view last_modified = Field(head, http::field::last_modified);
  if (etag.empty() && last_modified.empty()) return false;
  if (!etag.empty() && etag != stored.meta.etag) return false;
  if (!last_modified.empty() &&
      http_util::ParseHttpDate(last_modified).value_or(-1) != stored.meta.last_modified) {
    return false;
  }
  const std::string_view length = Field(head, http::field::content_length);
  return length.empty() || length == std::to_string(stored.body_length);
}

}  // namespace edgecache::proxy
