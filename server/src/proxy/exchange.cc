#include "proxy/exchange.h"

#include <algorithm>
#include <boost/asio/this_coro.hpp>

#include "edgecache/asio.h"
#include "http/http_date.h"
#include "proxy/cache_key.h"
#include "util/ascii.h"

namespace edgecache::proxy {

HeaderGetter RequestHeaders(const Request& req, std::deque<std::string>* scratch) {
  return [&req, scratch](std::string_view name) -> std::optional<std::string_view> {
    auto it = req.find(beast::string_view(name.data(), name.size()));
    if (it == req.end()) return std::nullopt;
    const std::string_view value(it->value().data(), it->value().size());
    std::string normalised = NormalizeVaryValue(util::AsciiLower(name), value);
    if (normalised == value) return value;
    return scratch->emplace_back(std::move(normalised));
  };
}

ObjectMeta MetaFrom(const http::response_header<>& resp, const policy::StorageDecision& d,
                    int64_t request_time, int64_t response_time,
                    const std::vector<std::string>& key_headers) {
  ObjectMeta m;
  m.status = static_cast<uint16_t>(resp.result_int());
  m.headers = http_util::StoredHeaders(resp);
  std::erase_if(m.headers, [&d](const auto& h) {
    return std::any_of(d.strip_fields.begin(), d.strip_fields.end(),
                       [&h](const std::string& f) { return beast::iequals(f, h.first); });
  });
  m.etag = std::string(Field(resp, http::field::etag));
  m.last_modified = http_util::ParseHttpDate(Field(resp, http::field::last_modified)).value_or(0);
  m.date = http_util::ParseHttpDate(Field(resp, http::field::date)).value_or(response_time);
  m.request_time = request_time;
  m.response_time = response_time;
  m.freshness_lifetime = d.freshness_lifetime;
  m.stale_while_revalidate = d.stale_while_revalidate;
  m.stale_if_error = d.stale_if_error;
  m.policy_flags = d.flags;
  m.tags = http_util::SurrogateTags(resp);
  m.vary = http_util::ListMembers(resp, http::field::vary);
  m.vary.insert(m.vary.end(), key_headers.begin(), key_headers.end());
  return m;
}

std::optional<http_util::ContentRange> StoredPart(const ObjectMeta& meta) {
  if (meta.status != 206) return std::nullopt;
  return http_util::ParseContentRange(http_util::StoredHeader(meta, "content-range"));
}

std::string CompletionValidator(const ObjectMeta& meta) {
  if (!meta.etag.empty() && !meta.etag.starts_with("W/")) return meta.etag;
  return meta.last_modified != 0 ? http_util::FormatHttpDate(meta.last_modified) : std::string();
}

bool IsTimeout(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == asio::error::timed_out;
}

asio::awaitable<Status> ReadStored(Store& store, const ObjectInfo& info, uint64_t first,
                                   uint64_t end, const StoredSink& sink, uint64_t* delivered) {
  *delivered = 0;
  auto executor = co_await asio::this_coro::executor;
  for (uint64_t offset = first; offset < end;) {
    BodySlice slice;
    if (!store.ReadCached(info, offset, static_cast<size_t>(end - offset), &slice)) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kStoredPieceBytes, end - offset));
      auto [read_status, read] = co_await async_read(store, info, offset, want, executor, kToken);
      if (!read_status.ok()) co_return read_status;
      slice = std::move(read);
    }
    if (!co_await sink(slice)) co_return Status::Aborted("the reader stopped");
    offset += slice.data.size();
    *delivered += slice.data.size();
  }
  co_return Status::OK();
}

}  // namespace edgecache::proxy
