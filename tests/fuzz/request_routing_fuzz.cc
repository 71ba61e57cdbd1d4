// Fuzz target: a request head as a client sends it -> framing checks -> routing -> the
// cache key and the variant key (proxy/forwarded_request.h).
//
// Invariants checked on every input the node would accept: the target forwarded is the
// target keyed, it is a fixed point of normalisation, carries no fragment, and the host
// is a valid lower-case authority without port; the variant key is computed from the
// request as forwarded.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "edgecache/object.h"
#include "fuzz_util.h"
#include "http/headers.h"
#include "proxy/cache_key.h"
#include "proxy/forwarded_request.h"

namespace {

namespace http = boost::beast::http;
using namespace edgecache;
using fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto head = fuzz::ParseHead<true>(input);
  if (!head) return 0;
  http::request_header<> req = std::move(*head);
  if (http_util::RequestFramingError(req)) return 0;

  proxy::ForwardOptions options{{true, {"utm_*", "fbclid"}}, {"x-forwarded-host"}, "1.1 fuzz"};
  proxy::Routed routed;
  if (!proxy::PrepareForward(req, options, "192.0.2.1", /*https=*/false, &routed).ok()) return 0;
  Check(std::string_view(req.target().data(), req.target().size()) == routed.target);
  Check(routed.key == routed.host + routed.target);
  Check(proxy::NormalizeTarget(routed.target, options.key) == routed.target);
  Check(routed.target.starts_with("/"));
  Check(routed.target.find('#') == std::string::npos);
  Check(proxy::ParseAuthority(routed.host) == routed.host);
  Check(std::string_view(req[http::field::host].data(), req[http::field::host].size()) ==
        routed.host);
  // The forwarded request has one line per field, so a Vary-selected value is all of it.
  for (const auto& f : req) Check(req.count(f.name_string()) == 1);
  const std::vector<std::string> vary = {"accept-encoding", "accept-language", "x-forwarded-host"};
  const std::string secondary = SecondaryKeyFor(vary, [&req](std::string_view name) {
    auto it = req.find(boost::beast::string_view(name.data(), name.size()));
    return it == req.end() ? std::optional<std::string_view>()
                           : std::string_view(it->value().data(), it->value().size());
  });
  Check(secondary.find('\0') == std::string::npos);
  return 0;
}
