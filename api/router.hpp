#pragma once
// Matching of a request against a route table (LXD's APIEndpoint idea: the
// routes are data; see v1_routes.cpp). A pattern is "/api/v1/containers/{id}":
// literal segments and {name} placeholders, each matching one non-empty
// segment. Routes are tried in table order; the first whose pattern and
// method match wins, so a literal route listed first shadows a placeholder.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::api {

class PathParams {
 public:
  void set(std::string_view name, std::string_view value) { values_.emplace_back(name, value); }
  // The value of a placeholder of the matched pattern ("" if the pattern has none of that name).
  std::string get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& all() const { return values_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// A single trailing slash is ignored ("/api/v1/containers/" is the list).
std::optional<PathParams> matchPath(std::string_view pattern, std::string_view path);

template <typename Route>
struct RouteLookup {
  const Route* route = nullptr;      // null: no route for this method (see pathKnown)
  PathParams params;
  bool pathKnown = false;            // some route has this path, with another method: 405
  std::vector<std::string> allowed;  // the methods that path has, for the Allow header
};

// Route needs `method` and `pattern` members convertible to std::string_view.
template <typename Route>
RouteLookup<Route> findRoute(const std::vector<Route>& routes, std::string_view method, std::string_view path) {
  RouteLookup<Route> lookup;
  for (const Route& route : routes) {
    auto params = matchPath(route.pattern, path);
    if (!params) continue;
    if (route.method == method && !lookup.route) {
      lookup.route = &route;
      lookup.params = std::move(*params);
    }
    lookup.pathKnown = true;
    std::string allowed(route.method);
    bool listed = false;
    for (const auto& existing : lookup.allowed) listed = listed || existing == allowed;
    if (!listed) lookup.allowed.push_back(std::move(allowed));
  }
  return lookup;
}

}  // namespace berth::api
