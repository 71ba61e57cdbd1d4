#include "http/headers.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cstdio>
#include <set>

#include "http/http_date.h"
#include "util/ascii.h"

namespace edgecache::http_util {
namespace {

using boost::beast::iequals;

constexpr std::string_view kHopByHop[] = {
    "connection", "keep-alive",         "proxy-connection",   "te", "trailer", "transfer-encoding",
    "upgrade",    "proxy-authenticate", "proxy-authorization"};

// One of the hop-by-hop fields every message drops (RFC 9110 §7.6.1), by name.
bool IsHopByHop(std::string_view name) {
  return std::any_of(std::begin(kHopByHop), std::end(kHopByHop),
                     [&](std::string_view h) { return iequals(name, h); });
}

using util::AsciiLower;
using util::TrimOws;

std::string_view Opaque(std::string_view tag) {
  tag = TrimOws(tag);
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

}  // namespace

std::vector<std::string> ListMembers(const http::fields& fields, http::field name) {
  std::vector<std::string> members;
  for (auto it = fields.find(name); it != fields.end() && it->name() == name; ++it) {
    std::string_view v(it->value().data(), it->value().size());
    while (!v.empty()) {
      const size_t comma = v.find(',');
      std::string_view member = TrimOws(v.substr(0, comma));
      if (!member.empty()) members.push_back(AsciiLower(member));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return members;
}

std::optional<FramingError> RequestFramingError(const http::request_header<>& request) {
  if (request.find(http::field::transfer_encoding) == request.end()) return std::nullopt;
  std::vector<std::string> codings;
  for (const std::string& member : ListMembers(request, http::field::transfer_encoding)) {
    // Parameters do not change the coding.
    std::string_view coding = TrimOws(std::string_view(member).substr(0, member.find(';')));
    if (!coding.empty()) codings.emplace_back(coding);
  }
  if (request.version() < 11) return FramingError{400, "Transfer-Encoding in an HTTP/1.0 request"};
  if (request.find(http::field::content_length) != request.end())
    return FramingError{400, "both Transfer-Encoding and Content-Length"};
  if (codings.empty() || codings.back() != "chunked")
    return FramingError{400, "Transfer-Encoding whose final coding is not chunked"};
  if (std::count(codings.begin(), codings.end(), "chunked") > 1)
    return FramingError{400, "chunked applied more than once"};
  if (codings.size() > 1)
    return FramingError{501, "transfer coding other than chunked: " + codings.front()};
  return std::nullopt;
}

void StripHopByHop(http::fields& fields) {
  // The names present are found in one pass (most messages have none but Connection), so
  // nothing is looked up by name that is not there.
  std::vector<std::string> names = ListMembers(fields, http::field::connection);
  for (const auto& f : fields) {
    const std::string_view name(f.name_string().data(), f.name_string().size());
    if (IsHopByHop(name)) names.emplace_back(name);
  }
  for (const auto& name : names) fields.erase(name);
}

bool IsSafeFieldValue(std::string_view value) {
  // A plain loop: find_first_of would search the three characters once per byte.
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool IsFramingOrHopByHop(std::string_view name) {
  return iequals(name, "content-length") || IsHopByHop(name);
}

bool IsSurrogateHeader(std::string_view name) {
  return iequals(name, "surrogate-key") || iequals(name, "cache-tag") ||
         iequals(name, "surrogate-control");
}

std::vector<std::string> SurrogateTags(const http::fields& fields) {
  std::vector<std::string> tags;
  std::set<std::string> seen;
  auto add = [&](std::string_view tag) {
    tag = TrimOws(tag);
    if (!tag.empty() && tag.find('\0') == std::string_view::npos && seen.emplace(tag).second) {
      tags.emplace_back(tag);
    }
  };
  for (const auto& f : fields) {
    std::string_view name(f.name_string().data(), f.name_string().size());
    std::string_view value(f.value().data(), f.value().size());
    const bool space_separated = iequals(name, "surrogate-key");
    if (!space_separated && !iequals(name, "cache-tag")) continue;
    const char sep = space_separated ? ' ' : ',';
    while (!value.empty()) {
      size_t at = value.find(sep);
      add(value.substr(0, at));
      if (at == std::string_view::npos) break;
      value.remove_prefix(at + 1);
    }
  }
  return tags;
}

std::vector<std::pair<std::string, std::string>> StoredHeaders(const http::fields& fields) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : fields) {
    std::string name(f.name_string());
    // An upstream cache's Cache-Status describes that one exchange, not later hits.
    if (IsFramingOrHopByHop(name) || iequals(name, "cache-status")) continue;
    out.emplace_back(std::move(name), std::string(f.value()));
  }
  return out;
}

void MergeNotModified(const http::fields& not_modified,
                      std::vector<std::pair<std::string, std::string>>* stored) {
  std::set<std::string, std::less<>> replaced;
  std::vector<std::pair<std::string, std::string>> added;
  for (const auto& f : not_modified) {
    std::string name(f.name_string());
    // A 304 answers one user's revalidation: its cookie is not for the next user.
    if (IsFramingOrHopByHop(name) || iequals(name, "set-cookie")) continue;
    replaced.insert(AsciiLower(name));
    added.emplace_back(std::move(name), std::string(f.value()));
  }
  replaced.insert("age");
  std::erase_if(*stored, [&](const auto& h) { return replaced.count(AsciiLower(h.first)) > 0; });
  stored->insert(stored->end(), added.begin(), added.end());
}

namespace {

// Whether a stored field goes to clients: never Age (recomputed), framing or hop-by-hop
// fields, or Set-Cookie (never stored; an entry written before that rule must not replay
// it); surrogate fields only when configured.
bool Forwardable(std::string_view name, bool forward_surrogate) {
  if (iequals(name, "age") || iequals(name, "set-cookie") || IsFramingOrHopByHop(name)) {
    return false;
  }
  return forward_surrogate || !IsSurrogateHeader(name);
}

}  // namespace

void LoadStoredHeaders(const ObjectMeta& meta, bool forward_surrogate, http::fields* out) {
  for (const auto& [name, value] : meta.headers) {
    if (Forwardable(name, forward_surrogate)) out->insert(name, value);
  }
}

HeaderBlock::HeaderBlock(unsigned status, size_t reserve) {
  out_.reserve(reserve);
  out_ += "HTTP/1.1 ";
  out_ += std::to_string(status);
  out_ += ' ';
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out_.append(reason.data(), reason.size());
  out_ += "\r\n";
}

namespace {

// "Name: value" CRLF.
void AppendFieldLine(std::string_view name, std::string_view value, std::string* out) {
  *out += name;
  *out += ": ";
  *out += value;
  *out += "\r\n";
}

}  // namespace

void HeaderBlock::Add(std::string_view name, std::string_view value) {
  AppendFieldLine(name, value, &out_);
}

void AppendStoredFields(const ObjectMeta& meta, bool forward_surrogate,
                        std::initializer_list<std::string_view> skip, std::string* out) {
  for (const auto& [name, value] : meta.headers) {
    if (!Forwardable(name, forward_surrogate)) continue;
    // Stored fields were parsed from an origin's response, but they are read back from
    // disk: one that could not have been parsed is left out rather than let it split the
    // response (a CR or LF in it) or break its framing.
    if (!util::IsToken(name) || !IsSafeFieldValue(value)) {
      continue;
    }
    if (std::any_of(skip.begin(), skip.end(), [&](std::string_view s) { return iequals(name, s); }))
      continue;
    AppendFieldLine(name, value, out);
  }
}

std::string HeaderBlock::Finish() && {
  out_ += "\r\n";
  return std::move(out_);
}

std::string_view StoredHeader(const ObjectMeta& meta, std::string_view name) {
  for (const auto& [n, v] : meta.headers) {
    if (iequals(n, name)) return v;
  }
  return {};
}

std::string CacheStatus::ToString() const {
  // One allocation: every piece is appended in place (this runs for every response).
  std::string out;
  out.reserve(name.size() + fwd.size() + detail.size() + 64);
  out += name;
  if (hit) out += "; hit";
  if (!fwd.empty()) out.append("; fwd=").append(fwd);
  if (fwd_status != 0) out.append("; fwd-status=").append(std::to_string(fwd_status));
  if (stored) out += "; stored";
  if (has_ttl) out.append("; ttl=").append(std::to_string(ttl));
  if (!detail.empty()) out.append("; detail=\"").append(detail).append("\"");
  return out;
}

std::string SerializeHeader(const http::response_header<>& header) {
  std::string out;
  out.reserve(512);
  out += "HTTP/1.1 ";
  out += std::to_string(header.result_int());
  out += ' ';
  out += std::string_view(header.reason().data(), header.reason().size());
  out += "\r\n";
  for (const auto& f : header) {
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

std::string ContentEtag(uint64_t body_hash) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "\"ec-%016llx\"", static_cast<unsigned long long>(body_hash));
  return buf;
}

bool WeakMatch(std::string_view a, std::string_view b) {
  std::string_view oa = Opaque(a), ob = Opaque(b);
  return !oa.empty() && oa == ob;
}

bool IfNoneMatchMatches(std::string_view if_none_match, std::string_view etag) {
  if (TrimOws(if_none_match) == "*") return !etag.empty();
  while (!if_none_match.empty()) {
    size_t comma = if_none_match.find(',');
    if (WeakMatch(if_none_match.substr(0, comma), etag)) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace edgecache::http_util
