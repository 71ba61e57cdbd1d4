// kRelay: the origin's response to the client and, when it may be stored, into the store
// and to the requests collapsed behind this one (Proxy::Relay). A stored response is read
// from the origin at its own pace into the store and a Broadcast, which this request's
// client reads like any follower (Fill, RelayBroadcast), unless its body came whole with
// the header (most small objects): that one is sent, and stored meanwhile (StoreWhole). An
// unstored response is relayed at the client's pace (PassThrough).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>

#include "edgecache/asio.h"
#include "http/http_date.h"
#include "http/range.h"
#include "proxy/exchange.h"
#include "proxy/proxy.h"

namespace edgecache::proxy {

// What Relay works out before a byte of the body moves.
struct Proxy::Relaying {
  // The origin's end-to-end fields: its response header, stripped in place, or `merged`.
  const http::response_header<>* end_to_end = nullptr;
  http::response_header<> merged;        // a completed part's stored fields, updated
  std::unique_ptr<InsertHandle> insert;  // set while the response is being stored
  // What is stored, when `insert` is set (but for StoreWhole, which needs neither).
  ObjectMeta stored_meta;
  ObjectKey stored_key;
  bool shareable = false;  // collapsed requests may take the response as it arrives
  std::string stored_age;  // the Age a response stored as it arrives has
  std::string head;        // the client's response header, in wire form
  bool chunked = false;    // ... whose body goes in chunks
  std::string via;         // ... whose Via is this
  std::optional<http_util::ResponseWriter> writer;     // set when there is a client
  uint64_t client_first = 0, client_end = UINT64_MAX;  // the client's byte range
  bool client_body = false;                            // the client gets a body
  bool client_ok = false;                              // the client is there and writable
  bool kept_stored_body = false;            // a revalidation's 200 brought the bytes already stored
  bool stored = false;                      // Fill stored the body (or kept the same stored bytes)
  uint64_t body_hash = 0, body_length = 0;  // what Fill stored
};

bool Proxy::TooManyVariants(const Exchange& x, const ObjectKey& key) {
  std::vector<ObjectInfo> variants;
  if (!store_.Variants(key.primary, &variants).ok()) return false;
  if (variants.size() < x.config().max_variants) return false;
  // Replacing a stored variant is always allowed; only a new one would exceed the cap.
  return std::none_of(variants.begin(), variants.end(),
                      [&](const ObjectInfo& v) { return v.key.secondary == key.secondary; });
}

asio::awaitable<bool> Proxy::Relay(Exchange& x, Upstream& up) {
  Relaying r;
  StartInsert(x, up, &r);
  BuildClientResponse(x, up, &r);
  r.client_ok = x.client != nullptr;
  if (r.client_ok) r.writer.emplace(*x.client, std::move(r.head), r.chunked);
  const bool done = !r.insert && !up.completing ? co_await PassThrough(x, up, r)
                                                : co_await StoreAndBroadcast(x, up, r);
  if (up.stale != nullptr && !up.head_to_origin && up.status < 500 && up.status != 404 &&
      up.status != 410) {
    metrics_.CountRevalidation(r.kept_stored_body ? metrics::Revalidation::kSameBytes
                                                  : metrics::Revalidation::kReplaced);
  }
  co_return done;
}

bool Proxy::KeepStoredBody(Exchange& x, const Upstream& up, Relaying& r) {
  // A revalidation answered 200 with the bytes already stored (replicas behind a balancer
  // with their own ETags, a Last-Modified that moved): like a 304, the stored body stays
  // and only its metadata is replaced, so the body is not written again.
  const ObjectInfo* stale = up.stale;
  if (stale == nullptr || up.completing || up.status != 200 || !r.insert ||
      stale->key.primary != r.stored_key.primary ||
      stale->key.secondary != r.stored_key.secondary || StoredPart(stale->meta) ||
      stale->body_length != r.insert->size() || stale->body_hash != r.insert->body_hash()) {
    return false;
  }
  Status s = store_.UpdateMeta(stale->key, stale->version, r.stored_meta);
  if (!s.ok()) {
    if (!s.IsAborted()) spdlog::warn("refreshing {}: {}", x.primary, s.ToString());
    return false;  // stored as a new body instead
  }
  r.kept_stored_body = true;
  return true;
}

void Proxy::StartInsert(Exchange& x, Upstream& up, Relaying* r) {
  // The origin's hop-by-hop fields go from the parsed header itself (no copy): the
  // parser keeps the framing and keep-alive it read from them.
  http::response_header<>& header = up.parser->get().base();
  http_util::StripHopByHop(header);
  r->end_to_end = &header;
  if (up.completing) {
    // The stored part's fields, updated by the rest's (RFC 9111 §3.4), as a 200.
    std::vector<std::pair<std::string, std::string>> fields = up.prefix->meta.headers;
    http_util::MergeNotModified(header, &fields);
    r->merged.result(http::status::ok);
    for (const auto& [name, value] : fields) {
      if (!beast::iequals(name, "content-range")) r->merged.insert(name, value);
    }
    r->end_to_end = &r->merged;
  }
  const bool cacheable_method = x.cacheable_method();
  if (!cacheable_method || up.head_to_origin) return;
  // A HEAD miss is fetched as a GET: its answer is stored as one.
  policy::StorageDecision d =
      policy::DecideStorageForGet(x.req, *r->end_to_end, up.response_time, x.settings->policy);
  if (d.store && up.body_length && *up.body_length > x.config().max_object_bytes) d.store = false;
  if (d.store && up.status == 206) {
    // A part is stored only when its length is known and is the range it claims.
    const auto range = http_util::ParseContentRange(Field(header, http::field::content_range));
    if (!up.body_length || *up.body_length != range->size()) d.store = false;
  }
  // An origin error never replaces a stored response it failed to revalidate.
  if (up.stale != nullptr && up.status >= 500) d.store = false;
  if (!d.store) {
    if (!d.reason.empty() && x.cs.detail.empty()) x.cs.detail = "not stored: " + d.reason;
    return;
  }
  ObjectMeta meta =
      MetaFrom(*r->end_to_end, d, up.request_time, up.response_time, x.config().key_headers);
  ObjectKey key{x.primary, meta.vary.empty()
                               ? ""
                               : SecondaryKeyFor(meta.vary, RequestHeaders(x.req, &x.vary_values))};
  // A response stored as it arrives is already as old as its corrected initial age
  // (RFC 9111 §4.2.3).
  const int64_t age = policy::CurrentAge(meta, up.response_time);
  // Only the broadcast and a revalidation look at the key and metadata stored once they
  // are handed over; a whole body in hand (StoreWhole) moves them into the insert.
  const bool keep = !up.whole_in_hand();
  Status s;
  if (!meta.vary.empty() && TooManyVariants(x, key)) {
    s = Status::Aborted("variant cap reached");
    x.cs.detail = "not stored: variant cap";
  } else {
    s = keep ? store_.BeginInsert(key, meta, &r->insert)
             : store_.BeginInsert(std::move(key), std::move(meta), &r->insert);
  }
  if (!s.ok() && !s.IsAborted()) spdlog::warn("cannot store {}: {}", x.primary, s.ToString());
  x.cs.stored = s.ok();
  if (!s.ok()) return;
  x.cs.has_ttl = true;
  x.cs.ttl = d.freshness_lifetime - age;
  // Requests collapsed behind this one may share the response only if it is fresh: one
  // stale on arrival, or to be revalidated before every use, is theirs to revalidate.
  r->shareable = x.cs.ttl > 0 && !(d.flags & policy::kNoCacheResponse);
  r->stored_age = std::to_string(age);
  if (!keep) return;
  r->stored_meta = std::move(meta);
  r->stored_key = std::move(key);
}

void Proxy::BuildClientResponse(Exchange& x, const Upstream& up, Relaying* r) {
  const http::response_header<>& fields = *r->end_to_end;
  const http::response_header<>& header = up.parser->get().base();
  unsigned status = up.status;
  const bool bodiless = up.status == 204 || up.status == 304 || up.status < 200;
  std::optional<uint64_t> length = up.body_length;
  r->client_body = !bodiless && !x.head;
  // The client's byte range, served out of the full response as it streams by.
  std::string content_range;
  const bool cacheable_method = x.cacheable_method();
  if (cacheable_method && (x.config().range_miss_fetch_full || up.completing) && up.status == 200 &&
      length) {
    const http_util::ByteRange range = http_util::RequestedRange(
        Field(x.req, http::field::range), Field(x.req, http::field::if_range),
        Field(fields, http::field::etag),
        http_util::ParseHttpDate(Field(fields, http::field::last_modified)).value_or(0), *length);
    if (range.kind != http_util::ByteRange::kIgnore) {
      content_range = http_util::ContentRangeValue(range, *length);
    }
    if (range.kind == http_util::ByteRange::kSatisfiable) {
      r->client_first = range.first;
      r->client_end = range.last + 1;
      status = 206;
      length = r->client_end - r->client_first;
    } else if (range.kind == http_util::ByteRange::kUnsatisfiable) {
      status = 416;
      length = 0;
      r->client_body = false;
    }
  }
  // With content ETags always, clients get no ETag but the content one, which is known
  // only once the body is in: a response relayed while it is stored goes without.
  const bool drop_etag =
      r->insert && x.config().content_etag == config::NodeConfig::ContentEtag::kAlways;
  // The origin's end-to-end fields, written straight into the header block (no field
  // table), but for the framing and those this node sets itself (below).
  http_util::HeaderBlock head(status);
  for (const auto& f : fields) {
    const std::string_view name(f.name_string().data(), f.name_string().size());
    if (http_util::IsFramingOrHopByHop(name)) continue;
    if (!x.config().forward_surrogate_headers && http_util::IsSurrogateHeader(name)) continue;
    if (beast::iequals(name, "via") || beast::iequals(name, "cache-status")) continue;
    if (r->insert && beast::iequals(name, "age")) continue;  // one stored keeps its own
    if (drop_etag && beast::iequals(name, "etag")) continue;
    if (!content_range.empty() && beast::iequals(name, "content-range")) continue;
    head.Add(name, std::string_view(f.value().data(), f.value().size()));
  }
  // One passed through keeps the origin's Age, if any.
  if (r->insert) head.Add("Age", r->stored_age);
  // This hop joins the Via chain, unless configured to stay out of clients' sight.
  const std::string_view upstream_via = Field(header, http::field::via);
  if (x.config().response_via) {
    r->via =
        upstream_via.empty() ? x.settings->via : std::string(upstream_via) + ", " + x.settings->via;
  } else {
    r->via = upstream_via;
  }
  if (!r->via.empty()) head.Add("Via", r->via);
  const std::string_view upstream_status = Field(header, "cache-status");
  head.Add("Cache-Status", upstream_status.empty()
                               ? x.cs.ToString()
                               : std::string(upstream_status) + ", " + x.cs.ToString());
  if (!content_range.empty()) head.Add("Content-Range", content_range);
  if (!x.keep_alive) head.Add("Connection", "close");
  if (length) {
    head.Add("Content-Length", std::to_string(*length));
  } else if (r->client_body) {
    head.Add("Transfer-Encoding", "chunked");
    r->chunked = true;
  }
  r->head = std::move(head).Finish();
  x.status = status;
}

asio::awaitable<void> Proxy::SendRelayHeader(Exchange& x, Relaying& r) {
  if (!r.client_ok) co_return;
  ArmClientDeadline(x);
  r.client_ok = !co_await r.writer->WriteHeader();
}

asio::awaitable<std::pair<std::string_view, boost::system::error_code>> Proxy::ReadOrigin(
    Exchange& x, Upstream& up) {
  if (!up.piece) {
    // As large as the body when it is known and smaller (most objects), and not zeroed.
    up.piece_size = static_cast<size_t>(
        up.body_length ? std::clamp<uint64_t>(*up.body_length, 1, kPieceBytes) : kPieceBytes);
    up.piece.reset(new char[up.piece_size]);
  }
  http::response_parser<http::buffer_body>& parser = *up.parser;
  parser.get().body().data = up.piece.get();
  parser.get().body().size = up.piece_size;
  up.conn.stream->expires_after(std::chrono::milliseconds(x.config().origin_timeout_ms));
  // A body that fits one piece is read whole (one pass, the common small object); a larger
  // one piece by piece as it arrives, so a slow origin's first bytes reach the client (and
  // the store) as they come instead of once 64 KiB have. Reading small bodies with
  // read_some cost ~25% of the miss rate.
  boost::system::error_code read_error;
  if (up.body_buffered()) {
    // The rest came with what was read already (a small object, with its header): parsed
    // in place, without a trip through the reactor.
    while (!parser.is_done() && !read_error) {
      const size_t used = parser.put(up.buffer().data(), read_error);
      up.buffer().consume(used);
      if (used == 0 && !read_error) read_error = http::error::partial_message;  // cannot be
    }
  } else if (up.body_length && *up.body_length <= up.piece_size) {
    std::tie(read_error, std::ignore) =
        co_await http::async_read(*up.conn.stream, up.buffer(), parser, kToken);
  } else {
    std::tie(read_error, std::ignore) =
        co_await http::async_read_some(*up.conn.stream, up.buffer(), parser, kToken);
  }
  if (read_error == http::error::need_buffer) read_error = {};
  const size_t n = up.piece_size - parser.get().body().size;
  up.received += n;
  metrics_.AddOriginBytes(n);
  if (read_error) {
    metrics_.CountOriginError();
    spdlog::warn("origin {} cut the body of {}{} after {} bytes: {}", x.origin->ToString(), x.host,
                 x.target, up.received, read_error.message());
  }
  co_return std::make_pair(std::string_view(up.piece.get(), n), read_error);
}

asio::awaitable<bool> Proxy::PassThrough(Exchange& x, Upstream& up, Relaying& r) {
  // Unstored: relayed at the client's pace, and given up as soon as the client is gone
  // (nobody else needs the bytes). A HEAD needs only the header.
  co_await SendRelayHeader(x, r);
  if (up.head_to_origin) Reuse(x, up);
  if (x.head || !r.client_ok) co_return r.client_ok;  // a GET's unread body: not pooled
  while (!up.parser->is_done()) {
    auto [data, read_error] = co_await ReadOrigin(x, up);
    if (!data.empty() && r.client_body) {
      ArmClientDeadline(x);
      if (co_await r.writer->Write(data)) co_return false;
      x.sent_bytes += data.size();
    }
    if (read_error) co_return false;  // never finished as complete: close the client
  }
  Reuse(x, up);
  if (!r.client_body) co_return true;
  ArmClientDeadline(x);
  co_return !co_await r.writer->Finish();
}

asio::awaitable<bool> Proxy::StoreAndBroadcast(Exchange& x, Upstream& up, Relaying& r) {
  if (up.whole_in_hand()) {
    co_return co_await StoreWhole(x, up, r);
  }
  // The origin is read at its own pace into the store and a broadcast, which this client
  // reads like any collapsed follower. One slow client never paces the fetch, and a client
  // that goes away does not stop the store.
  SharedResponse shared;
  shared.header.result(up.status);
  shared.header.version(11);
  // Followers get the header as it is stored, never fields kept from shared use.
  http_util::LoadStoredHeaders(r.stored_meta, x.config().forward_surrogate_headers, &shared.header);
  if (x.config().content_etag == config::NodeConfig::ContentEtag::kAlways) {
    shared.header.erase(http::field::etag);  // as for the leader's client (above)
  }
  shared.header.set(http::field::age, r.stored_age);
  if (!r.via.empty()) shared.header.set(http::field::via, r.via);
  if (auto total = up.body_length) {
    shared.length = *total;
    shared.header.set(http::field::content_length, std::to_string(*total));
  } else {
    shared.header.set(http::field::transfer_encoding, "chunked");
  }
  shared.vary = r.stored_meta.vary;
  shared.secondary = r.stored_key.secondary;
  auto broadcast = std::make_shared<Broadcast>(std::move(shared), kBroadcastBufferBytes);
  std::unique_ptr<Broadcast::Reader> own;
  if (r.client_ok && r.client_body) own = broadcast->Join();
  if (r.shareable && x.ticket != nullptr) x.ticket->Publish(broadcast);
  // A client that gets the body has the header in the same write as its first bytes. A
  // HEAD converted to a GET is answered as soon as the header is known; the body is still
  // read into the store.
  if (own == nullptr) co_await SendRelayHeader(x, r);
  // A client's conditional GET whose revalidation brought a 200 is answered from the store
  // once the body is in: the same bytes (kept under another replica's new ETag) may still
  // match what the client holds, a content ETag above all. With content ETags always,
  // every revalidated GET is, so that it carries one. Only bodies the broadcast's window
  // holds whole: if the body was not stored, the client gets it from there as usual.
  if (own != nullptr && up.stale != nullptr && !up.completing && up.body_length &&
      *up.body_length <= kBroadcastBufferBytes && x.req.method() == http::verb::get &&
      (x.req.find(http::field::if_none_match) != x.req.end() ||
       x.req.find(http::field::if_modified_since) != x.req.end() ||
       x.config().content_etag == config::NodeConfig::ContentEtag::kAlways)) {
    if (!co_await Fill(x, up, r, broadcast.get())) co_return false;  // cut by the origin
    ObjectInfo info;
    // The stored entry answers only if it holds the bytes this fill received (a purge or
    // another fill may have come between).
    if (r.stored && store_.Lookup(r.stored_key, &info).ok() && info.body_hash == r.body_hash &&
        info.body_length == r.body_length) {
      own.reset();
      const Served served = co_await ServeStored(x, info, policy::CurrentAge(info.meta, Now()));
      if (served != Served::kUnreadable) co_return served == Served::kSent;
    }
    const bool sent =
        co_await RelayBroadcast(x, *broadcast, *own, r.client_first, r.client_end, *r.writer);
    co_return r.client_ok&& sent;
  }
  const bool streaming = own != nullptr;
  auto relay = [&]() -> asio::awaitable<bool> {
    if (own == nullptr) co_return r.client_ok;
    const bool sent =
        co_await RelayBroadcast(x, *broadcast, *own, r.client_first, r.client_end, *r.writer);
    own.reset();  // its place in the window is free at once
    co_return sent;
  };
  using boost::asio::experimental::awaitable_operators::operator&&;
  auto [complete, sent] = co_await (Fill(x, up, r, broadcast.get()) && relay());
  if (!complete) co_return false;  // cut by the origin: never finished as complete
  co_return r.client_ok && (!streaming || sent);
}

asio::awaitable<bool> Proxy::StoreWhole(Exchange& x, Upstream& up, Relaying& r) {
  // The whole body came with the header: no client can be sent any of it sooner than the
  // others, so nobody needs a broadcast. It is sent at once, and committed meanwhile in
  // the background: this connection's next request is read without waiting for the
  // store. A request for the object before it is published (this client's next one too)
  // waits for the commit before its lookup (CommitInBackground), and finds it stored.
  if (!co_await Fill(x, up, r, nullptr, /*commit_later=*/true)) co_return false;
  // Only a leader holding a collapse ticket: without one, nobody would wait for the commit.
  if (r.insert && !(x.ticket != nullptr && x.ticket->held() && CommitInBackground(x, r.insert))) {
    // Awaited, then sent: no ticket, or too many commits running.
    auto [s] = co_await async_commit(*r.insert, co_await asio::this_coro::executor, kToken);
    if (!s.ok() && !s.IsAborted()) spdlog::warn("storing {}: {}", x.primary, s.ToString());
    r.insert.reset();
  }
  if (x.ticket != nullptr) x.ticket->Release();  // nothing stored (or committed above)
  if (!r.client_ok) co_return false;
  ArmClientDeadline(x);
  if (!r.client_body) co_return !co_await r.writer->WriteHeader();
  // Fill read it in one piece: up.piece holds it whole.
  const std::string_view body(up.piece.get(), static_cast<size_t>(up.received));
  const uint64_t first = std::min<uint64_t>(r.client_first, body.size());
  const uint64_t end = std::min<uint64_t>(r.client_end, body.size());
  const std::string_view part = body.substr(first, end - first);
  if (co_await r.writer->Write(part)) co_return false;
  x.sent_bytes += part.size();
  co_return !co_await r.writer->Finish();
}

bool Proxy::CommitInBackground(Exchange& x, std::unique_ptr<InsertHandle>& insert) {
  uint64_t number = 0;
  {
    std::lock_guard lock(commits_mu_);
    if (running_commits_.size() >= kMaxBackgroundCommits) return false;
    number = next_commit_++;
    running_commits_.insert(number);
  }
  // The ticket goes with the commit: until the entry is published, a request for the key
  // waits before looking it up (Collapser::AwaitCommit), so it finds this response rather
  // than nothing or an older one.
  std::shared_ptr<Collapser::Ticket> ticket;
  if (x.ticket != nullptr) {
    x.ticket->Committing();
    ticket = std::make_shared<Collapser::Ticket>(std::move(*x.ticket));
  }
  std::shared_ptr<InsertHandle> handle(std::move(insert));
  // On an engine thread, once the entry is published (or the commit failed).
  handle->AsyncCommit([this, handle, ticket, number, primary = x.primary](Status s) {
    if (!s.ok() && !s.IsAborted()) spdlog::warn("storing {}: {}", primary, s.ToString());
    if (ticket != nullptr) ticket->Release();
    std::lock_guard lock(commits_mu_);
    running_commits_.erase(number);
    commits_done_.notify_all();
  });
  return true;
}

void Proxy::SettleBackgroundCommits() {
  std::unique_lock lock(commits_mu_);
  const uint64_t upto = next_commit_;
  commits_done_.wait(lock,
                     [&] { return running_commits_.empty() || *running_commits_.begin() >= upto; });
}

void Proxy::WaitForBackgroundCommits() {
  std::unique_lock lock(commits_mu_);
  commits_done_.wait(lock, [&] { return running_commits_.empty(); });
}

asio::awaitable<bool> Proxy::Fill(Exchange& x, Upstream& up, Relaying& r, Broadcast* broadcast,
                                  bool commit_later) {
  struct FinishGuard {  // followers never wait on a fill that was torn down
    Broadcast* b;
    ~FinishGuard() {
      if (b != nullptr) b->Finish(false, false);
    }
  } guard{broadcast};
  auto executor = co_await asio::this_coro::executor;
  const auto origin_wait = std::chrono::milliseconds(x.config().origin_timeout_ms);
  std::unique_ptr<InsertHandle>& insert = r.insert;
  bool stored = false;
  auto store_failed = [&](const Status& s) {
    if (!s.ok()) spdlog::warn("storing {}: {}", x.primary, s.ToString());
    insert.reset();  // abort: the response still reaches every reader
    if (broadcast != nullptr) broadcast->StoreFailed();
  };
  auto append = [&](std::string_view data) -> asio::awaitable<void> {
    if (!insert) co_return;
    // What the buffers take at once needs no trip through the event loop (a small body:
    // all of it); the rest waits for a chunk write.
    size_t taken = 0;
    Status append_status = insert->AppendSome(data, &taken);
    if (append_status.ok() && taken < data.size()) {
      std::tie(append_status) =
          co_await async_append(*insert, data.substr(taken), executor, kToken);
    }
    if (!append_status.ok()) {
      store_failed(append_status);
    } else if (up.received > x.config().max_object_bytes) {
      store_failed(Status::OK());
    }
  };
  auto commit = [&]() -> asio::awaitable<void> {
    r.body_hash = insert->body_hash();
    r.body_length = insert->size();
    if (KeepStoredBody(x, up, r)) {
      stored = true;
      insert.reset();  // never committed: nothing is published, nothing more written
      co_return;
    }
    auto [commit_status] = co_await async_commit(*insert, executor, kToken);
    stored = commit_status.ok();
    if (stored) {
      insert.reset();
    } else {
      store_failed(commit_status);
    }
  };
  // A completed prefix: its stored bytes go first, to the store and to every reader.
  if (up.completing) {
    uint64_t delivered = 0;
    Status read = co_await ReadStored(
        store_, *up.prefix, 0, up.prefix->body_length,
        [&](const BodySlice& piece) -> asio::awaitable<bool> {
          co_await append(piece.data);
          if (broadcast != nullptr) co_await broadcast->Append(piece.data, origin_wait);
          co_return true;
        },
        &delivered);
    if (!read.ok()) {
      spdlog::warn("reading the stored part of {}: {}", x.primary, read.ToString());
      insert.reset();
      co_return false;  // the readers are closed, never given a short body
    }
  }
  while (!up.parser->is_done()) {
    auto [data, read_error] = co_await ReadOrigin(x, up);
    if (!data.empty()) co_await append(data);
    // Committed before the last bytes go out, so a client that has the whole response
    // and asks again finds it stored.
    if (insert && !commit_later && !read_error && up.parser->is_done()) co_await commit();
    if (!data.empty() && broadcast != nullptr) co_await broadcast->Append(data, origin_wait);
    if (read_error) {
      insert.reset();  // never stored
      co_return false;
    }
  }
  // An empty body: nothing was read, the commit is still due.
  if (insert && !commit_later) co_await commit();
  r.stored = stored;
  if (broadcast != nullptr) broadcast->Finish(true, stored);
  // Once the object is stored the collapsed fetch is over: later requests look it up (it
  // may need revalidating) rather than join a response that already arrived.
  if (x.ticket != nullptr && !commit_later) x.ticket->Release();
  Reuse(x, up);
  co_return true;
}

}  // namespace edgecache::proxy
