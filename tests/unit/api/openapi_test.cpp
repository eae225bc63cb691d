// api/openapi.yaml against the code: every route of the table is described
// and every described operation is a route; the container object's schema
// has exactly containerJson()'s fields. (The ctest openapi_lint validates
// the document itself with a real OpenAPI validator.)
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "api/json_shapes.hpp"
#include "api/openapi.hpp"
#include "api/routes.hpp"

using namespace berth;
using namespace berth::api;

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::set<std::string> keysOf(const nlohmann::ordered_json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

}  // namespace

TEST_CASE("openapi: the document parses and is OpenAPI 3.1") {
  const auto& document = openapiDocument();
  INFO(document.dump().substr(0, 300));
  REQUIRE(document.is_object());
  CHECK_FALSE(document.contains("error"));
  CHECK(document.value("openapi", "") == "3.1.0");
  CHECK(document["paths"].is_object());
  // Quoted scalars stay strings, plain ones become numbers and booleans.
  CHECK(document["paths"]["/healthz"]["get"]["responses"].contains("200"));
  CHECK(document["components"]["parameters"]["Limit"]["schema"]["maximum"] == 100);
  CHECK(document["components"]["parameters"]["Id"]["required"] == true);
}

TEST_CASE("openapi: every route is described, and every described operation is a route") {
  const auto& paths = openapiDocument().at("paths");
  std::set<std::string> routes;
  for (const Route& route : apiRoutes()) {
    std::string key = lower(route.method) + " " + std::string(route.pattern);
    routes.insert(key);
    INFO(key);
    CHECK(paths.contains(std::string(route.pattern)));
    if (paths.contains(std::string(route.pattern))) CHECK(paths[std::string(route.pattern)].contains(lower(route.method)));
  }
  static const std::set<std::string> kMethods = {"get", "put", "post", "patch", "delete", "head", "options", "trace"};
  for (const auto& [path, item] : paths.items()) {
    for (const auto& [method, operation] : item.items()) {
      if (!kMethods.count(method)) continue;
      INFO(method + " " + path);
      CHECK(routes.count(method + " " + path) == 1);
      // Every operation has a summary and an id (clients name their calls by it).
      CHECK(operation.contains("summary"));
      CHECK(operation.contains("operationId"));
    }
  }
}

TEST_CASE("openapi: the Container schema has exactly the container object's fields") {
  store::ContainerRecord record;
  record.id = "507f1f77bcf86cd799439011";
  record.runtimeId = "abcdefabcdef";
  record.name = "web";
  record.createdAt = 1736937000000;
  record.updatedAt = 1736937000000;
  std::set<std::string> fields = keysOf(containerJson(record));
  // Added by PATCH (restarted) and GET ?runtime=true (runtime_info).
  fields.insert("restarted");
  fields.insert("runtime_info");
  const auto& schemas = openapiDocument().at("components").at("schemas");
  CHECK(keysOf(schemas.at("Container").at("properties")) == fields);
  CHECK(keysOf(schemas.at("RuntimeInfo").at("properties")) == keysOf(runtimeInfoJson(runtime::RuntimeInfo{})));
  CHECK(keysOf(schemas.at("Resources").at("properties")) == keysOf(containerJson(record).at("resources")));
}
