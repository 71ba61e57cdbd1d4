#include "policy/structured_field.h"

#include <algorithm>
#include <unordered_map>

#include "util/ascii.h"

namespace edgecache::policy::sf {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLcAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return IsLcAlpha(c) || (c >= 'A' && c <= 'Z'); }
bool IsBase64(char c) { return IsAlpha(c) || IsDigit(c) || c == '+' || c == '/' || c == '='; }

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  std::optional<std::vector<std::pair<std::string, Item>>> Dictionary() {
    std::vector<std::pair<std::string, Item>> out;
    // Where each key is in `out`, once it is long enough that a scan for duplicates
    // would make a dictionary of thousands of members cost their square.
    std::unordered_map<std::string, size_t> where;
    SkipSp();
    while (!Done()) {
      auto key = Key();
      if (!key) return std::nullopt;
      Item item;
      if (Peek() == '=') {
        ++i_;
        auto value = ItemOrInnerList();
        if (!value) return std::nullopt;
        item = std::move(*value);
      } else {
        item.type = Item::kBoolean;
        item.value = "1";
        if (!Parameters()) return std::nullopt;
      }
      constexpr size_t kScanned = 16;
      if (out.size() == kScanned && where.empty()) {
        for (size_t i = 0; i < out.size(); ++i) where.emplace(out[i].first, i);
      }
      size_t same = out.size();
      if (where.empty()) {
        for (size_t i = 0; i < out.size() && same == out.size(); ++i) {
          if (out[i].first == *key) same = i;
        }
      } else if (auto it = where.find(*key); it != where.end()) {
        same = it->second;
      }
      if (same != out.size()) {
        out[same].second = std::move(item);  // a later member replaces (RFC 8941 §4.2.2)
      } else {
        if (!where.empty()) where.emplace(*key, out.size());
        out.emplace_back(std::move(*key), std::move(item));
      }
      SkipOws();
      if (Done()) return out;
      if (Peek() != ',') return std::nullopt;
      ++i_;
      SkipOws();
      if (Done()) return std::nullopt;  // a trailing comma
    }
    return out;
  }

 private:
  bool Done() const { return i_ >= s_.size(); }
  char Peek() const { return Done() ? '\0' : s_[i_]; }
  void SkipSp() {
    while (Peek() == ' ') ++i_;
  }
  void SkipOws() {
    while (Peek() == ' ' || Peek() == '\t') ++i_;
  }

  std::optional<std::string> Key() {
    if (!IsLcAlpha(Peek()) && Peek() != '*') return std::nullopt;
    const size_t start = i_;
    while (IsLcAlpha(Peek()) || IsDigit(Peek()) || Peek() == '_' || Peek() == '-' ||
           Peek() == '.' || Peek() == '*') {
      ++i_;
    }
    return std::string(s_.substr(start, i_ - start));
  }

  bool Parameters() {
    while (Peek() == ';') {
      ++i_;
      SkipSp();
      if (!Key()) return false;
      if (Peek() == '=') {
        ++i_;
        if (!BareItem()) return false;
      }
    }
    return true;
  }

  std::optional<Item> ItemOrInnerList() {
    if (Peek() != '(') {
      auto item = BareItem();
      if (!item || !Parameters()) return std::nullopt;
      return item;
    }
    ++i_;
    Item list;
    list.type = Item::kInnerList;
    for (;;) {
      SkipSp();
      if (Peek() == ')') {
        ++i_;
        if (!Parameters()) return std::nullopt;
        return list;
      }
      auto member = BareItem();
      if (!member || !Parameters()) return std::nullopt;
      list.members.push_back(std::move(*member));
      if (Peek() != ' ' && Peek() != ')') return std::nullopt;
    }
  }

  std::optional<Item> BareItem() {
    const char c = Peek();
    if (c == '-' || IsDigit(c)) return Number();
    if (c == '"') return String();
    if (c == '*' || IsAlpha(c)) return Token();
    if (c == ':') return ByteSequence();
    if (c == '?') return Boolean();
    return std::nullopt;
  }

  std::optional<Item> Number() {
    Item item;
    item.type = Item::kInteger;
    const size_t start = i_;
    if (Peek() == '-') ++i_;
    if (!IsDigit(Peek())) return std::nullopt;
    size_t digits = 0, dot = std::string_view::npos;
    while (IsDigit(Peek()) || (Peek() == '.' && dot == std::string_view::npos)) {
      if (Peek() == '.') {
        if (digits > 12) return std::nullopt;
        dot = i_;
        item.type = Item::kDecimal;
      } else {
        ++digits;
      }
      ++i_;
      if (item.type == Item::kInteger && digits > 15) return std::nullopt;
      if (item.type == Item::kDecimal && digits > 15) return std::nullopt;
    }
    if (item.type == Item::kDecimal) {
      const size_t fraction = i_ - dot - 1;
      if (fraction == 0 || fraction > 3) return std::nullopt;
    }
    item.value = std::string(s_.substr(start, i_ - start));
    return item;
  }

  std::optional<Item> String() {
    Item item;
    item.type = Item::kString;
    ++i_;  // opening quote
    while (!Done()) {
      const char c = s_[i_++];
      if (c == '\\') {
        if (Done() || (Peek() != '"' && Peek() != '\\')) return std::nullopt;
        item.value.push_back(s_[i_++]);
      } else if (c == '"') {
        return item;
      } else if (c < 0x20 || c > 0x7e) {
        return std::nullopt;
      } else {
        item.value.push_back(c);
      }
    }
    return std::nullopt;  // unterminated
  }

  std::optional<Item> Token() {
    Item item;
    item.type = Item::kToken;
    const size_t start = i_++;
    while (util::IsTchar(Peek()) || Peek() == ':' || Peek() == '/') ++i_;
    item.value = std::string(s_.substr(start, i_ - start));
    return item;
  }

  std::optional<Item> ByteSequence() {
    Item item;
    item.type = Item::kByteSequence;
    const size_t start = ++i_;
    while (IsBase64(Peek())) ++i_;
    if (Peek() != ':') return std::nullopt;
    item.value = std::string(s_.substr(start, i_ - start));
    ++i_;
    return item;
  }

  std::optional<Item> Boolean() {
    ++i_;
    if (Peek() != '0' && Peek() != '1') return std::nullopt;
    Item item;
    item.type = Item::kBoolean;
    item.value = std::string(1, s_[i_++]);
    return item;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::optional<std::vector<std::pair<std::string, Item>>> ParseDictionary(std::string_view text) {
  Parser p(text);
  auto dict = p.Dictionary();
  return dict;
}

}  // namespace edgecache::policy::sf
