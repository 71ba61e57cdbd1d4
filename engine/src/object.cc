#include "edgecache/object.h"

#include <algorithm>
#include <cctype>

namespace edgecache {

std::string SecondaryKeyFor(const std::vector<std::string>& vary_names,
                            const HeaderGetter& request_header) {
  std::vector<std::string> names;
  names.reserve(vary_names.size());
  for (const auto& n : vary_names) {
    std::string lower(n);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    names.push_back(std::move(lower));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  std::string key;
  for (const auto& name : names) {
    std::string_view value;
    if (auto v = request_header(name)) value = *v;
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!key.empty()) key.push_back('\n');
    key += name;
    key.push_back('=');
    // A '\0' would end the key in the index: the only byte a header value cannot keep.
    for (char c : value) key.push_back(c == '\0' ? ' ' : c);
  }
  return key;
}

}  // namespace edgecache
