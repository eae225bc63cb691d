#pragma once
// The OpenAPI 3.1 description of the HTTP API (api/openapi.yaml, compiled in):
// served at GET /api/v1/openapi.json, printed by `berthd --openapi`.
#include <nlohmann/json.hpp>

namespace berth::api {

// The document as JSON, read once from the embedded YAML.
const nlohmann::ordered_json& openapiDocument();

}  // namespace berth::api
