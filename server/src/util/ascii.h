// ASCII helpers for HTTP tokens, header values and config keys (locale-independent).
#pragma once

#include <string>
#include <string_view>

namespace edgecache::util {

inline char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

// RFC 9110 §5.6.2: a token character, and a token (one or more of them): field names,
// directive names and values, methods. One table look-up per character: these run over
// every stored field of every hit.
namespace detail {
struct TcharTable {
  bool is[256] = {};
  constexpr TcharTable() {
    for (int c = '0'; c <= '9'; ++c) is[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) is[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) is[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) is[static_cast<unsigned char>(c)] = true;
  }
};
inline constexpr TcharTable kTchar;
}  // namespace detail

inline bool IsTchar(char c) { return detail::kTchar.is[static_cast<unsigned char>(c)]; }
inline bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

// Without leading and trailing spaces and tabs (HTTP optional whitespace).
inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace edgecache::util
