#include "api/openapi.hpp"

#include <cstdlib>
#include <regex>
#include <string>

#include <yaml-cpp/yaml.h>

namespace berth::api {

// The text of api/openapi.yaml (the generated openapi_text.cpp).
extern const char* const kOpenapiYaml;

namespace {

using Json = nlohmann::ordered_json;

// YAML's core schema for plain scalars; a quoted one (tag "!") is always a string.
Json scalarJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  if (text == "true") return true;
  if (text == "false") return false;
  if (text == "null" || text == "~" || text.empty()) return nullptr;
  static const std::regex integer(R"([-+]?[0-9]+)");
  static const std::regex real(R"([-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, integer)) return std::stoll(text);
  if (std::regex_match(text, real)) return std::strtod(text.c_str(), nullptr);
  return text;
}

Json toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& entry : node) object[entry.first.Scalar()] = toJson(entry.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const auto& item : node) array.push_back(toJson(item));
      return array;
    }
    case YAML::NodeType::Scalar: return scalarJson(node);
    default: return nullptr;
  }
}

}  // namespace

const Json& openapiDocument() {
  // A document that does not parse is served as an error object (and fails unit_api's openapi test).
  static const Json document = [] {
    try {
      return toJson(YAML::Load(kOpenapiYaml));
    } catch (const YAML::Exception& e) {
      return Json{{"error", std::string("api/openapi.yaml does not parse: ") + e.what()}};
    }
  }();
  return document;
}

}  // namespace berth::api
