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

// "Bad Request" for 400; the envelope's `error` field.
std::string_view reasonPhrase(int status);

// Shorthands for the errors the HTTP layer itself raises.
tl::unexpected<Error> invalidIdFormat(std::string_view field);
tl::unexpected<Error> validationError(std::string message);

}  // namespace berth::api
