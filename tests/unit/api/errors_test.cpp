// The Error -> HTTP mapping of API.md §2, row by row.
#include <catch2/catch.hpp>

#include "api/envelope.hpp"
#include "api/errors.hpp"

using namespace berth;
using namespace berth::api;

TEST_CASE("every category and detail maps to its status and code") {
  struct Row {
    Errc code;
    Detail detail;
    int status;
    const char* wireCode;
  };
  const Row rows[] = {
      {Errc::invalid_argument, Detail::none, 400, "VALIDATION_ERROR"},
      {Errc::invalid_argument, Detail::invalid_id_format, 400, "INVALID_ID_FORMAT"},
      {Errc::invalid_argument, Detail::method_not_allowed, 405, "METHOD_NOT_ALLOWED"},
      {Errc::invalid_argument, Detail::payload_too_large, 413, "PAYLOAD_TOO_LARGE"},
      {Errc::not_found, Detail::none, 404, "CONTAINER_NOT_FOUND"},
      {Errc::not_found, Detail::user_not_found, 404, "USER_NOT_FOUND"},
      {Errc::not_found, Detail::project_not_found, 404, "PROJECT_NOT_FOUND"},
      {Errc::not_found, Detail::image_not_found, 404, "IMAGE_NOT_FOUND"},
      {Errc::not_found, Detail::route_not_found, 404, "NOT_FOUND"},
      {Errc::already_exists, Detail::none, 409, "NAME_CONFLICT"},
      {Errc::state_conflict, Detail::none, 400, "OPERATION_STATE_CONFLICT"},
      {Errc::unauthenticated, Detail::missing_token, 401, "MISSING_TOKEN"},
      {Errc::unauthenticated, Detail::invalid_token, 401, "INVALID_TOKEN"},
      {Errc::unauthenticated, Detail::token_expired, 401, "TOKEN_EXPIRED"},
      {Errc::unauthenticated, Detail::invalid_credentials, 401, "INVALID_CREDENTIALS"},
      {Errc::unauthenticated, Detail::none, 401, "INVALID_TOKEN"},
      {Errc::permission_denied, Detail::none, 403, "INSUFFICIENT_PERMISSIONS"},
      {Errc::permission_denied, Detail::insufficient_permissions, 403, "INSUFFICIENT_PERMISSIONS"},
      {Errc::permission_denied, Detail::account_banned, 403, "ACCOUNT_BANNED"},
      {Errc::permission_denied, Detail::guest_expired, 403, "INSUFFICIENT_PERMISSIONS"},
      {Errc::permission_denied, Detail::container_expired, 403, "OPERATION_NOT_PERMITTED_ON_EXPIRED"},
      {Errc::container_config, Detail::none, 422, "START_FAILED"},
      {Errc::resource_exhausted, Detail::none, 422, "RESOURCE_LIMIT_EXCEEDED"},
      {Errc::host_refused, Detail::none, 503, "EXTERNAL_SERVICE_ERROR"},
      {Errc::deadline_exceeded, Detail::none, 503, "EXTERNAL_SERVICE_ERROR"},
      {Errc::internal, Detail::none, 500, "INTERNAL_SERVER_ERROR"},
  };
  for (const auto& row : rows) {
    INFO(errcName(row.code) << " / " << detailName(row.detail));
    WireError wire = toWireError(Error{row.code, 0, "some message", row.detail});
    CHECK(wire.status == row.status);
    CHECK(wire.code == row.wireCode);
  }
}

TEST_CASE("messages: fixed where details would leak, the guest text of API.md §3") {
  CHECK(toWireError(Error{Errc::internal, 0, "lmdb: MDB_CORRUPTED at /var/lib/berth/db", {}}).message ==
        "An unexpected error occurred");
  CHECK(toWireError(Error{Errc::not_found, 0, "container 507f... not found in project x", {}}).message ==
        "Container not found");
  CHECK(toWireError(Error{Errc::unauthenticated, 0, "jwt: bad signature", Detail::invalid_token})
            .message == "Invalid authentication token");
  CHECK(toWireError(Error{Errc::permission_denied, 0, "", Detail::guest_expired}).message ==
        "guest session expired");
  // What the host refused, and where, stays in the service's log: no host path reaches the client.
  CHECK(toWireError(Error{Errc::host_refused, EACCES, "writing /sys/fs/cgroup/unified/berth/x/memory.max", {}}).message ==
        "the host refused the operation: Permission denied");
  CHECK(toWireError(Error{Errc::deadline_exceeded, 0, "waiting for frozen 1 in /sys/fs/cgroup/x", {}}).message ==
        "the host did not finish the operation in time");
  CHECK(toWireError(Error{Errc::unavailable, 0, "1024 clients already follow logs; retry later", {}}).status == 503);
  CHECK(toWireError(Error{Errc::unavailable, 0, "1024 clients already follow logs; retry later", {}}).message ==
        "1024 clients already follow logs; retry later");
  CHECK(toWireError(Error{Errc::invalid_argument, 0, "limit must be between 1 and 100", {}}).message ==
        "limit must be between 1 and 100");
}

TEST_CASE("the error envelope carries statusCode, error, code, message and optional data") {
  auto plain = nlohmann::json::parse(errorResponse(WireError{404, "CONTAINER_NOT_FOUND", "Container not found"}).body);
  CHECK(plain == nlohmann::json{{"statusCode", 404},
                                {"error", "Not Found"},
                                {"code", "CONTAINER_NOT_FOUND"},
                                {"message", "Container not found"}});
  auto withData = errorResponse(Error{Errc::state_conflict, 0, "cannot start a container that is running", {}},
                                nlohmann::ordered_json{{"error", true}, {"status", "running"}});
  CHECK(withData.status == 400);
  auto body = nlohmann::json::parse(withData.body);
  CHECK(body["error"] == "Bad Request");
  CHECK(body["data"]["status"] == "running");

  auto success = nlohmann::json::parse(successResponse(201, "Container created successfully", {{"id", "x"}}).body);
  CHECK(success == nlohmann::json{{"statusCode", 201}, {"message", "Container created successfully"}, {"data", {{"id", "x"}}}});
}

TEST_CASE("reason phrases") {
  CHECK(reasonPhrase(400) == "Bad Request");
  CHECK(reasonPhrase(405) == "Method Not Allowed");
  CHECK(reasonPhrase(413) == "Payload Too Large");
  CHECK(reasonPhrase(422) == "Unprocessable Entity");
  CHECK(reasonPhrase(503) == "Service Unavailable");
}

TEST_CASE("dumpJson never throws on bytes that are not UTF-8") {
  nlohmann::ordered_json value{{"command", std::string("sleep \xff\xfe")}};
  std::string text;
  REQUIRE_NOTHROW(text = dumpJson(value));
  CHECK_THAT(text, Catch::Contains("sleep"));
}
