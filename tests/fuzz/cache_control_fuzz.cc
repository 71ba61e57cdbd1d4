// Fuzz target: Cache-Control / CDN-Cache-Control / Surrogate-Control parsing and the
// storage and serve decisions built on them (policy/). A response head is parsed from the
// input and judged as it would be on a miss and again on a later request.
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_util.h"
#include "policy/cache_policy.h"
#include "policy/directives.h"

namespace {

namespace http = boost::beast::http;
using namespace edgecache;
using fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Every directive list parses, whatever its bytes.
  policy::Directives d = policy::Directives::Parse(input);
  for (const char* name : {"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"}) {
    if (auto s = d.Seconds(name)) Check(*s >= 0 && *s <= 2147483648LL);
  }
  (void)d.FieldNames("no-cache");
  (void)d.FieldNames("private");
  // And as a targeted field (a Structured Field Dictionary, RFC 9213).
  if (auto targeted = policy::Directives::ParseTargeted(input)) {
    if (auto s = targeted->Seconds("max-age")) Check(*s >= 0 && *s <= 2147483648LL);
    (void)targeted->FieldNames("no-cache");
  }

  auto head = fuzz::ParseHead<false>(input);
  if (!head) return 0;
  const http::response_header<>& resp = *head;
  http::request_header<> req;
  req.method(http::verb::get);
  const int64_t now = 1700000000;
  policy::PolicyOptions options;
  policy::StorageDecision decision = policy::DecideStorage(req, resp, now, options);
  if (!decision.store) return 0;
  Check(decision.freshness_lifetime >= 0);
  ObjectInfo info;
  info.meta.status = static_cast<uint16_t>(resp.result_int());
  info.meta.freshness_lifetime = decision.freshness_lifetime;
  info.meta.stale_while_revalidate = decision.stale_while_revalidate;
  info.meta.stale_if_error = decision.stale_if_error;
  info.meta.policy_flags = decision.flags;
  info.meta.request_time = now;
  info.meta.response_time = now;
  info.meta.date = now;
  for (const auto& f : resp) info.meta.headers.emplace_back(f.name_string(), f.value());
  for (int64_t later : {now, now + 1, now + 86400, now + (int64_t{1} << 40)}) {
    policy::ServeDecision serve = policy::DecideServe(req, info, later, options);
    Check(serve.age >= 0);
    if (serve.usable && serve.fresh) Check(serve.ttl >= 0);
  }
  return 0;
}
