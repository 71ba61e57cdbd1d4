#include "proxy/cache_key.h"

#include <algorithm>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>

#include "util/ascii.h"

namespace edgecache::proxy {
namespace {

bool RegNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool Stripped(std::string_view name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.starts_with(std::string_view(p).substr(0, p.size() - 1))) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

// RFC 3986 §6.2.2.1-2: upper-case hex in percent-encodings, and decode the ones that
// encode unreserved characters (ALPHA / DIGIT / - . _ ~). Reserved ones stay encoded:
// "/a%2Fb" and "/a/b" are different resources. A '%' that starts no percent-encoding is
// itself encoded ("%25"), so the result is a fixed point: "%%34%31" must not become
// "%41", which a second pass (or the origin) would read as "A".
std::string NormalizePercentEncoding(std::string_view in) {
  if (in.find('%') == std::string_view::npos) return std::string(in);  // most queries
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      const char c = static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
          c == '~') {
        out += c;
      } else {
        out += '%';
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(in[i + 1])));
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(in[i + 2])));
      }
      i += 2;
    } else if (in[i] == '%') {
      out += "%25";
    } else {
      out += in[i];
    }
  }
  return out;
}

// RFC 3986 §5.2.4, for an absolute path.
std::string RemoveDotSegments(std::string_view path) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    std::string_view seg =
        path.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    const bool last = slash == std::string_view::npos;
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = last;
    } else if (seg == ".") {
      trailing_slash = last;
    } else if (!(seg.empty() && i == 0)) {
      out.push_back(seg);
      trailing_slash = false;
    }
    if (last) break;
    i = slash + 1;
  }
  std::string result;
  for (auto seg : out) {
    result += '/';
    result += seg;
  }
  if (trailing_slash || result.empty()) result += '/';
  return result;
}

// True when the two passes above would return `path` unchanged: an absolute path with no
// '%' and no "." or ".." segment (most requests), which is then copied as it is.
bool IsNormalPath(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.find('%') != std::string_view::npos) {
    return false;
  }
  for (size_t dot = path.find("/."); dot != std::string_view::npos;
       dot = path.find("/.", dot + 1)) {
    const std::string_view rest = path.substr(dot + 2);
    if (rest.empty() || rest.front() == '/') return false;                          // "/."
    if (rest.front() == '.' && (rest.size() == 1 || rest[1] == '/')) return false;  // "/.."
  }
  return true;
}

// A qvalue (RFC 9110 §12.4.2): "0", "0.5", "1.000"; anything malformed accepts nothing.
double ParseQValue(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text[0] != '0' && text[0] != '1')) return 0;
  double q = text[0] - '0';
  if (text.size() == 1) return q;
  if (text[1] != '.') return 0;
  double scale = 0.1;
  for (char c : text.substr(2)) {
    if (c < '0' || c > '9') return 0;
    q += (c - '0') * scale;
    scale /= 10;
  }
  return q > 1 ? 0 : q;
}

}  // namespace

std::string NormalizeTarget(std::string_view target, const KeyOptions& options) {
  const size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  std::string out =
      IsNormalPath(path) ? std::string(path) : RemoveDotSegments(NormalizePercentEncoding(path));
  if (qmark == std::string_view::npos) return out;
  std::string query = NormalizePercentEncoding(target.substr(qmark + 1));
  if (!options.sort_query && options.strip_query_params.empty()) {
    out += '?';
    out += query;
    return out;
  }
  std::vector<std::string> params;
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view param = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (param.empty()) continue;
    std::string_view name = param.substr(0, param.find('='));
    if (Stripped(name, options.strip_query_params)) continue;
    params.emplace_back(param);
  }
  if (options.sort_query) std::stable_sort(params.begin(), params.end());
  for (size_t i = 0; i < params.size(); ++i) {
    out += i == 0 ? '?' : '&';
    out += params[i];
  }
  return out;
}

