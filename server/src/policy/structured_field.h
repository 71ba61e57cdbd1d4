// Structured Field Dictionaries (RFC 8941 §3.2, §4.2.2), as targeted cache-control
// fields such as CDN-Cache-Control (RFC 9213) are defined.
//
// Pure functions; no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgecache::policy::sf {

// One member value. Parameters are parsed (so that a malformed one fails the field) and
// dropped: no cache directive defines any.
struct Item {
  enum Type { kInteger, kDecimal, kString, kToken, kByteSequence, kBoolean, kInnerList };
  Type type = kBoolean;
  // kInteger / kDecimal: the number as written; kString: unescaped; kToken: as written;
  // kByteSequence: the base64 text; kBoolean: "1" or "0"; kInnerList: empty.
  std::string value;
  std::vector<Item> members;  // kInnerList only
};

// Members in order; a repeated key keeps its position and takes the last value. nullopt
// for anything RFC 8941 §4.2 says fails parsing: then the whole field is ignored.
std::optional<std::vector<std::pair<std::string, Item>>> ParseDictionary(std::string_view text);

}  // namespace edgecache::policy::sf
