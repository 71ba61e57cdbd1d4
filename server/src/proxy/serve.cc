// Answers from what is stored: a stored response (conditionals, ranges, parts) for
// kServeFresh, kServeWhileRevalidating, kServeStale and kRefresh (its update by a 304),
// and a collapsed fetch's response as it arrives (Proxy::ServeStored, Refresh,
// ServeBroadcast, RelayBroadcast).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "edgecache/asio.h"
#include "http/http_date.h"
#include "http/range.h"
#include "net/send_file.h"
#include "proxy/exchange.h"
#include "proxy/proxy.h"
#include "proxy/stored_fields.h"

namespace edgecache::proxy {

asio::awaitable<Proxy::Served> Proxy::ServeStored(Exchange& x, const ObjectInfo& info,
                                                  int64_t age) {
  x.from_store = true;
  const ObjectMeta& meta = info.meta;
  const std::optional<http_util::ContentRange> part = StoredPart(meta);
  // Validators the origin forgot: a response stored with neither ETag nor Last-Modified
  // is given (each when configured) a Last-Modified of when it was stored and a strong
  // ETag derived from its bytes, which every replica of a fleet computes alike. With
  // content_etag = "always" every stored full response gets that ETag instead of the
  // origin's, so replicas that give the same bytes different ETags cannot make clients
  // download them again.
  using ContentEtag = config::NodeConfig::ContentEtag;
  std::string etag = meta.etag;
  int64_t last_modified = meta.last_modified;
  const bool synthesized_last_modified =
      etag.empty() && last_modified == 0 && x.config().synthesize_last_modified;
  if (synthesized_last_modified) last_modified = info.stored_at;
  const bool synthesized_etag =
      (etag.empty() && x.config().content_etag != ContentEtag::kOff) ||
      (x.config().content_etag == ContentEtag::kAlways && !part && meta.status == 200);
  if (synthesized_etag) etag = http_util::ContentEtag(info.body_hash);

  // Client conditionals are answered from the stored response (RFC 9110 §13.2.2). A
  // client holding the origin's ETag (it got the response on a miss) still matches.
  bool not_modified = false;
  std::string_view inm = Field(x.req, http::field::if_none_match);
  if (!inm.empty()) {
    not_modified =
        http_util::IfNoneMatchMatches(inm, etag) ||
        (synthesized_etag && !meta.etag.empty() && http_util::IfNoneMatchMatches(inm, meta.etag));
  } else if (auto ims = http_util::ParseHttpDate(Field(x.req, http::field::if_modified_since))) {
    not_modified = last_modified != 0 && last_modified <= *ims && meta.status == 200;
  }

  // Range / If-Range answered from the stored full body (RFC 9110 §14), or from a stored
  // part when the range lies inside it (LookUp checked that it does: kServeFresh).
  uint64_t first = 0, end = info.body_length;
  http_util::ByteRange range;
  std::string_view range_header = Field(x.req, http::field::range);
  const uint64_t complete_length = part ? part->complete_length : info.body_length;
  if (!not_modified && part) {
    range = http_util::ParseRange(range_header, part->complete_length);
    if (range.kind != http_util::ByteRange::kSatisfiable || range.first < part->first ||
        range.last > part->last) {
      range.kind = http_util::ByteRange::kSatisfiable;  // never reached: the part as stored
      range.first = part->first;
      range.last = part->last;
    }
    first = range.first - part->first;
    end = range.last + 1 - part->first;
  } else if (!not_modified && meta.status == 200 && x.req.method() == http::verb::get) {
    range = http_util::RequestedRange(range_header, Field(x.req, http::field::if_range), etag,
                                      last_modified, info.body_length);
    if (range.kind == http_util::ByteRange::kSatisfiable) {
      first = range.first;
      end = range.last + 1;
    } else if (range.kind == http_util::ByteRange::kUnsatisfiable) {
      end = 0;
    }
  }

  unsigned status = meta.status;
  if (not_modified) {
    status = 304;
  } else if (range.kind == http_util::ByteRange::kSatisfiable) {
    status = 206;
  } else if (range.kind == http_util::ByteRange::kUnsatisfiable) {
    status = 416;
  }
  x.status = status;
  // Written straight into one buffer (no field table), and sent in the same write as the
  // first body slice.
  http_util::HeaderBlock res(status);
  if (!x.keep_alive) res.Add("Connection", "close");
  if (not_modified) {
    for (const auto name : {"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Vary",
                            "Last-Modified"}) {
      if (synthesized_etag && std::string_view(name) == "ETag") continue;  // added below
      std::string_view v = http_util::StoredHeader(meta, name);
      // As AppendStoredFields checks them.
      if (!v.empty() && http_util::IsSafeFieldValue(v)) res.Add(name, v);
    }
  } else {
    // Via, Cache-Status and Content-Range are this node's own, written below (and a
    // content ETag in place of the origin's).
    res.AddLines(StoredFieldsCache::ForThisThread().Get(info, x.config().forward_surrogate_headers,
                                                        synthesized_etag));
    res.Add("Content-Length", std::to_string(end - first));
    if (range.kind != http_util::ByteRange::kIgnore) {
      res.Add("Content-Range", http_util::ContentRangeValue(range, complete_length));
    }
  }
  if (synthesized_last_modified) res.Add("Last-Modified", http_util::FormatHttpDate(last_modified));
  if (synthesized_etag) res.Add("ETag", etag);
  for (const std::string& cookie : x.own_set_cookies) res.Add("Set-Cookie", cookie);
  res.Add("Age", std::to_string(age));
  if (x.config().response_via) res.Add("Via", x.settings->via);
  res.Add("Cache-Status", x.cs.ToString());
  const std::string head = std::move(res).Finish();

  if (x.client == nullptr) co_return Served::kClose;
  ArmClientDeadline(x);
  if (not_modified || x.head || first == end) {
    auto [ec, n] = co_await asio::async_write(*x.client, asio::buffer(head), kToken);
    co_return ec ? Served::kClose : Served::kSent;
  }
  // The header goes out in the same write as the first piece of the body. A large piece
  // held in the RAM cache's arena is sent from its file, without a copy (net/send_file.h).
  bool head_sent = false;
  uint64_t sent = 0;
  Status read = co_await ReadStored(
      store_, info, first, end,
      [&](const BodySlice& piece) -> asio::awaitable<bool> {
        const std::string_view head_now = head_sent ? std::string_view() : std::string_view(head);
        head_sent = true;
        ArmClientDeadline(x);
        if (piece.fd >= 0 && piece.data.size() >= kSendFileBytes && !x.client->tls()) {
          uint64_t body = 0;
          const boost::system::error_code ec = co_await net::SendFile(
              *x.client, head_now, piece.fd, piece.file_offset, piece.data.size(), &body);
          x.sent_bytes += body;
          metrics_.AddSendfileBytes(body);
          co_return !ec;
        }
        std::array<asio::const_buffer, 2> buffers = {asio::buffer(head_now),
                                                     asio::buffer(piece.data)};
        auto [write_error, written] = co_await asio::async_write(*x.client, buffers, kToken);
        if (write_error) co_return false;
        x.sent_bytes += piece.data.size();
        co_return true;
      },
      &sent);
  if (read.ok()) co_return Served::kSent;
  if (read.IsAborted()) co_return Served::kClose;  // the client went away
  // A bad body is dropped by the engine and is a miss next time. If the header has gone
  // out, the connection is closed rather than finished short.
  spdlog::warn("serving {} from the store failed at byte {}: {}", x.primary, first + sent,
               read.ToString());
  co_return head_sent ? Served::kClose : Served::kUnreadable;
}

bool Proxy::StaleIfErrorAllows(const Exchange& x, const ObjectInfo* stale) const {
  if (stale == nullptr || x.client == nullptr) return false;
  const ObjectMeta& m = stale->meta;
  // must-revalidate, proxy-revalidate, s-maxage; no-cache: never used unrevalidated.
  if (m.policy_flags & (policy::kMustRevalidate | policy::kNoCacheResponse)) return false;
  const int64_t staleness = policy::CurrentAge(m, Now()) - m.freshness_lifetime;
  // The response's own stale-if-error, or the node's default for responses without one.
  int64_t window =
      m.stale_if_error > 0 ? m.stale_if_error : x.config().default_stale_if_error_seconds;
  const policy::Directives req_cc = policy::Collect(x.req, "cache-control");
  if (req_cc.Has("max-stale")) {
    window = std::max(window, req_cc.Seconds("max-stale").value_or(INT64_MAX));
  }
  if (auto req_window = req_cc.Seconds("stale-if-error")) window = std::max(window, *req_window);
  return window > 0 && staleness <= window;
}

bool Proxy::Refresh(Exchange& x, const Upstream& up, ObjectInfo* updated, int64_t* age) {
  const ObjectInfo& stale = *up.stale;
  const http::response_header<>& not_modified = up.parser->get().base();
  // RFC 9111 §4.3.4: the 304's headers update the stored ones; freshness is recomputed
  // from the result.
  ObjectMeta meta = stale.meta;
  http::response_header<> end_to_end = not_modified;
  http_util::StripHopByHop(end_to_end);
  http_util::MergeNotModified(end_to_end, &meta.headers);  // never its Set-Cookie
  for (auto it = end_to_end.find(http::field::set_cookie);
       it != end_to_end.end() && it->name() == http::field::set_cookie; ++it) {
    x.own_set_cookies.emplace_back(it->value());
  }
  http::response_header<> merged;
  merged.result(meta.status);
  for (const auto& [name, value] : meta.headers) merged.insert(name, value);
  policy::StorageDecision d =
      policy::DecideStorageForGet(x.req, merged, up.response_time, x.settings->policy);
  ObjectMeta fresh = MetaFrom(merged, d, up.request_time, up.response_time, x.config().key_headers);
  *updated = stale;
  updated->meta = fresh;
  updated->invalidated = false;
  if (d.store) {
    Status s = store_.UpdateMeta(stale.key, stale.version, fresh);
    if (!s.ok() && !s.IsAborted()) spdlog::warn("refreshing {}: {}", x.primary, s.ToString());
  }
  metrics_.CountRevalidation(metrics::Revalidation::kNotModified);
  metrics_.AddNotModifiedSavedBytes(stale.body_length);
  if (x.client == nullptr) return false;  // a background revalidation: nobody to answer
  x.cs.fwd_status = static_cast<int>(not_modified.result_int());  // 304, or 200 to a HEAD
  *age = policy::CurrentAge(fresh, Now());
  x.cs.has_ttl = true;
  x.cs.ttl = fresh.freshness_lifetime - *age;
  return true;
}

asio::awaitable<bool> Proxy::ServeBroadcast(Exchange& x, Broadcast& b, Broadcast::Reader& reader) {
  http::response<http::empty_body> res;
  res.base() = b.header();
  ResetToMiss(x, "collapsed");
  x.cs.fwd_status = static_cast<int>(res.result_int());
  x.status = res.result_int();
  res.set("Cache-Status", x.cs.ToString());
  res.keep_alive(x.keep_alive);
  http_util::ResponseWriter writer(*x.client, res);
  // The header at once: the leader's body may be slow to come.
  ArmClientDeadline(x);
  if (auto ec = co_await writer.WriteHeader(); ec) co_return false;
  co_return co_await RelayBroadcast(x, b, reader, 0, UINT64_MAX, writer);
}

asio::awaitable<bool> Proxy::RelayBroadcast(Exchange& x, Broadcast& b, Broadcast::Reader& reader,
                                            uint64_t first, uint64_t end,
                                            http_util::ResponseWriter& writer) {
  auto send = [&](std::string_view data, bool more) -> asio::awaitable<bool> {
    ArmClientDeadline(x);
    const boost::system::error_code ec =
        more ? co_await writer.Write(data) : co_await writer.Finish();
    x.sent_bytes += data.size();
    co_return !ec;
  };
  const auto wait = std::chrono::milliseconds(x.config().origin_timeout_ms);
  for (;;) {
    Broadcast::Next next = co_await reader.Read(wait);
    if (!next.data.empty()) {
      const uint64_t start = reader.offset() - next.data.size();
      const uint64_t from = std::max(start, first);
      const uint64_t to = std::min<uint64_t>(reader.offset(), end);
      if (from < to && !co_await send(next.data.substr(from - start, to - from), true))
        co_return false;
      if (reader.offset() >= end) break;
      continue;
    }
    if (next.done) {
      if (!next.complete) co_return false;  // the origin failed: close, never short
      break;
    }
    if (!next.let_go) co_return false;  // nothing arrived in time
    // Fell behind: the rest comes from the store once the object is committed.
    auto [complete, stored] = co_await b.WaitDone(wait);
    if (!stored) co_return false;
    std::shared_ptr<const ObjectInfo> stored_info;
    if (!store_.LookupVariant(x.primary, RequestHeaders(x.req, &x.vary_values), &stored_info)
             .ok() ||
        (b.length() && stored_info->body_length != *b.length())) {
      co_return false;
    }
    const ObjectInfo& info = *stored_info;
    x.from_store = true;
    uint64_t sent = 0;
    Status read = co_await ReadStored(
        store_, info, std::max(reader.offset(), first), std::min<uint64_t>(end, info.body_length),
        [&](const BodySlice& piece) { return send(piece.data, true); }, &sent);
    if (!read.ok()) co_return false;
    break;
  }
  co_return co_await send({}, false);
}

}  // namespace edgecache::proxy
