// Authentication, users, projects, roles and visibility over HTTP (API.md §3).
#include <catch2/catch.hpp>
#include <thread>

#include "common/files.hpp"
#include "common/ids.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth::e2e;

namespace {

void checkCode(const Reply& reply, int status, const std::string& code) {
  INFO(reply.text);
  CHECK(reply.status == status);
  CHECK(reply.code() == code);
}

}  // namespace

TEST_CASE("tokens: missing, malformed, other schemes, alg none, revoked and expired") {
  Service service({.configYaml = "token_lifetime_s: 1\n"});
  const std::string path = "/api/v1/containers";
  checkCode(service.call("GET", path), 401, "MISSING_TOKEN");
  checkCode(service.call("GET", path, "", std::nullopt, {{"Authorization", "Bearer "}}), 401, "MISSING_TOKEN");
  checkCode(service.call("GET", path, "", std::nullopt, {{"Authorization", "Basic YWRtaW46eA=="}}), 401, "INVALID_TOKEN");
  checkCode(service.get(path, "not.a.jwt"), 401, "INVALID_TOKEN");
  checkCode(service.get(path, "garbage"), 401, "INVALID_TOKEN");
  // {"alg":"none"} with a valid-looking payload and no signature.
  checkCode(service.get(path, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1NjcifQ."), 401,
            "INVALID_TOKEN");
  // A token of this service with its signature changed.
  std::string token = service.adminToken();
  std::string tampered = token.substr(0, token.size() - 2) + (token.substr(token.size() - 2) == "AA" ? "BB" : "AA");
  checkCode(service.get(path, tampered), 401, "INVALID_TOKEN");

  // The lifetime is one second here.
  std::string fresh = service.login("admin", service.adminPassword());
  CHECK(service.get(path, fresh).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  checkCode(service.get(path, fresh), 401, "TOKEN_EXPIRED");
}

TEST_CASE("login and logout") {
  Service service;
  TestUser ann = service.createUser("ann");
  Reply login = service.post("/api/v1/auth/login", "", Json{{"username", "ann"}, {"password", ann.password}}.dump());
  REQUIRE(login.status == 200);
  CHECK(login.message() == "Login successful");
  CHECK(login.data()["user"]["username"] == "ann");
  CHECK(login.data()["user"]["role"] == "user");
  CHECK_FALSE(login.data()["user"].contains("password"));
  CHECK(login.data()["expires_at"].is_string());

  checkCode(service.post("/api/v1/auth/login", "", Json{{"username", "ann"}, {"password", "wrong-password"}}.dump()), 401,
            "INVALID_CREDENTIALS");
  checkCode(service.post("/api/v1/auth/login", "", Json{{"username", "nobody"}, {"password", "whatever1"}}.dump()), 401,
            "INVALID_CREDENTIALS");
  checkCode(service.post("/api/v1/auth/login", "", R"({"username":"ann"})"), 400, "VALIDATION_ERROR");

  std::string token = login.data()["token"];
  CHECK(service.post("/api/v1/auth/logout", token).status == 200);
  checkCode(service.get("/api/v1/users/me", token), 401, "INVALID_TOKEN");
  CHECK(service.get("/api/v1/users/me", ann.token).status == 200);  // other sessions live on
}

TEST_CASE("users: admin only, except /users/me") {
  Service service;
  const std::string& admin = service.adminToken();
  TestUser ann = service.createUser("ann");

  Reply me = service.get("/api/v1/users/me", ann.token);
  REQUIRE(me.status == 200);
  CHECK(me.data() == Json{{"id", ann.id}, {"username", "ann"}, {"role", "user"}, {"banned", false},
                          {"guest_expires_at", nullptr}, {"created_at", me.data()["created_at"]}});

  checkCode(service.get("/api/v1/users", ann.token), 403, "INSUFFICIENT_PERMISSIONS");
  checkCode(service.post("/api/v1/users", ann.token, R"({"username":"eve","password":"password1"})"), 403,
            "INSUFFICIENT_PERMISSIONS");
  checkCode(service.patch("/api/v1/users/" + ann.id, ann.token, R"({"role":"admin"})"), 403, "INSUFFICIENT_PERMISSIONS");
  checkCode(service.del("/api/v1/users/" + service.adminId(), ann.token), 403, "INSUFFICIENT_PERMISSIONS");

  Reply list = service.get("/api/v1/users", admin);
  REQUIRE(list.status == 200);
  CHECK(list.data()["users"].size() == 2);

  checkCode(service.post("/api/v1/users", admin, R"({"username":"ann","password":"password1"})"), 409, "NAME_CONFLICT");
  checkCode(service.post("/api/v1/users", admin, R"({"username":"bad name","password":"password1"})"), 400,
            "VALIDATION_ERROR");
  checkCode(service.post("/api/v1/users", admin, R"({"username":"short","password":"x"})"), 400, "VALIDATION_ERROR");
  checkCode(service.get("/api/v1/users/0123456789abcdef01234567", admin), 404, "USER_NOT_FOUND");
  checkCode(service.get("/api/v1/users/ANN", admin), 400, "INVALID_ID_FORMAT");

  Reply promoted = service.patch("/api/v1/users/" + ann.id, admin, R"({"role":"admin"})");
  REQUIRE(promoted.status == 200);
  CHECK(promoted.data()["role"] == "admin");
  CHECK(service.get("/api/v1/users", ann.token).status == 200);

  Reply removed = service.del("/api/v1/users/" + ann.id, admin);
  REQUIRE(removed.status == 200);
  CHECK(removed.data()["username"] == "ann");
  checkCode(service.get("/api/v1/users/me", ann.token), 401, "INVALID_TOKEN");
}

TEST_CASE("a banned user gets ACCOUNT_BANNED on every call, login included") {
  Service service;
  TestUser bob = service.createUser("bob");
  std::string id = service.createContainer(bob.token, {{"name", "b"}, {"autostart", false}})["id"];
  REQUIRE(service.patch("/api/v1/users/" + bob.id, service.adminToken(), R"({"banned":true})").status == 200);
  checkCode(service.get("/api/v1/users/me", bob.token), 403, "ACCOUNT_BANNED");
  checkCode(service.get(containerPath(id), bob.token), 403, "ACCOUNT_BANNED");
  checkCode(service.post(containerPath(id) + "/start", bob.token), 403, "ACCOUNT_BANNED");
  checkCode(service.post("/api/v1/auth/login", "", Json{{"username", "bob"}, {"password", bob.password}}.dump()), 403,
            "ACCOUNT_BANNED");
  REQUIRE(service.patch("/api/v1/users/" + bob.id, service.adminToken(), R"({"banned":false})").status == 200);
  CHECK(service.get(containerPath(id), bob.token).status == 200);
}

TEST_CASE("a guest past guest_expires_at may read but not change anything") {
  Service service;
  const std::string& admin = service.adminToken();
  TestUser guest = service.createUser("visitor", "guest");
  std::string id = service.createContainer(guest.token, {{"name", "g"}, {"autostart", false}})["id"];
  REQUIRE(service.patch("/api/v1/users/" + guest.id, admin, R"({"guest_expires_at":"2001-01-01T00:00:00.000Z"})").status == 200);

  CHECK(service.get(containerPath(id), guest.token).status == 200);
  CHECK(service.get("/api/v1/containers", guest.token).status == 200);
  for (const Reply& reply : {service.post(containerPath(id) + "/start", guest.token),
                             service.patch(containerPath(id), guest.token, R"({"autostart":true})"),
                             service.del(containerPath(id), guest.token),
                             service.post("/api/v1/containers", guest.token, R"({"name":"g2"})"),
                             service.post("/api/v1/projects", guest.token, R"({"name":"gp"})")}) {
    checkCode(reply, 403, "INSUFFICIENT_PERMISSIONS");
    CHECK(reply.message() == "guest session expired");
  }
  CHECK(service.getContainer(id, admin)["status"] == "stopped");
}

TEST_CASE("roles: outsiders see nothing, viewers read, operators operate, owners change; admins do all") {
  Service service;
  const std::string& admin = service.adminToken();
  TestUser owner = service.createUser("owner");
  TestUser other = service.createUser("other");
  std::string id = service.createContainer(owner.token, {{"name", "app"}, {"command", kTermInit}, {"autostart", false}})["id"];
  std::string path = containerPath(id);
  std::string members = "/api/v1/projects/" + owner.personalProjectId + "/members";

  // An outsider: the container does not exist for it, whatever it tries.
  checkCode(service.get(path, other.token), 404, "CONTAINER_NOT_FOUND");
  checkCode(service.post(path + "/start", other.token), 404, "CONTAINER_NOT_FOUND");
  checkCode(service.patch(path, other.token, R"({"name":"x"})"), 404, "CONTAINER_NOT_FOUND");
  checkCode(service.del(path, other.token), 404, "CONTAINER_NOT_FOUND");
  checkCode(service.get(path + "/status-logs", other.token), 404, "CONTAINER_NOT_FOUND");
  CHECK(service.get("/api/v1/containers", other.token).data()["pagination"]["total"] == 0);
  checkCode(service.get("/api/v1/containers?project_id=" + owner.personalProjectId, other.token), 404, "PROJECT_NOT_FOUND");
  checkCode(service.get("/api/v1/projects/" + owner.personalProjectId + "/containers", other.token), 404, "PROJECT_NOT_FOUND");
  checkCode(service.post("/api/v1/containers", other.token, Json{{"name", "in"}, {"project_id", owner.personalProjectId}}.dump()),
            404, "PROJECT_NOT_FOUND");
  // Check order: a malformed id is 400 before visibility; a missing token 401 before that.
  checkCode(service.get(containerPath("XYZ"), other.token), 400, "INVALID_ID_FORMAT");
  checkCode(service.get(containerPath("XYZ"), ""), 401, "MISSING_TOKEN");

  auto grant = [&](const std::string& role) {
    Reply added = service.post(members, owner.token, Json{{"user_id", other.id}, {"role", role}}.dump());
    INFO(added.text);
    REQUIRE(added.status == 201);
    CHECK(added.data() == Json{{"project_id", owner.personalProjectId}, {"user_id", other.id}, {"role", role}});
  };

  grant("viewer");
  CHECK(service.get(path, other.token).status == 200);
  CHECK(service.get(path + "/status-logs", other.token).status == 200);
  CHECK(service.get("/api/v1/containers", other.token).data()["pagination"]["total"] == 1);
  checkCode(service.post(path + "/start", other.token), 403, "INSUFFICIENT_PERMISSIONS");
  checkCode(service.patch(path, other.token, R"({"name":"x"})"), 403, "INSUFFICIENT_PERMISSIONS");
  checkCode(service.del(path, other.token), 403, "INSUFFICIENT_PERMISSIONS");
  checkCode(service.post("/api/v1/containers", other.token, Json{{"name", "in"}, {"project_id", owner.personalProjectId}}.dump()),
            403, "INSUFFICIENT_PERMISSIONS");
  checkCode(service.post(members, other.token, Json{{"user_id", other.id}, {"role", "owner"}}.dump()), 403,
            "INSUFFICIENT_PERMISSIONS");

  grant("operator");
  service.operate(other.token, id, "start");
  service.operate(other.token, id, "pause");
  service.operate(other.token, id, "resume");
  service.operate(other.token, id, "restart");
  checkCode(service.patch(path, other.token, R"({"name":"x"})"), 403, "INSUFFICIENT_PERMISSIONS");
  checkCode(service.del(path + "?force=true", other.token), 403, "INSUFFICIENT_PERMISSIONS");

  grant("owner");
  CHECK(service.patch(path, other.token, R"({"name":"renamed"})").status == 200);
  CHECK(service.createContainer(other.token, {{"name", "second"}, {"project_id", owner.personalProjectId}, {"autostart", false}})
            ["project_id"] == owner.personalProjectId);

  // Removing the membership hides the project again.
  CHECK(service.del(members + "/" + other.id, owner.token).status == 200);
  checkCode(service.get(path, other.token), 404, "CONTAINER_NOT_FOUND");

  // Admins see and do everything.
  CHECK(service.get(path, admin).status == 200);
  service.operate(admin, id, "stop");
  CHECK(service.get("/api/v1/containers", admin).data()["pagination"]["total"] == 2);
}

TEST_CASE("projects and memberships") {
  Service service;
  TestUser ann = service.createUser("ann");
  TestUser bob = service.createUser("bob");
  Reply created = service.post("/api/v1/projects", ann.token, R"({"name":"team-a"})");
  REQUIRE(created.status == 201);
  CHECK(created.message() == "Project created successfully");
  CHECK(created.data()["name"] == "team-a");
  CHECK(created.data()["owner_id"] == ann.id);
  std::string project = created.data()["id"];

  Reply annProjects = service.get("/api/v1/projects", ann.token);
  CHECK(annProjects.data()["projects"].size() == 2);  // personal + team-a
  CHECK(service.get("/api/v1/projects", bob.token).data()["projects"].size() == 1);
  CHECK(service.get("/api/v1/projects/" + project, ann.token).status == 200);
  checkCode(service.get("/api/v1/projects/" + project, bob.token), 404, "PROJECT_NOT_FOUND");

  std::string members = "/api/v1/projects/" + project + "/members";
  checkCode(service.post(members, bob.token, Json{{"user_id", bob.id}, {"role", "owner"}}.dump()), 404, "PROJECT_NOT_FOUND");
  checkCode(service.post(members, ann.token, Json{{"user_id", "0123456789abcdef01234567"}, {"role", "viewer"}}.dump()), 404,
            "USER_NOT_FOUND");
  checkCode(service.post(members, ann.token, Json{{"user_id", "bob"}, {"role", "viewer"}}.dump()), 400, "INVALID_ID_FORMAT");
  checkCode(service.post(members, ann.token, Json{{"user_id", bob.id}, {"role", "boss"}}.dump()), 400, "VALIDATION_ERROR");
  REQUIRE(service.post(members, ann.token, Json{{"user_id", bob.id}, {"role", "viewer"}}.dump()).status == 201);
  CHECK(service.get("/api/v1/projects", bob.token).data()["projects"].size() == 2);
  checkCode(service.del(members + "/not-an-id", ann.token), 400, "INVALID_ID_FORMAT");
  CHECK(service.del(members + "/" + bob.id, ann.token).status == 200);
  checkCode(service.del(members + "/" + bob.id, ann.token), 404, "USER_NOT_FOUND");
  checkCode(service.post("/api/v1/projects", ann.token, R"({"name":"bad name!"})"), 400, "VALIDATION_ERROR");
}

TEST_CASE("status logs of a deleted container: 200 for its owners and admins, 404 for others and for GET") {
  Service service;
  TestUser owner = service.createUser("owner");
  TestUser viewer = service.createUser("viewer");
  REQUIRE(service.post("/api/v1/projects/" + owner.personalProjectId + "/members", owner.token,
                       Json{{"user_id", viewer.id}, {"role", "viewer"}}.dump())
              .status == 201);
  std::string id = service.createContainer(owner.token, {{"name", "gone"}, {"autostart", false}})["id"];
  REQUIRE(service.del(containerPath(id), owner.token).status == 200);

  checkCode(service.get(containerPath(id), owner.token), 404, "CONTAINER_NOT_FOUND");
  Reply ownerLogs = service.get(containerPath(id) + "/status-logs", owner.token);
  REQUIRE(ownerLogs.status == 200);
  CHECK(ownerLogs.data()["logs"][0]["to_status"] == "deleted");
  CHECK(service.get(containerPath(id) + "/status-logs", service.adminToken()).status == 200);
  checkCode(service.get(containerPath(id) + "/status-logs", viewer.token), 404, "CONTAINER_NOT_FOUND");
  // Nothing else reaches a deleted container.
  checkCode(service.post(containerPath(id) + "/start", owner.token), 404, "CONTAINER_NOT_FOUND");
  checkCode(service.patch(containerPath(id), owner.token, R"({"name":"back"})"), 404, "CONTAINER_NOT_FOUND");
}

TEST_CASE("repeated failed logins for one username answer 429 for a while, known or not") {
  Service service;
  for (const std::string name : {"admin", "nobody-here"}) {
    for (int i = 0; i < 5; ++i) {
      Reply wrong = service.post("/api/v1/auth/login", "", Json{{"username", name}, {"password", "wrong-password"}}.dump());
      CHECK(wrong.code() == "INVALID_CREDENTIALS");
    }
    Reply limited = service.post("/api/v1/auth/login", "", Json{{"username", name}, {"password", "wrong-password"}}.dump());
    CHECK(limited.status == 429);
    CHECK(limited.code() == "RATE_LIMITED");
    CHECK(limited.body["error"] == "Too Many Requests");
    CHECK(std::stoi(limited.headers["Retry-After"]) > 0);
  }
  // Even the right password waits: the lockout is per username, not per guess.
  Reply right = service.post("/api/v1/auth/login", "", Json{{"username", "admin"}, {"password", service.adminPassword()}}.dump());
  CHECK(right.status == 429);
  // Tokens already issued keep working.
  CHECK(service.get("/api/v1/users/me", service.adminToken()).status == 200);
}

TEST_CASE("no password, token or signing secret reaches the log or an error body") {
  Service service;
  const std::string wrongPassword = "Wr0ng-Secret-Passw0rd";
  const std::string userPassword = "User-Secret-Passw0rd";
  const std::string bogusToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA";
  std::vector<Reply> replies;
  replies.push_back(service.post("/api/v1/auth/login", "", Json{{"username", "admin"}, {"password", wrongPassword}}.dump()));
  replies.push_back(service.get("/api/v1/containers?token=" + bogusToken, bogusToken));
  replies.push_back(service.post("/api/v1/users", service.adminToken(),
                                 Json{{"username", "secretive"}, {"password", userPassword}, {"role", "user"}}.dump()));
  replies.push_back(service.post("/api/v1/users", service.adminToken(),
                                 Json{{"username", "bad name!"}, {"password", userPassword}}.dump()));
  std::string token = service.login("secretive", userPassword);
  replies.push_back(service.get("/api/v1/users/me", token));
  replies.push_back(service.post("/api/v1/auth/logout", token));

  auto secret = berth::readFile(service.dataDir() + "/jwt.secret");
  REQUIRE(secret);
  std::string log = service.logText();
  CHECK_FALSE(log.empty());  // it did log the requests
  for (const std::string& hidden : std::vector<std::string>{wrongPassword, userPassword, bogusToken, token, service.adminToken(),
                                    service.adminPassword(), berth::toHex(secret->data(), secret->size())}) {
    INFO(hidden);
    CHECK(log.find(hidden) == std::string::npos);
    for (const auto& reply : replies) CHECK(reply.text.find(hidden) == std::string::npos);
  }
  CHECK(log.find(*secret) == std::string::npos);
}
