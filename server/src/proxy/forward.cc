// A fetch from the origin and what becomes of its response (Proxy::Forward): refreshes
// and failures of a stored response, completion of a stored part, the storage decision,
// and the body relayed to the client, the store and collapsed followers at once.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "edgecache/asio.h"
#include "http/http_date.h"
#include "http/range.h"
#include "proxy/exchange.h"
#include "proxy/proxy.h"

namespace edgecache::proxy {

asio::awaitable<bool> Proxy::Forward(Exchange& x, const ObjectInfo* stale,
                                     const ObjectInfo* prefix) {
  const bool cacheable_method = x.req.method() == http::verb::get || x.head;

  // A HEAD for a stored response is revalidated with a HEAD (RFC 9111 §4.3.5 says how its
  // answer updates the stored one); a HEAD miss is fetched as a GET to fill the cache.
  const bool head_to_origin = x.head && stale != nullptr;
  const Request out = UpstreamRequest(x, stale, prefix, head_to_origin);
  const int64_t request_time = Now();
  Upstream up;
  co_await SendUpstream(x, out, head_to_origin, &up);
  if (up.client_body_failed) {
    // The client's body broke off (or passed limits.max_request_body_bytes): nothing
    // complete reached the origin; the client is told when the limit was the cause.
    x.keep_alive = false;
    if (up.ec == http::error::body_limit)
      co_return co_await SendError(x, 413, "request body too large\n");
    co_return false;
  }
  const boost::system::error_code ec = up.ec;
  origin::Connection& conn = up.conn;
  beast::flat_buffer& origin_buffer = up.buffer;
  if (ec) {
    metrics_.CountOriginError();
    if (stale != nullptr) metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    spdlog::warn("origin {} for {}{}: {}", x.origin->ToString(), x.host, x.target, ec.message());
    x.cs.detail = IsTimeout(ec) ? "origin timeout" : "origin unreachable";
    if (StaleIfErrorAllows(x, stale)) co_return co_await ServeStale(x, *stale);
    // A stored response that could not be revalidated is answered 504 (RFC 9111 §4.2.4,
    // §5.2.2.2), whatever stopped the origin; without one, the cause decides.
    const bool gateway_timeout = IsTimeout(ec) || stale != nullptr;
    co_return co_await SendError(x, gateway_timeout ? 504 : 502,
                                 IsTimeout(ec) ? "origin timed out\n"
                                 : stale != nullptr
                                     ? "stored response needs revalidation; origin unreachable\n"
                                     : "origin unreachable\n");
  }
  const int64_t response_time = Now();
  http::response_parser<http::buffer_body>& parser = *up.parser;
  http::response_header<>& header = parser.get().base();
  unsigned status = header.result_int();
  x.cs.fwd_status = static_cast<int>(status);
  // The body's length as the client and the store see it: a completed prefix is the
  // whole representation, its first bytes from the store.
  std::optional<uint64_t> body_length;
  if (auto length = parser.content_length()) body_length = *length;
  bool completing = false;
  if (prefix != nullptr && status == 206) {
    const http_util::ContentRange part = *StoredPart(prefix->meta);
    const auto rest = http_util::ParseContentRange(Field(header, http::field::content_range));
    if (!rest || rest->first != part.last + 1 || rest->last + 1 != rest->complete_length ||
        rest->complete_length != part.complete_length || body_length != rest->size()) {
      co_return co_await SendError(x, 502, "origin answered a completion with another range\n");
    }
    completing = true;
    status = 200;
    body_length = rest->complete_length;
  }
  for (auto f : {http::field::location, http::field::content_location}) {
    if (auto it = header.find(f); it != header.end())
      x.response_locations.emplace_back(it->value());
  }
  // Before any of the response reaches the client, so its next request sees the result.
  if (!cacheable_method) Invalidate(x, status);

  if (stale != nullptr && status == 304) {
    // No body follows a 304: the connection can go back to the pool at once.
    if (parser.is_done() && parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    co_return co_await Refreshed(x, *stale, header, request_time, response_time);
  }
  if (head_to_origin && status == 200) {
    if (parser.is_done() && parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    // RFC 9111 §4.3.5: a 200 to HEAD whose validators and length match the stored
    // response updates its header fields like a 304; otherwise the stored one is stale.
    if (HeadMatchesStored(header, *stale)) {
      co_return co_await Refreshed(x, *stale, header, request_time, response_time);
    }
    uint64_t marked = 0;
    Status s = store_.PurgeUrl(x.primary, PurgeMode::kSoft, &marked);
    if (!s.ok()) spdlog::warn("marking {} stale: {}", x.primary, s.ToString());
  }
  if (stale != nullptr && status >= 500 && StaleIfErrorAllows(x, stale)) {
    // The origin's error body is not read: the connection is dropped, not pooled.
    metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    metrics_.CountOriginError();
    x.cs.detail = "origin error";
    co_return co_await ServeStale(x, *stale);
  }
  if (stale != nullptr) {
    if (status == 404 || status == 410) {
      uint64_t removed = 0;
      Status s = store_.PurgeUrl(x.primary, PurgeMode::kHard, &removed);
      if (!s.ok()) spdlog::warn("removing {}: {}", x.primary, s.ToString());
      metrics_.CountRevalidation(metrics::Revalidation::kRemoved);
    } else if (status < 500) {
      metrics_.CountRevalidation(metrics::Revalidation::kReplaced);
    } else {
      metrics_.CountRevalidation(metrics::Revalidation::kFailed);
    }
  }

  // The origin's end-to-end headers: what is stored and what the client gets.
  http::response_header<> end_to_end = header;
  http_util::StripHopByHop(end_to_end);
  if (completing) {
    // The stored part's fields, updated by the rest's (RFC 9111 §3.4), as a 200.
    std::vector<std::pair<std::string, std::string>> fields = prefix->meta.headers;
    http_util::MergeNotModified(end_to_end, &fields);
    end_to_end = {};
    end_to_end.result(http::status::ok);
    for (const auto& [name, value] : fields) {
      if (!beast::iequals(name, "content-range")) end_to_end.insert(name, value);
    }
  }
  // Decide whether to store, and start the insert.
  std::unique_ptr<InsertHandle> insert;
  ObjectMeta stored_meta;  // what is stored, when `insert` is set
  ObjectKey stored_key;
  bool shareable = false;
  if (cacheable_method && !head_to_origin) {
    http::request_header<> as_get = x.req.base();
    as_get.method(http::verb::get);
    policy::StorageDecision d = policy::DecideStorage(as_get, end_to_end, response_time, policy_);
    if (d.store && body_length && *body_length > config_.max_object_bytes) d.store = false;
    if (d.store && status == 206) {
      // A part is stored only when its length is known and is the range it claims.
      const auto range = http_util::ParseContentRange(Field(header, http::field::content_range));
      if (!body_length || *body_length != range->size()) d.store = false;
    }
    // An origin error never replaces a stored response it failed to revalidate.
    if (stale != nullptr && status >= 500) d.store = false;
    if (d.store) {
      ObjectMeta meta = MetaFrom(end_to_end, d, request_time, response_time, config_.key_headers);
      ObjectKey key{x.primary,
                    meta.vary.empty()
                        ? ""
                        : SecondaryKeyFor(meta.vary, RequestHeaders(x.req, &x.vary_values))};
      Status s;
      if (!meta.vary.empty() && TooManyVariants(key)) {
        s = Status::Aborted("variant cap reached");
        x.cs.detail = "not stored: variant cap";
      } else {
        s = store_.BeginInsert(key, meta, &insert);
      }
      if (!s.ok() && !s.IsAborted()) spdlog::warn("cannot store {}: {}", x.primary, s.ToString());
      x.cs.stored = s.ok();
      if (s.ok()) {
        x.cs.has_ttl = true;
        x.cs.ttl = d.freshness_lifetime - policy::CurrentAge(meta, response_time);
        // Requests collapsed behind this one may share the response only if it is fresh:
        // one stale on arrival, or to be revalidated before every use, is theirs to
        // revalidate.
        shareable = x.cs.ttl > 0 && !(d.flags & policy::kNoCacheResponse);
        stored_meta = std::move(meta);
        stored_key = std::move(key);
      }
    } else if (!d.reason.empty() && x.cs.detail.empty()) {
      x.cs.detail = "not stored: " + d.reason;
    }
  }

  // The client's response: the origin's end-to-end headers, framed by us.
  http::response<http::buffer_body> res;
  res.result(static_cast<http::status>(status));
  res.version(11);
  for (const auto& f : end_to_end) {
    std::string_view name(f.name_string().data(), f.name_string().size());
    if (http_util::IsFramingOrHopByHop(name)) continue;
    if (!config_.forward_surrogate_headers && http_util::IsSurrogateHeader(name)) continue;
    res.insert(f.name_string(), f.value());
  }
  // A response stored as it arrives is already as old as its corrected initial age
  // (RFC 9111 §4.2.3); one passed through keeps the origin's Age, if any.
  const std::string stored_age =
      insert ? std::to_string(policy::CurrentAge(stored_meta, response_time)) : std::string();
  if (insert) res.set(http::field::age, stored_age);
  std::string upstream_via(Field(header, http::field::via));
  res.set(http::field::via, upstream_via.empty() ? via_ : upstream_via + ", " + via_);
  std::string upstream_status(Field(header, "cache-status"));
  res.set("Cache-Status",
          upstream_status.empty() ? x.cs.ToString() : upstream_status + ", " + x.cs.ToString());
  res.keep_alive(x.keep_alive);
  const bool bodiless = status == 204 || status == 304 || status < 200;
  auto length = body_length;
  // The client's byte range, served out of the full response as it streams by.
  uint64_t client_first = 0, client_end = UINT64_MAX;
  bool client_body = !bodiless && !x.head;
  if (cacheable_method && (config_.range_miss_fetch_full || completing) && status == 200 &&
      length) {
    const http_util::ByteRange range = http_util::RequestedRange(
        Field(x.req, http::field::range), Field(x.req, http::field::if_range),
        Field(end_to_end, http::field::etag),
        http_util::ParseHttpDate(Field(end_to_end, http::field::last_modified)).value_or(0),
        *length);
    if (range.kind != http_util::ByteRange::kIgnore) {
      res.set(http::field::content_range, http_util::ContentRangeValue(range, *length));
    }
    if (range.kind == http_util::ByteRange::kSatisfiable) {
      client_first = range.first;
      client_end = range.last + 1;
      res.result(http::status::partial_content);
      length = client_end - client_first;
    } else if (range.kind == http_util::ByteRange::kUnsatisfiable) {
      res.result(http::status::range_not_satisfiable);
      length = 0;
      client_body = false;
    }
  }
  if (length) {
    res.content_length(*length);
  } else if (client_body) {
    res.chunked(true);
  }
  x.status = res.result_int();

  bool client_ok = x.client != nullptr;
  res.body().data = nullptr;
  res.body().more = true;
  http::response_serializer<http::buffer_body> sr{res};
  auto send_header = [&]() -> asio::awaitable<void> {
    if (!client_ok) co_return;
    ArmClientDeadline(x);
    auto [write_error, written] = co_await http::async_write_header(*x.client, sr, kToken);
    client_ok = !write_error;
  };
  const auto origin_wait = std::chrono::milliseconds(config_.origin_timeout_ms);
  // The next piece of the origin's body, read into `piece`, and the error that ended it.
  uint64_t origin_received = 0;
  auto read_piece = [&](std::vector<char>& piece)
      -> asio::awaitable<std::pair<std::string_view, boost::system::error_code>> {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    conn.stream->expires_after(origin_wait);
    auto [read_error, read] =
        co_await http::async_read(*conn.stream, origin_buffer, parser, kToken);
    if (read_error == http::error::need_buffer) read_error = {};
    const size_t n = piece.size() - parser.get().body().size;
    origin_received += n;
    metrics_.AddOriginBytes(n);
    if (read_error) {
      metrics_.CountOriginError();
      spdlog::warn("origin {} cut the body of {}{} after {} bytes: {}", x.origin->ToString(),
                   x.host, x.target, origin_received, read_error.message());
    }
    co_return std::make_pair(std::string_view(piece.data(), n), read_error);
  };

  if (!insert && !completing) {
    // Passed through, unstored: relayed at the client's pace, and given up as soon as the
    // client is gone (nobody else needs the bytes). A HEAD needs only the header.
    co_await send_header();
    if (head_to_origin && parser.is_done() && parser.keep_alive()) {
      pool_.Release(*x.origin, std::move(conn.stream));
    }
    if (x.head || !client_ok) co_return client_ok;  // a GET's unread body: not pooled
    std::vector<char> piece(kPieceBytes);
    bool complete = parser.is_done();
    while (!complete) {
      auto [data, read_error] = co_await read_piece(piece);
      const size_t n = data.size();
      if (n > 0 && client_body) {
        res.body().data = piece.data();
        res.body().size = n;
        res.body().more = true;
        ArmClientDeadline(x);
        auto [write_error, written] = co_await http::async_write(*x.client, sr, kToken);
        if (write_error && write_error != http::error::need_buffer) co_return false;
        x.sent_bytes += n;
      }
      if (read_error) co_return false;  // never finished as complete: close the client
      complete = parser.is_done();
    }
    if (parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    if (!client_body) co_return true;
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    ArmClientDeadline(x);
    auto [write_error, written] = co_await http::async_write(*x.client, sr, kToken);
    co_return !write_error;
  }

  // Stored: the origin is read at its own pace into the store and a broadcast, which this
  // client reads like any collapsed follower. One slow client never paces the fetch, and a
  // client that goes away does not stop the store.
  SharedResponse shared;
  shared.header.result(status);
  shared.header.version(11);
  // Followers get the header as it is stored, never fields kept from shared use.
  http_util::LoadStoredHeaders(stored_meta, config_.forward_surrogate_headers, &shared.header);
  shared.header.set(http::field::age, stored_age);
  shared.header.set(http::field::via, Field(res, http::field::via));
  if (auto total = body_length) {
    shared.length = *total;
    shared.header.set(http::field::content_length, std::to_string(*total));
  } else {
    shared.header.set(http::field::transfer_encoding, "chunked");
  }
  shared.vary = stored_meta.vary;
  shared.secondary = stored_key.secondary;
  auto broadcast = std::make_shared<Broadcast>(std::move(shared), kBroadcastBufferBytes);
  std::unique_ptr<Broadcast::Reader> own;
  if (client_ok && client_body) own = broadcast->Join();
  if (shareable && x.ticket != nullptr) x.ticket->Publish(broadcast);
  // A HEAD converted to a GET is answered as soon as the header is known; the body is
  // still read into the store.
  co_await send_header();
  if (!client_ok) own.reset();
  const bool streaming = own != nullptr;

  auto executor = co_await asio::this_coro::executor;
  auto fill = [&]() -> asio::awaitable<bool> {
    struct FinishGuard {  // followers never wait on a fill that was torn down
      Broadcast& b;
      ~FinishGuard() { b.Finish(false, false); }
    } guard{*broadcast};
    std::vector<char> piece(kPieceBytes);
    bool complete = parser.is_done();
    bool stored = false;
    auto store_failed = [&](const Status& s) {
      if (!s.ok()) spdlog::warn("storing {}: {}", x.primary, s.ToString());
      insert.reset();  // abort: the response still reaches every reader
      broadcast->StoreFailed();
    };
    // A completed prefix: its stored bytes go first, to the store and to every reader.
    for (uint64_t offset = 0; completing && offset < prefix->body_length;) {
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(kPieceBytes * 4, prefix->body_length - offset));
      auto [read_status, slice] =
          co_await async_read(store_, *prefix, offset, want, executor, kToken);
      if (!read_status.ok()) {
        spdlog::warn("reading the stored part of {}: {}", x.primary, read_status.ToString());
        insert.reset();
        co_return false;  // the readers are closed, never given a short body
      }
      if (insert) {
        auto [append_status] = co_await async_append(*insert, slice.data, executor, kToken);
        if (!append_status.ok()) store_failed(append_status);
      }
      co_await broadcast->Append(slice.data, origin_wait);
      offset += slice.data.size();
    }
    while (!complete) {
      auto [data, read_error] = co_await read_piece(piece);
      const size_t n = data.size();
      if (n > 0 && insert) {
        auto [append_status] = co_await async_append(*insert, data, executor, kToken);
        if (!append_status.ok()) {
          store_failed(append_status);
        } else if (origin_received > config_.max_object_bytes) {
          store_failed(Status::OK());
        }
      }
      if (insert && !read_error && parser.is_done()) {
        // Committed before the last bytes go out, so a client that has the whole
        // response and asks again finds it stored.
        auto [commit_status] = co_await async_commit(*insert, executor, kToken);
        if (commit_status.ok()) {
          stored = true;
          insert.reset();
        } else {
          store_failed(commit_status);
        }
      }
      if (n > 0) co_await broadcast->Append(data, origin_wait);
      if (read_error) {
        insert.reset();  // never stored
        co_return false;
      }
      complete = parser.is_done();
    }
    if (insert) {  // an empty body: nothing was read, the commit is still due
      auto [commit_status] = co_await async_commit(*insert, executor, kToken);
      stored = commit_status.ok();
      if (!stored) store_failed(commit_status);
      insert.reset();
    }
    broadcast->Finish(true, stored);
    // Once the object is stored the collapsed fetch is over: later requests look it up
    // (it may need revalidating) rather than join a response that already arrived.
    if (x.ticket != nullptr) x.ticket->Release();
    if (parser.keep_alive()) pool_.Release(*x.origin, std::move(conn.stream));
    co_return true;
  };
  auto relay = [&]() -> asio::awaitable<bool> {
    if (own == nullptr) co_return client_ok;
    const bool sent =
        co_await RelayBroadcast(x, *broadcast, *own, client_first, client_end, res, sr);
    own.reset();  // its place in the window is free at once
    co_return sent;
  };
  using boost::asio::experimental::awaitable_operators::operator&&;
  auto [complete, sent] = co_await (fill() && relay());
  if (!complete) co_return false;  // cut by the origin: never finished as complete
  co_return client_ok && (!streaming || sent);
}

}  // namespace edgecache::proxy
