#include "proxy/forwarded_request.h"

#include <algorithm>
#include <charconv>

#include "http/headers.h"
#include "util/ascii.h"

namespace edgecache::proxy {
namespace {

namespace http = boost::beast::http;
using util::AsciiLower;

constexpr std::string_view kUnkeyedOverrides[] = {"forwarded",
                                                  "x-forwarded-host",
                                                  "x-forwarded-server",
                                                  "x-forwarded-port",
                                                  "x-forwarded-proto",
                                                  "x-forwarded-scheme",
                                                  "x-forwarded-prefix",
                                                  "x-forwarded-uri",
                                                  "x-original-url",
                                                  "x-original-uri",
                                                  "x-rewrite-url",
                                                  "x-original-host",
                                                  "x-host",
                                                  "x-http-method-override",
                                                  "x-http-method",
                                                  "x-method-override",
                                                  "x-http-host-override"};

std::string_view View(boost::beast::string_view v) { return {v.data(), v.size()}; }

// Every field named more than once becomes one line with the values in order.
void CombineRepeatedLines(http::fields& fields) {
  // Names on more than one line: rare, so a request without any allocates nothing here.
  std::vector<std::string> repeated;
  for (const auto& f : fields) {
    const std::string_view name = View(f.name_string());
    if (fields.count(f.name_string()) > 1 &&
        std::none_of(repeated.begin(), repeated.end(),
                     [&](const std::string& r) { return boost::beast::iequals(r, name); })) {
      repeated.emplace_back(name);
    }
  }
  for (const std::string& name : repeated) {
    const std::string_view separator = boost::beast::iequals(name, "cookie") ? "; " : ", ";
    std::string combined;
    for (auto it = fields.find(name);
         it != fields.end() && boost::beast::iequals(it->name_string(), name); ++it) {
      if (!combined.empty()) combined += separator;
      combined += View(it->value());
    }
    fields.erase(name);
    fields.insert(name, combined);
  }
}

// An unkeyed override header this hop removes: one that is not a key header.
bool IsDroppedOverride(std::string_view name, const ForwardOptions& options) {
  const auto named = [&](std::string_view n) { return boost::beast::iequals(n, name); };
  return std::any_of(std::begin(kUnkeyedOverrides), std::end(kUnkeyedOverrides), named) &&
         std::none_of(options.key_headers.begin(), options.key_headers.end(), named);
}

Status Bad(std::string reason) { return Status::InvalidArgument(std::move(reason)); }

}  // namespace

bool IsUnkeyedOverrideHeader(std::string_view lower_name) {
  return std::find(std::begin(kUnkeyedOverrides), std::end(kUnkeyedOverrides), lower_name) !=
         std::end(kUnkeyedOverrides);
}

Status PrepareForward(http::request_header<>& req, const ForwardOptions& options,
                      std::string_view client_address, bool https, Routed* routed) {
  const std::string_view raw(req.target().data(), req.target().size());
  if (raw.find('#') != std::string_view::npos) return Bad("fragment in the request target");
  size_t host_lines = 0;
  for (auto it = req.find(http::field::host); it != req.end() && it->name() == http::field::host;
       ++it) {
    ++host_lines;
  }
  if (host_lines > 1) return Bad("more than one Host field");

  std::optional<std::string> host;
  std::string target;
  if (raw.starts_with("/")) {
    if (host_lines == 0) return Bad("missing Host");
    host = ParseAuthority(View(req[http::field::host]));
    target = std::string(raw);
  } else {
    // Absolute form: its authority replaces Host (RFC 9112 §3.2.2).
    const std::string scheme = AsciiLower(raw.substr(0, raw.find(':')));
    if (scheme != "http" && scheme != "https") {
      return Bad("request target is neither origin form nor an absolute http(s) URI");
    }
    auto split = SplitAbsolute(raw);
    if (!split) return Bad("bad authority in request target");
    host = std::move(split->first);
    target = std::move(split->second);
  }
  if (!host) return Bad("Host is not a host name or address with an optional port");

  routed->host = std::move(*host);
  routed->target = NormalizeTarget(target, options.key);
  routed->key = std::string(KeyPrefix(https, options.key)) + routed->host + routed->target;

  // Hop-by-hop first: "Connection: host" must not remove the Host set below.
  http_util::StripHopByHop(req);
  // Expect (the body is read before the request is forwarded) and the unkeyed overrides
  // that are not key headers go; found in one pass, as most requests carry none.
  std::vector<std::string> dropped;
  for (const auto& f : req) {
    const std::string_view name = View(f.name_string());
    if (f.name() == http::field::expect || IsDroppedOverride(name, options)) {
      dropped.emplace_back(name);
    }
  }
  for (const std::string& name : dropped) req.erase(name);
  req.target(routed->target);
  req.set(http::field::host, routed->host);
  CombineRepeatedLines(req);
  if (req.method() == http::verb::get || req.method() == http::verb::head) {
    if (auto ae = req.find(http::field::accept_encoding); ae != req.end()) {
      req.set(http::field::accept_encoding, NormalizeAcceptEncoding(View(ae->value())));
    }
  }
  // Via and X-Forwarded-For grow by this hop (RFC 9110 §7.6.3).
  std::string via(View(req[http::field::via]));
  req.set(http::field::via, via.empty() ? options.via : via + ", " + options.via);
  std::string xff(View(req["x-forwarded-for"]));
  req.set("X-Forwarded-For",
          xff.empty() ? std::string(client_address) : xff + ", " + std::string(client_address));
  return Status::OK();
}

}  // namespace edgecache::proxy
