// Cache-Control style directive lists (RFC 9111 §5.2, also Surrogate-Control):
// comma-separated `token` or `token=token` / `token="quoted"`, and the targeted fields of
// RFC 9213 (CDN-Cache-Control), which are Structured Field Dictionaries (RFC 8941).
//
// Names are case-insensitive; an unknown directive is kept (must-understand logic needs
// to see it; at most 16 per field) and otherwise ignored. A directive repeated in a field
// keeps its first occurrence (RFC 9111 §4.2.1). A directive whose syntax is broken (`max-age =5`)
// is present with an invalid value, which Seconds() reports as nullopt: callers treat an invalid
// freshness directive as "stale", never as absent.
//
// Values are immutable after parsing; safe to share between threads once built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgecache::policy {

class Directives {
 public:
  // Parses one Cache-Control field line; call Add again for each further line.
  static Directives Parse(std::string_view value);
  void Add(std::string_view value);

  // A targeted field (RFC 9213 §2.1): every line joined, parsed as a Dictionary. nullopt
  // when it is empty, fails Structured Field parsing, or a known directive has a value of
  // the wrong type (max-age="60", no-store=5): then the whole field is ignored (§2.2).
  static std::optional<Directives> ParseTargeted(std::string_view joined_lines);

  bool empty() const { return values_.empty(); }
  bool Has(std::string_view name) const;
  // The value of `name=N` as seconds: nullopt when absent or when not delta-seconds (a
  // non-empty run of digits, RFC 9111 §1.2.1). Values beyond 2^31 are 2^31 (§1.2.2).
  std::optional<int64_t> Seconds(std::string_view name) const;
  // Field names listed by `no-cache="a, b"` / `private="c"`; empty when unqualified.
  std::vector<std::string> FieldNames(std::string_view name) const;

 private:
  const std::string* Find(std::string_view name) const;  // null when absent
  // Adds a directive not present yet; an unknown one only while few are kept.
  void Keep(std::string name, std::string value);

  // Lower-case name and value, in the order first seen: a field holds a handful, which a
  // scan finds faster than a tree, without a node allocated per directive.
  std::vector<std::pair<std::string, std::string>> values_;
  size_t unknown_ = 0;  // directives in values_ that no code asks for
};

}  // namespace edgecache::policy
