#pragma once
// The /api/v1 envelope of API.md §2:
//   {"statusCode", "message", "data"} on success,
//   {"statusCode", "error", "code", "message", "data"?} on failure.
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/errors.hpp"
#include "api/http_types.hpp"

namespace berth::api {

using Json = nlohmann::ordered_json;

HttpResponse successResponse(int status, std::string_view message, Json data);
// `data` is left out when null.
HttpResponse errorResponse(const WireError& error, Json data = nullptr);
HttpResponse errorResponse(const Error& error, Json data = nullptr);
// A dialect's error: {"error": text} with its status (API.md §7).
HttpResponse dialectErrorResponse(const Error& error, Dialect dialect);

// Serializes without ever throwing: bytes that are not UTF-8 (a process
// command line read from /proc, say) are replaced, not a 500.
std::string dumpJson(const Json& value);

}  // namespace berth::api
