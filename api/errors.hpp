#pragma once
// The one table that maps an Error (category + Detail) to an HTTP status and
// an envelope code (API.md §2). Nothing else in berth knows HTTP codes.
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace berth::api {

struct WireError {
  int status = 500;
  std::string code;     // "VALIDATION_ERROR"
  std::string message;  // safe to show the client: never an internal detail
};

WireError toWireError(const Error& error);

// The compatibility dialects of API.md §7: their own error shape
// (`{"error": text}`) and status codes, one table each.
enum class Dialect {
  v1,
  containers,    // seeds 001/004: /api/containers/{ref} without ?env=
  environments,  // seed 003: /api/containers/{ref}/{operation}?env=
};
// `status` and `message` as the dialect answers; `code` is unused.
WireError toDialectError(const Error& error, Dialect dialect);

// "Bad Request" for 400; the envelope's `error` field.
std::string_view reasonPhrase(int status);

// Shorthands for the errors the HTTP layer itself raises.
tl::unexpected<Error> invalidIdFormat(std::string_view field);
tl::unexpected<Error> validationError(std::string message);

}  // namespace berth::api
