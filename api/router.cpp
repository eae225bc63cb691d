#include "api/router.hpp"

namespace berth::api {

std::string PathParams::get(std::string_view name) const {
  for (const auto& [key, value] : values_)
    if (key == name) return value;
  return {};
}

std::optional<PathParams> matchPath(std::string_view pattern, std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  PathParams params;
  size_t p = 0;
  size_t q = 0;
  while (p < pattern.size() && q < path.size()) {
    if (pattern[p] != '/' || path[q] != '/') return std::nullopt;
    ++p;
    ++q;
    size_t patternEnd = pattern.find('/', p);
    size_t pathEnd = path.find('/', q);
    if (patternEnd == std::string_view::npos) patternEnd = pattern.size();
    if (pathEnd == std::string_view::npos) pathEnd = path.size();
    std::string_view expected = pattern.substr(p, patternEnd - p);
    std::string_view actual = path.substr(q, pathEnd - q);
    if (actual.empty()) return std::nullopt;
    if (expected.size() >= 2 && expected.front() == '{' && expected.back() == '}') {
      params.set(expected.substr(1, expected.size() - 2), actual);
    } else if (expected != actual) {
      return std::nullopt;
    }
    p = patternEnd;
    q = pathEnd;
  }
  if (p != pattern.size() || q != path.size()) return std::nullopt;
  return params;
}

}  // namespace berth::api
