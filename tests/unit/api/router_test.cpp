#include <catch2/catch.hpp>

#include "api/router.hpp"

using namespace berth::api;

namespace {
struct TestRoute {
  std::string_view method;
  std::string_view pattern;
  int id;
};
}  // namespace

TEST_CASE("matchPath: literals, placeholders and segment boundaries") {
  auto params = matchPath("/api/v1/containers/{id}/{operation}", "/api/v1/containers/abc/start");
  REQUIRE(params);
  CHECK(params->get("id") == "abc");
  CHECK(params->get("operation") == "start");
  CHECK(params->get("missing").empty());

  CHECK(matchPath("/api/v1/containers", "/api/v1/containers"));
  CHECK(matchPath("/api/v1/containers", "/api/v1/containers/"));  // one trailing slash is ignored
  CHECK_FALSE(matchPath("/api/v1/containers", "/api/v1/containers//"));
  CHECK_FALSE(matchPath("/api/v1/containers", "/api/v1/container"));
  CHECK_FALSE(matchPath("/api/v1/containers", "/api/v1/containersx"));
  CHECK_FALSE(matchPath("/api/v1/containers/{id}", "/api/v1/containers"));
  CHECK_FALSE(matchPath("/api/v1/containers/{id}", "/api/v1/containers//"));
  CHECK_FALSE(matchPath("/api/v1/containers/{id}", "/api/v1/containers/a/b"));
  CHECK_FALSE(matchPath("/healthz", ""));
  CHECK_FALSE(matchPath("/healthz", "/"));
  CHECK_FALSE(matchPath("/healthz", "healthz"));
}

TEST_CASE("findRoute: first match wins, another method is 405 with the allowed list") {
  std::vector<TestRoute> routes = {
      {"GET", "/users/me", 1},
      {"GET", "/users/{id}", 2},
      {"PATCH", "/users/{id}", 3},
      {"POST", "/c/{id}/{operation}", 4},
      {"GET", "/c/{id}/status-logs", 5},
  };
  auto me = findRoute(routes, "GET", "/users/me");
  REQUIRE(me.route);
  CHECK(me.route->id == 1);
  auto other = findRoute(routes, "GET", "/users/42");
  REQUIRE(other.route);
  CHECK(other.route->id == 2);
  CHECK(other.params.get("id") == "42");

  auto wrongMethod = findRoute(routes, "DELETE", "/users/42");
  CHECK_FALSE(wrongMethod.route);
  CHECK(wrongMethod.pathKnown);
  CHECK(wrongMethod.allowed == std::vector<std::string>{"GET", "PATCH"});

  auto logs = findRoute(routes, "GET", "/c/1/status-logs");
  REQUIRE(logs.route);
  CHECK(logs.route->id == 5);
  auto operation = findRoute(routes, "POST", "/c/1/status-logs");  // an (unknown) operation
  REQUIRE(operation.route);
  CHECK(operation.route->id == 4);

  auto unknown = findRoute(routes, "GET", "/nothing");
  CHECK_FALSE(unknown.route);
  CHECK_FALSE(unknown.pathKnown);
}
