#pragma once
// The one table that maps an Error (category + detail) to an HTTP status and
// an envelope code (API.md §2). Nothing else in berth knows HTTP codes.
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace berth::api {

// Details the HTTP layer adds inside existing categories (runtime/accounts.hpp
// defines the ones Accounts returns).
namespace api_detail {
inline constexpr std::string_view invalidIdFormat = "invalid_id_format";      // invalid_argument
inline constexpr std::string_view methodNotAllowed = "method_not_allowed";    // invalid_argument
inline constexpr std::string_view payloadTooLarge = "payload_too_large";      // invalid_argument
inline constexpr std::string_view routeNotFound = "route_not_found";          // not_found
inline constexpr std::string_view imageNotFound = "image_not_found";          // not_found
inline constexpr std::string_view containerExpired = "container_expired";     // permission_denied
}  // namespace api_detail

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