std::string_view KeyPrefix(bool https, const KeyOptions& options) {
  return https && options.key_scheme ? "https://" : "";
}

std::string CacheKey(bool https, std::string_view host, std::string_view target,
                     const KeyOptions& options) {
  return std::string(KeyPrefix(https, options)) + std::string(host) +
         NormalizeTarget(target, options);
}

std::string NormalizeAcceptEncoding(std::string_view value) {
  // -1: not listed; 0: listed as not acceptable.
  double br = -1, gzip = -1, any = -1;
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    size_t semi = item.find(';');
    const std::string coding = util::AsciiLower(util::TrimOws(item.substr(0, semi)));
    double q = 1;
    while (semi != std::string_view::npos) {
      item.remove_prefix(semi + 1);
      semi = item.find(';');
      const std::string_view param = util::TrimOws(item.substr(0, semi));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        q = ParseQValue(param.substr(2));
      }
    }
    if (coding == "br")
      br = q;
    else if (coding == "gzip" || coding == "x-gzip")
      gzip = q;
    else if (coding == "*")
      any = q;
  }
  if (br < 0) br = std::max(any, 0.0);
  if (gzip < 0) gzip = std::max(any, 0.0);
  if (br > 0 && br >= gzip) return "br";
  if (gzip > 0) return "gzip";
  return "identity";
}

std::optional<std::string> ParseAuthority(std::string_view authority) {
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(std::string(host.substr(1, host.size() - 2)), ec);
    if (ec) return std::nullopt;
  } else {
    if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), RegNameChar) ||
        host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos) {
      return std::nullopt;
    }
  }
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p > 65535 || port.size() > 5) {
      return std::nullopt;
    }
  }
  return util::AsciiLower(host);
}

std::optional<std::pair<std::string, std::string>> SplitAbsolute(std::string_view uri) {
  auto url = boost::urls::parse_absolute_uri(uri);
  if (!url || !url->has_authority() || url->has_userinfo()) return std::nullopt;
  auto host = ParseAuthority(url->encoded_authority());
  if (!host) return std::nullopt;
  std::string target = url->encoded_path().empty() ? "/" : std::string(url->encoded_path());
  if (url->has_query()) target += "?" + std::string(url->encoded_query());
  return std::make_pair(std::move(*host), std::move(target));
}

std::optional<std::string> CacheKeyForUrl(std::string_view url, const KeyOptions& options) {
  std::string absolute(url);
  if (absolute.find("://") == std::string::npos) absolute = "http://" + absolute;
  auto split = SplitAbsolute(absolute);
  if (!split || split->first.empty()) return std::nullopt;
  const bool https = util::AsciiLower(absolute.substr(0, absolute.find("://"))) == "https";
  return CacheKey(https, split->first, split->second, options);
}

std::string NormalizePreferenceList(std::string_view value) {
  std::vector<std::string> members(1);
  bool quoted = false;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted) {
      members.back().push_back(c);
      if (c == '\\' && i + 1 < value.size()) {
        members.back().push_back(value[++i]);
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
      members.back().push_back(c);
    } else if (c == ',') {
      members.emplace_back();
    } else if (c != ' ' && c != '\t') {
      members.back().push_back(util::AsciiLower(c));
    }
  }
  std::erase_if(members, [](const std::string& m) { return m.empty(); });
  std::sort(members.begin(), members.end());
  std::string out;
  for (const std::string& m : members) {
    if (!out.empty()) out.push_back(',');
    out += m;
  }
  return out;
}

std::string NormalizeVaryValue(std::string_view lower_name, std::string_view value) {
  if (lower_name == "accept-encoding") return NormalizeAcceptEncoding(value);
  if (lower_name == "accept" || lower_name == "accept-language" || lower_name == "accept-charset") {
    return NormalizePreferenceList(value);
  }
  return std::string(value);
}

}  // namespace edgecache::proxy
