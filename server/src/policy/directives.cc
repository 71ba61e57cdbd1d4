#include "policy/directives.h"

#include <algorithm>
#include <cctype>

#include "util/ascii.h"

namespace edgecache::policy {
namespace {

using util::AsciiLower;
using util::TrimOws;

}  // namespace

Directives Directives::Parse(std::string_view value) {
  Directives d;
  d.Add(value);
  return d;
}

void Directives::Add(std::string_view value) {
  size_t i = 0;
  while (i < value.size()) {
    // name
    size_t name_end = i;
    while (name_end < value.size() && value[name_end] != ',' && value[name_end] != '=') ++name_end;
    std::string name = AsciiLower(TrimOws(value.substr(i, name_end - i)));
    std::string arg;
    i = name_end;
    if (i < value.size() && value[i] == '=') {
      ++i;
      while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
      if (i < value.size() && value[i] == '"') {
        ++i;
        while (i < value.size() && value[i] != '"') {
          if (value[i] == '\\' && i + 1 < value.size()) ++i;
          arg.push_back(value[i++]);
        }
        if (i < value.size()) ++i;  // closing quote
        while (i < value.size() && value[i] != ',') ++i;
      } else {
        size_t end = i;
        while (end < value.size() && value[end] != ',') ++end;
        arg = std::string(TrimOws(value.substr(i, end - i)));
        i = end;
      }
    }
    if (i < value.size() && value[i] == ',') ++i;
    // The first occurrence wins; a duplicate with another value makes max-age-like
    // directives invalid, which Seconds() reports by refusing conflicting values.
    if (!name.empty()) {
      auto [it, inserted] = values_.emplace(name, arg);
      if (!inserted && it->second != arg) it->second = "\x01conflict";
    }
  }
}

bool Directives::Has(std::string_view name) const { return values_.find(name) != values_.end(); }

std::optional<int64_t> Directives::Seconds(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9') return std::nullopt;
    v = std::min<int64_t>(v * 10 + (c - '0'), 2147483648LL);
  }
  return v;
}

std::vector<std::string> Directives::FieldNames(std::string_view name) const {
  std::vector<std::string> out;
  auto it = values_.find(name);
  if (it == values_.end()) return out;
  std::string_view rest = it->second;
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
