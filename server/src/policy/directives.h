// Cache-Control style directive lists (RFC 9111 §5.2; also CDN-Cache-Control, RFC 9213,
// and Surrogate-Control): comma-separated `name` or `name=value` / `name="value"`.
// Names are case-insensitive; an unknown directive is kept (must-understand logic needs
// to see it) and otherwise ignored.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgecache::policy {

class Directives {
 public:
  // Parses one header value; call Add again for each further header line.
  static Directives Parse(std::string_view value);
  void Add(std::string_view value);

  bool empty() const { return values_.empty(); }
  bool Has(std::string_view name) const;
  // The value of `name=N` as seconds: nullopt when absent or not a non-negative integer
  // (RFC 9111: an invalid value is treated as if absent, except max-age=garbage as stale,
  // which callers decide). Values beyond 2^31 are capped (§1.2.2).
  std::optional<int64_t> Seconds(std::string_view name) const;
  // Field names listed by `no-cache="a, b"` / `private="c"`; empty when unqualified.
  std::vector<std::string> FieldNames(std::string_view name) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;  // lower-case name -> value
};

}  // namespace edgecache::policy
