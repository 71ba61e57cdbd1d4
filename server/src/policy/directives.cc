#include "policy/directives.h"

#include <algorithm>

#include "policy/structured_field.h"
#include "util/ascii.h"

namespace edgecache::policy {
namespace {

using util::AsciiLower;
using util::IsToken;
using util::TrimOws;

// Stands for a value that did not parse: never a valid number or field list.
constexpr std::string_view kInvalid = "\x01invalid";

// Directives whose value is delta-seconds, and those that take no value or (no-cache,
// private) a list of field names: a targeted field with any other type for them is invalid.
bool IsSecondsDirective(std::string_view name) {
  return name == "max-age" || name == "s-maxage" || name == "stale-while-revalidate" ||
         name == "stale-if-error";
}
bool IsFlagDirective(std::string_view name) {
  return name == "no-store" || name == "no-cache" || name == "private" || name == "public" ||
         name == "must-revalidate" || name == "proxy-revalidate" || name == "immutable" ||
         name == "must-understand" || name == "no-transform";
}

// The names this code asks for: an unknown directive is only ever present, never read.
bool IsKnown(std::string_view name) {
  return IsSecondsDirective(name) || IsFlagDirective(name) || name == "max-stale" ||
         name == "min-fresh" || name == "only-if-cached";
}

// Unknown directives kept per field: a field made of thousands of them must not make
// every directive's lookup a long scan (known ones are always kept).
constexpr size_t kMaxUnknown = 16;

}  // namespace

Directives Directives::Parse(std::string_view value) {
  Directives d;
  d.Add(value);
  return d;
}

void Directives::Add(std::string_view value) {
  // #( token [ "=" ( token / quoted-string ) ] ), no whitespace around "=" (RFC 9111 §5.2).
  size_t i = 0;
  while (i < value.size()) {
    size_t name_end = i;
    while (name_end < value.size() && value[name_end] != ',' && value[name_end] != '=') ++name_end;
    const std::string_view raw_name = value.substr(i, name_end - i);
    std::string name = AsciiLower(TrimOws(raw_name));
    bool valid = IsToken(name);
    std::string arg;
    i = name_end;
    if (i < value.size() && value[i] == '=') {
      ++i;
      // "max-age =5" or "max-age= 5": outside the grammar, so the value is invalid.
      if (!raw_name.empty() && (raw_name.back() == ' ' || raw_name.back() == '\t')) valid = false;
      if (i < value.size() && value[i] == '"') {
        ++i;
        while (i < value.size() && value[i] != '"') {
          if (value[i] == '\\' && i + 1 < value.size()) ++i;
          arg.push_back(value[i++]);
        }
        if (i < value.size()) {
          ++i;  // closing quote
        } else {
          valid = false;  // unterminated
        }
        const size_t end = value.find(',', i);
        if (!TrimOws(value.substr(i, end == std::string_view::npos ? end : end - i)).empty()) {
          valid = false;
        }
        i = end == std::string_view::npos ? value.size() : end;
      } else {
        size_t end = i;
        while (end < value.size() && value[end] != ',') ++end;
        const std::string_view token = value.substr(i, end - i);
        // "max-age= 5" and "max-age=" are invalid; OWS before the next comma is not.
        if (token.empty() || token[0] == ' ' || token[0] == '\t' || !IsToken(TrimOws(token))) {
          valid = false;
        }
        arg = std::string(TrimOws(token));
        i = end;
      }
    }
    if (i < value.size() && value[i] == ',') ++i;
    if (!name.empty() && Find(name) == nullptr) {  // the first occurrence wins
      Keep(std::move(name), valid ? std::move(arg) : std::string(kInvalid));
    }
  }
}

std::optional<Directives> Directives::ParseTargeted(std::string_view joined_lines) {
  auto dict = sf::ParseDictionary(TrimOws(joined_lines));
  if (!dict || dict->empty()) return std::nullopt;
  Directives d;
  for (auto& [name, item] : *dict) {  // names are unique in a Dictionary
    if (IsSecondsDirective(name)) {
      if (item.type != sf::Item::kInteger || item.value.front() == '-') return std::nullopt;
      d.Keep(name, item.value);
    } else if (item.type == sf::Item::kBoolean) {
      if (item.value == "1") d.Keep(name, "");  // ?0 is the directive's absence
    } else if (IsFlagDirective(name) && !(name == "no-cache" || name == "private")) {
      return std::nullopt;
    } else if (item.type == sf::Item::kString) {
      d.Keep(name, item.value);  // no-cache="x-a, x-b"
    } else if (item.type == sf::Item::kInnerList) {
      std::string fields;  // no-cache=("x-a" "x-b")
      for (const sf::Item& member : item.members) {
        if (member.type != sf::Item::kString && member.type != sf::Item::kToken) {
          return std::nullopt;
        }
        fields += (fields.empty() ? "" : ",") + member.value;
      }
      d.Keep(name, std::move(fields));
    } else if (IsFlagDirective(name)) {
      return std::nullopt;
    } else {
      d.Keep(name, item.value);  // an extension: kept, not interpreted
    }
  }
  return d;
}

const std::string* Directives::Find(std::string_view name) const {
  for (const auto& [n, v] : values_) {
    if (n == name) return &v;
  }
  return nullptr;
}

void Directives::Keep(std::string name, std::string value) {
  const bool known = IsKnown(name);
  if (!known && unknown_ == kMaxUnknown) return;
  unknown_ += known ? 0 : 1;
  values_.emplace_back(std::move(name), std::move(value));
}

bool Directives::Has(std::string_view name) const { return Find(name) != nullptr; }

std::optional<int64_t> Directives::Seconds(std::string_view name) const {
  const std::string* value = Find(name);
  if (value == nullptr || value->empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : *value) {
    if (c < '0' || c > '9') return std::nullopt;
    v = std::min<int64_t>(v * 10 + (c - '0'), 2147483648LL);
  }
  return v;
}

std::vector<std::string> Directives::FieldNames(std::string_view name) const {
  std::vector<std::string> out;
  const std::string* value = Find(name);
  if (value == nullptr || *value == kInvalid) return out;
  std::string_view rest = *value;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view field = TrimOws(rest.substr(0, comma));
    if (!field.empty()) out.push_back(AsciiLower(field));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace edgecache::policy
