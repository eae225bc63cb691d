// Request parsing and validation: table-driven, one row per rule.
#include <catch2/catch.hpp>

#include "api/errors.hpp"
#include "api/validation.hpp"

using namespace berth;
using namespace berth::api;

namespace {

constexpr UnixMillis kNow = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

struct Refusal {
  const char* body;
  const char* messagePart;  // the message must name the field
};

template <typename T>
void requireRefused(const Result<T>& result, const char* messagePart) {
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::invalid_argument);
  CHECK_THAT(result.error().message, Catch::Contains(messagePart));
}

}  // namespace

TEST_CASE("create body: the minimal body takes every default") {
  auto request = parseCreateContainerBody(R"({"name":"web-1"})", kNow);
  REQUIRE(request);
  CHECK(request->name == "web-1");
  CHECK(request->image == "busybox");
  CHECK(request->command.empty());
  CHECK(request->autostart);
  CHECK(request->projectId.empty());
  CHECK(request->networkMode == "none");
  CHECK(request->resources == store::Resources{});
  CHECK_FALSE(request->expiresAt);
}

TEST_CASE("create body: every field is read") {
  auto request = parseCreateContainerBody(R"({
    "name": "db", "image": "busybox", "command": ["/bin/sh", "-c", "sleep 1000"],
    "env": {"A": "1", "_b2": ""}, "working_dir": "/tmp", "hostname": "db.local",
    "project_id": "507f1f77bcf86cd799439011", "autostart": false,
    "resources": {"memory_mb": 256, "cpu_millicores": 500, "pids_max": 64, "disk_mb": null},
    "network": "none", "expires_at": "2030-01-01T00:00:00.000Z"})",
                                          kNow);
  REQUIRE(request);
  CHECK(request->command == std::vector<std::string>{"/bin/sh", "-c", "sleep 1000"});
  CHECK(request->env == std::map<std::string, std::string>{{"A", "1"}, {"_b2", ""}});
  CHECK(request->workingDir == "/tmp");
  CHECK(request->hostname == "db.local");
  CHECK(request->projectId == "507f1f77bcf86cd799439011");
  CHECK_FALSE(request->autostart);
  CHECK(request->resources.memoryMb == 256u);
  CHECK(request->resources.cpuMillicores == 500u);
  CHECK(request->resources.pidsMax == 64u);
  CHECK_FALSE(request->resources.diskMb);
  CHECK(request->expiresAt == 1893456000000);
}

TEST_CASE("create body: malformed, mistyped, unknown and out-of-range input is refused naming the field") {
  const Refusal cases[] = {
      {"", "JSON object"},
      {"   ", "JSON object"},
      {"[]", "JSON object"},
      {"\"name\"", "JSON object"},
      {"{", "malformed JSON"},
      {R"({"name":"a",})", "malformed JSON"},
      {R"({"name":"a"} trailing)", "malformed JSON"},
      {R"({"name":"a","name":"b"})", "duplicate field: name"},
      {R"({"name":"a","env":{"K":"1","K":"2"}})", "duplicate field: K"},
      {R"({})", "name is required"},
      {R"({"name":null})", "name must be a string"},
      {R"({"name":7})", "name must be a string"},
      {R"({"name":""})", "name must be 1-64"},
      {R"({"name":"has space"})", "name must be 1-64"},
      {R"({"name":"under_score"})", "name must be 1-64"},
      {R"({"name":"dots.x"})", "name must be 1-64"},
      {R"({"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})", "name must be"},
      {R"({"name":"a","bogus":1})", "unknown field: bogus"},
      {R"({"name":"a","Name":"b"})", "unknown field: Name"},
      {R"({"name":"a","image":""})", "image must not be empty"},
      {R"({"name":"a","image":3})", "image must be a string"},
      {R"({"name":"a","command":"sleep 1"})", "command must be an array"},
      {R"({"name":"a","command":[1]})", "command[0] must be a string"},
      {R"({"name":"a","command":["/bin/sh",null]})", "command[1] must be a string"},
      {R"({"name":"a","command":[""]})", "command[0] must not be empty"},
      {R"({"name":"a","command":["a\u0000b"]})", "command[0] must not contain NUL"},
      {R"({"name":"a","env":["A=1"]})", "env must be an object"},
      {R"({"name":"a","env":{"A":1}})", "env.A must be a string"},
      {R"({"name":"a","env":{"1A":"x"}})", "env key 1A"},
      {R"({"name":"a","env":{"A=B":"x"}})", "env key A=B"},
      {R"({"name":"a","env":{"":"x"}})", "env key"},
      {R"({"name":"a","working_dir":"tmp"})", "working_dir must be an absolute path"},
      {R"({"name":"a","working_dir":""})", "working_dir must be an absolute path"},
      {R"({"name":"a","working_dir":"/srv/../etc"})", "working_dir must not contain a .. component"},
      {R"({"name":"a","working_dir":"/.."})", "working_dir must not contain a .. component"},
      {R"({"name":"a","working_dir":"/a\u0000b"})", "working_dir must not contain NUL"},
      {R"({"name":"a","env":{"A":"x\u0000y"}})", "env.A must not contain NUL"},
      {R"({"name":"a","command":["/bin/sh","a\u0000b"]})", "NUL"},
      {R"({"name":"a","hostname":"-x"})", "hostname must be"},
      {R"({"name":"a","hostname":"a b"})", "hostname must be"},
      {R"({"name":"a","autostart":"true"})", "autostart must be true or false"},
      {R"({"name":"a","autostart":1})", "autostart must be true or false"},
      {R"({"name":"a","resources":[]})", "resources must be an object"},
      {R"({"name":"a","resources":{"memory":1}})", "unknown field: resources.memory"},
      {R"({"name":"a","resources":{"memory_mb":0}})", "resources.memory_mb must be an integer between 1"},
      {R"({"name":"a","resources":{"memory_mb":-5}})", "resources.memory_mb must be an integer between 1"},
      {R"({"name":"a","resources":{"memory_mb":1.5}})", "resources.memory_mb must be an integer"},
      {R"({"name":"a","resources":{"memory_mb":"64"}})", "resources.memory_mb must be an integer"},
      {R"({"name":"a","resources":{"memory_mb":1e300}})", "resources.memory_mb must be an integer between"},
      {R"({"name":"a","resources":{"memory_mb":99999999999999999999999}})", "resources.memory_mb"},
      {R"({"name":"a","resources":{"memory_mb":18446744073709551615}})", "resources.memory_mb"},
      {R"({"name":"a","resources":{"cpu_millicores":4294967296}})", "resources.cpu_millicores"},
      {R"({"name":"a","resources":{"pids_max":true}})", "resources.pids_max"},
      {R"({"name":"a","network":"host"})", "network must be"},
      {R"({"name":"a","ports":{}})", "ports must be an array"},
      {R"({"name":"a","ports":[80]})", "ports[0] must be an object"},
      {R"({"name":"a","ports":[{"host_port":8080}]})", "ports[0].container_port is required"},
      {R"({"name":"a","ports":[{"container_port":80}]})", "ports[0].host_port is required"},
      {R"({"name":"a","ports":[{"container_port":0,"host_port":8080}]})", "ports[0].container_port must be an integer between 1"},
      {R"({"name":"a","ports":[{"container_port":80,"host_port":65536}]})", "ports[0].host_port must be an integer between 1"},
      {R"({"name":"a","ports":[{"container_port":80,"host_port":8080,"protocol":6}]})", "ports[0].protocol must be a string"},
      {R"({"name":"a","ports":[{"container_port":80,"host_port":8080,"hostip":"1.2.3.4"}]})", "unknown field: ports[0].hostip"},
      {R"({"name":"a","expires_at":"tomorrow"})", "expires_at must be an ISO-8601"},
      {R"({"name":"a","expires_at":12345})", "expires_at must be a string"},
      {R"({"name":"a","expires_at":"2000-01-01T00:00:00.000Z"})", "expires_at must be in the future"},
      {R"({"name":"a","project_id":5})", "project_id must be a string"},
  };
  for (const auto& row : cases) {
    INFO("body: " << row.body);
    requireRefused(parseCreateContainerBody(row.body, kNow), row.messagePart);
  }
}

TEST_CASE("create body: a malformed project_id is INVALID_ID_FORMAT") {
  for (const char* body : {R"({"name":"a","project_id":"xyz"})", R"({"name":"a","project_id":"507F1F77BCF86CD799439011"})",
                           R"({"name":"a","project_id":"507f1f77bcf86cd79943901"})"}) {
    INFO(body);
    auto result = parseCreateContainerBody(body, kNow);
    REQUIRE_FALSE(result);
    CHECK(toWireError(result.error()).code == "INVALID_ID_FORMAT");
  }
}

TEST_CASE("a body over 1 MiB is PAYLOAD_TOO_LARGE") {
  std::string body = R"({"name":"a","env":{"A":")" + std::string(kMaxBodyBytes, 'x') + R"("}})";
  auto result = parseCreateContainerBody(body, kNow);
  REQUIRE_FALSE(result);
  CHECK(toWireError(result.error()).status == 413);
}

TEST_CASE("update body: fields, null clearing and resource patches") {
  auto update = parseUpdateContainerBody(
      R"({"name":"n2","autostart":false,"env":{"X":"y"},"command":["/bin/true"],"working_dir":"/",
          "resources":{"memory_mb":128,"cpu_millicores":null},"expires_at":null})",
      kNow);
  REQUIRE(update);
  CHECK(update->name == "n2");
  CHECK(update->autostart == false);
  CHECK(update->env == std::map<std::string, std::string>{{"X", "y"}});
  CHECK(update->command == std::vector<std::string>{"/bin/true"});
  CHECK(update->workingDir == "/");
  REQUIRE(update->expiresAt);
  CHECK_FALSE(*update->expiresAt);  // cleared
  REQUIRE(update->resources);
  store::Resources current;
  current.memoryMb = 64;
  current.cpuMillicores = 250;
  current.pidsMax = 10;
  store::Resources next = update->resources->applyTo(current);
  CHECK(next.memoryMb == 128u);
  CHECK_FALSE(next.cpuMillicores);
  CHECK(next.pidsMax == 10u);
}

TEST_CASE("update body: an empty object changes nothing; fixed fields are refused") {
  auto empty = parseUpdateContainerBody("{}", kNow);
  REQUIRE(empty);
  CHECK_FALSE(empty->name);
  CHECK_FALSE(empty->resources);
  for (const char* field : {"image", "hostname", "project_id", "network"}) {
    std::string body = std::string("{\"") + field + "\":\"x\"}";
    auto result = parseUpdateContainerBody(body, kNow);
    REQUIRE_FALSE(result);
    CHECK_THAT(result.error().message, Catch::Contains(std::string(field) + " cannot be changed"));
  }
  auto unknown = parseUpdateContainerBody(R"({"status":"running"})", kNow);
  REQUIRE_FALSE(unknown);
  CHECK_THAT(unknown.error().message, Catch::Contains("unknown field: status"));
}

TEST_CASE("list query: defaults, bounds and strictness") {
  auto defaults = parseContainerListQuery({}, true);
  REQUIRE(defaults);
  CHECK(defaults->page.page == 1);
  CHECK(defaults->page.limit == 10);

  auto full = parseContainerListQuery({{"page", "3"}, {"limit", "100"}, {"status", "paused"},
                                       {"project_id", "507f1f77bcf86cd799439011"}},
                                      true);
  REQUIRE(full);
  CHECK(full->page.page == 3);
  CHECK(full->page.limit == 100);
  CHECK(full->status == store::ContainerStatus::paused);
  CHECK(full->projectId == "507f1f77bcf86cd799439011");

  struct Row {
    QueryParams query;
    const char* messagePart;
  };
  const Row rows[] = {
      {{{"page", "0"}}, "page must be an integer between 1 and"},
      {{{"page", "99999999999999999999"}}, "page must be an integer between 1 and"},
      {{{"page", "-1"}}, "page must be"},
      {{{"page", "+1"}}, "page must be"},
      {{{"page", "1.0"}}, "page must be"},
      {{{"page", ""}}, "page must be"},
      {{{"page", " 1"}}, "page must be"},
      {{{"limit", "0"}}, "limit must be an integer between 1 and 100"},
      {{{"limit", "101"}}, "limit must be an integer between 1 and 100"},
      {{{"limit", "1"}, {"limit", "2"}}, "limit given more than once"},
      {{{"status", "deleted"}}, "status must be one of"},
      {{{"status", "RUNNING"}}, "status must be one of"},
      {{{"sort", "x"}}, "unknown query parameter: sort"},
  };
  for (const auto& row : rows) {
    INFO(row.messagePart);
    auto result = parseContainerListQuery(row.query, true);
    REQUIRE_FALSE(result);
    CHECK(toWireError(result.error()).code == "VALIDATION_ERROR");
    CHECK_THAT(result.error().message, Catch::Contains(row.messagePart));
  }
  auto badProject = parseContainerListQuery({{"project_id", "nope"}}, true);
  REQUIRE_FALSE(badProject);
  CHECK(toWireError(badProject.error()).code == "INVALID_ID_FORMAT");
  auto projectNotAllowed = parseContainerListQuery({{"project_id", "507f1f77bcf86cd799439011"}}, false);
  REQUIRE_FALSE(projectNotAllowed);
  CHECK_THAT(projectNotAllowed.error().message, Catch::Contains("unknown query parameter: project_id"));
}

TEST_CASE("status-log query") {
  auto defaults = parseStatusLogQuery({});
  REQUIRE(defaults);
  CHECK(defaults->sortBy == store::LogSortBy::transition_time);
  CHECK(defaults->order == store::SortOrder::desc);
  auto asc = parseStatusLogQuery({{"sort_by", "to_status"}, {"sort_order", "asc"}, {"limit", "5"}});
  REQUIRE(asc);
  CHECK(asc->sortBy == store::LogSortBy::to_status);
  CHECK(asc->order == store::SortOrder::asc);
  CHECK(asc->page.limit == 5);
  CHECK_FALSE(parseStatusLogQuery({{"sort_by", "id"}}));
  CHECK_FALSE(parseStatusLogQuery({{"sort_order", "up"}}));
  CHECK_FALSE(parseStatusLogQuery({{"status", "running"}}));
}

TEST_CASE("operation, delete and get queries") {
  auto timeout = parseOperationQuery({{"timeout", "0"}});
  REQUIRE(timeout);
  CHECK(timeout->timeout == std::chrono::seconds(0));
  CHECK(parseOperationQuery({{"timeout", "3600"}}));
  CHECK_FALSE(parseOperationQuery({{"timeout", "3601"}}));
  CHECK_FALSE(parseOperationQuery({{"timeout", "5s"}}));
  CHECK_FALSE(parseOperationQuery({{"force", "true"}}));

  auto del = parseDeleteQuery({{"force", "true"}, {"keep_volume", "true"}});
  REQUIRE(del);
  CHECK(del->force);
  CHECK(del->keepVolume);
  auto plain = parseDeleteQuery({});
  REQUIRE(plain);
  CHECK_FALSE(plain->force);
  CHECK_FALSE(parseDeleteQuery({{"force", "yes"}}));
  CHECK_FALSE(parseDeleteQuery({{"force", "1"}}));

  CHECK(parseGetContainerQuery({{"runtime", "true"}}).value());
  CHECK_FALSE(parseGetContainerQuery({}).value());
  CHECK_FALSE(parseGetContainerQuery({{"runtime", "TRUE"}}));
  CHECK_FALSE(expectNoQuery({{"a", "b"}}));
}

TEST_CASE("operation names and empty bodies") {
  CHECK(parseOperationName("force-stop").value() == runtime::Operation::force_stop);
  CHECK(parseOperationName("resume").value() == runtime::Operation::resume);
  for (const char* bad : {"force_stop", "Start", "", "kill", "status-logs"}) {
    auto result = parseOperationName(bad);
    REQUIRE_FALSE(result);
    CHECK(toWireError(result.error()).code == "VALIDATION_ERROR");
  }
  CHECK(expectEmptyBody(""));
  CHECK(expectEmptyBody(" \n"));
  CHECK(expectEmptyBody("{}"));
  CHECK_FALSE(expectEmptyBody(R"({"force":true})"));
  CHECK_FALSE(expectEmptyBody("null"));
  CHECK_FALSE(expectEmptyBody("{"));
}

TEST_CASE("account bodies") {
  auto login = parseLoginBody(R"({"username":"admin","password":"secret"})");
  REQUIRE(login);
  CHECK(login->username == "admin");
  CHECK_FALSE(parseLoginBody(R"({"username":"admin"})"));
  CHECK_FALSE(parseLoginBody(R"({"username":"admin","password":1})"));
  CHECK_FALSE(parseLoginBody(R"({"username":"admin","password":"x","otp":"1"})"));

  auto user = parseNewUserBody(R"({"username":"g","password":"longenough","role":"guest",
                                   "guest_expires_at":"2030-01-01T00:00:00Z"})");
  REQUIRE(user);
  CHECK(user->role == store::UserRole::guest);
  CHECK(user->guestExpiresAt == 1893456000000);
  auto badRole = parseNewUserBody(R"({"username":"g","password":"longenough","role":"root"})");
  REQUIRE_FALSE(badRole);
  CHECK_THAT(badRole.error().message, Catch::Contains("role must be one of"));

  auto change = parseUserChangeBody(R"({"banned":true,"guest_expires_at":null})");
  REQUIRE(change);
  CHECK(change->banned == true);
  REQUIRE(change->guestExpiresAt);
  CHECK_FALSE(*change->guestExpiresAt);
  CHECK_FALSE(parseUserChangeBody(R"({"banned":"yes"})"));
  CHECK_FALSE(parseUserChangeBody(R"({"username":"x"})"));

  CHECK(parseNewProjectBody(R"({"name":"team-a"})").value() == "team-a");
  CHECK_FALSE(parseNewProjectBody(R"({})"));
  CHECK_FALSE(parseNewProjectBody(R"({"name":"bad name"})"));

  auto member = parseNewMemberBody(R"({"user_id":"507f1f77bcf86cd799439011","role":"operator"})");
  REQUIRE(member);
  CHECK(member->role == store::ProjectRole::operator_);
  auto badId = parseNewMemberBody(R"({"user_id":"u1","role":"viewer"})");
  REQUIRE_FALSE(badId);
  CHECK(toWireError(badId.error()).code == "INVALID_ID_FORMAT");
  CHECK_FALSE(parseNewMemberBody(R"({"user_id":"507f1f77bcf86cd799439011","role":"admin"})"));
  CHECK_FALSE(parseNewMemberBody(R"({"user_id":"507f1f77bcf86cd799439011"})"));
}

TEST_CASE("create body: a bridge container with published ports, protocol and host_ip defaulted") {
  auto request = parseCreateContainerBody(
      R"({"name":"web","network":"bridge","ports":[{"container_port":80,"host_port":8081},
          {"container_port":443,"host_port":8443,"protocol":"tcp","host_ip":"0.0.0.0"}]})",
      kNow);
  REQUIRE(request);
  CHECK(request->networkMode == "bridge");
  REQUIRE(request->ports.size() == 2);
  CHECK(request->ports[0] == store::PublishedPort{80, 8081, "tcp", "127.0.0.1"});
  CHECK(request->ports[1] == store::PublishedPort{443, 8443, "tcp", "0.0.0.0"});
  auto update = parseUpdateContainerBody(R"({"ports":[]})", kNow);
  REQUIRE(update);
  REQUIRE(update->ports);
  CHECK(update->ports->empty());
}

TEST_CASE("image import query: name is required and checked, ref optional, nothing else") {
  auto both = parseImageImportQuery({{"name", "my-app"}, {"ref", "v1.2"}});
  REQUIRE(both);
  CHECK(both->name == "my-app");
  CHECK(both->ref == "v1.2");
  auto nameOnly = parseImageImportQuery({{"name", "A-1"}});
  REQUIRE(nameOnly);
  CHECK(nameOnly->ref.empty());
  struct Row {
    QueryParams query;
    const char* messagePart;
  };
  const Row rows[] = {
      {{}, "name is required"},
      {{{"name", ""}}, "image name must be 1-64"},
      {{{"name", "a_b"}}, "image name must be 1-64"},
      {{{"name", "a.importing"}}, "image name must be 1-64"},
      {{{"name", std::string(65, 'a')}}, "image name must be 1-64"},
      {{{"name", "a"}, {"name", "b"}}, "given more than once"},
      {{{"name", "a"}, {"ref", ""}}, "ref must be 1-256"},
      {{{"name", "a"}, {"ref", std::string(257, 'r')}}, "ref must be 1-256"},
      {{{"name", "a"}, {"tag", "x"}}, "unknown query parameter: tag"},
  };
  for (const auto& row : rows) {
    auto refused = parseImageImportQuery(row.query);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::invalid_argument);
    CHECK_THAT(refused.error().message, Catch::Contains(row.messagePart));
  }
  CHECK(checkImageName("busybox"));
  CHECK_FALSE(checkImageName("../etc"));
}

TEST_CASE("Content-Length: absent, a decimal, or refused") {
  auto absent = parseContentLength("");
  REQUIRE(absent);
  CHECK_FALSE(*absent);
  auto big = parseContentLength("2147483648");
  REQUIRE(big);
  CHECK(**big == 2147483648ull);
  for (const char* bad : {"-1", "12x", " 12", "0x10", "99999999999999999999999"}) CHECK_FALSE(parseContentLength(bad));
}

TEST_CASE("exec body: command required and non-empty, env names, working dir, timeout in range") {
  auto minimal = parseExecBody(R"({"command":["ls"]})");
  REQUIRE(minimal);
  CHECK(minimal->command == std::vector<std::string>{"ls"});
  CHECK(minimal->env.empty());
  CHECK_FALSE(minimal->workingDir);
  CHECK(minimal->timeout == std::chrono::seconds(60));
  CHECK_FALSE(minimal->terminal);
  auto full = parseExecBody(R"({"command":["sh","-c","x"],"env":{"A_1":"v"},"working_dir":"/tmp","timeout_s":3600})");
  REQUIRE(full);
  CHECK(full->env.at("A_1") == "v");
  CHECK(full->workingDir == "/tmp");
  CHECK(full->timeout == std::chrono::seconds(3600));
  for (const auto& [body, part] : std::vector<std::pair<const char*, const char*>>{
           {R"({})", "command is required"},
           {R"({"command":[]})", "command must not be empty"},
           {R"({"command":"ls"})", "command must be an array"},
           {R"({"command":[""]})", "command[0]"},
           {R"({"command":["a\u0000b"]})", "NUL"},
           {R"({"command":["ls"],"env":{"A=B":"c"}})", "env key"},
           {R"({"command":["ls"],"env":{"A":"\u0000"}})", "NUL"},
           {R"({"command":["ls"],"working_dir":"/a/../b"})", ".."},
           {R"({"command":["ls"],"timeout_s":0})", "timeout_s"},
           {R"({"command":["ls"],"timeout_s":3601})", "timeout_s"},
           {R"({"command":["ls"],"tty":true})", "tty"}}) {
    INFO(body);
    auto refused = parseExecBody(body);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::invalid_argument);
    CHECK_THAT(refused.error().message, Catch::Contains(part));
  }
}

TEST_CASE("terminal query and messages: command as a JSON array, a size in range, resize only") {
  auto defaults = parseTerminalQuery({});
  REQUIRE(defaults);
  CHECK(defaults->command == std::vector<std::string>{"/bin/sh"});
  CHECK(defaults->size.cols == 80);
  CHECK(defaults->size.rows == 24);
  auto given = parseTerminalQuery({{"command", R"(["bash","-l"])"}, {"cols", "120"}, {"rows", "50"}, {"token", "t"}});
  REQUIRE(given);
  CHECK(given->command == std::vector<std::string>{"bash", "-l"});
  CHECK(given->size.cols == 120);
  CHECK(given->size.rows == 50);
  CHECK_FALSE(parseTerminalQuery({{"command", "bash"}}));
  CHECK_FALSE(parseTerminalQuery({{"command", "[]"}}));
  CHECK_FALSE(parseTerminalQuery({{"cols", "0"}}));
  CHECK_FALSE(parseTerminalQuery({{"rows", "1001"}}));
  CHECK_FALSE(parseTerminalQuery({{"shell", "x"}}));
  CHECK_FALSE(parseTerminalQuery({{"token", "a"}, {"token", "b"}}));

  auto resize = parseTerminalMessage(R"({"type":"resize","cols":100,"rows":40})");
  REQUIRE(resize);
  CHECK(resize->cols == 100);
  CHECK(resize->rows == 40);
  CHECK_FALSE(parseTerminalMessage(R"({"type":"dance"})"));
  CHECK_FALSE(parseTerminalMessage(R"({"type":"resize","cols":100})"));
  CHECK_FALSE(parseTerminalMessage(R"({"type":"resize","cols":0,"rows":1})"));
  CHECK_FALSE(parseTerminalMessage("hello"));
}

TEST_CASE("restart_policy on create and update: Docker's names, anything else refused naming the field") {
  auto created = parseCreateContainerBody(R"({"name":"a","restart_policy":"on-failure:3"})", kNow);
  REQUIRE(created);
  CHECK(created->restartPolicy == store::RestartPolicy{store::RestartMode::on_failure, 3});
  auto plain = parseCreateContainerBody(R"({"name":"a"})", kNow);
  REQUIRE(plain);
  CHECK(plain->restartPolicy.mode == store::RestartMode::no);
  auto updated = parseUpdateContainerBody(R"({"restart_policy":"unless-stopped"})", kNow);
  REQUIRE(updated);
  REQUIRE(updated->restartPolicy);
  CHECK(updated->restartPolicy->mode == store::RestartMode::unless_stopped);
  CHECK_FALSE(parseUpdateContainerBody("{}", kNow)->restartPolicy);
  for (const char* body : {R"({"name":"a","restart_policy":"sometimes"})", R"({"name":"a","restart_policy":3})",
                           R"({"name":"a","restart_policy":null})", R"({"name":"a","restart_policy":"on-failure:0"})",
                           R"({"name":"a","restart_policy":"always:2"})"}) {
    INFO(body);
    requireRefused(parseCreateContainerBody(body, kNow), "restart_policy");
  }
  requireRefused(parseUpdateContainerBody(R"({"restart_policy":"on-failure:x"})", kNow), "restart_policy");
}

TEST_CASE("project change body: limits by name, a whole number or null; the field is named when refused") {
  auto change = parseProjectChangeBody(R"({"limits":{"containers":3,"memory":null,"cpu":0,"disk":1024}})");
  REQUIRE(change);
  CHECK(change->containers == std::optional<std::optional<uint64_t>>(3));
  REQUIRE(change->memoryMb);
  CHECK_FALSE(*change->memoryMb);
  CHECK(change->cpuMillicores == std::optional<std::optional<uint64_t>>(0));
  CHECK(change->diskMb == std::optional<std::optional<uint64_t>>(1024));
  auto some = parseProjectChangeBody(R"({"limits":{"containers":1}})");
  REQUIRE(some);
  CHECK_FALSE(some->memoryMb);
  CHECK(parseProjectChangeBody(R"({"limits":{}})")->containers == std::nullopt);
  struct Case {
    const char* body;
    const char* messagePart;
  };
  for (const Case& row : std::vector<Case>{
           {R"({})", "limits is required"},
           {R"({"limits":3})", "limits must be an object"},
           {R"({"limits":{"containers":-1}})", "limits.containers must be an integer"},
           {R"({"limits":{"containers":"3"}})", "limits.containers must be an integer"},
           {R"({"limits":{"containers":1.5}})", "limits.containers must be an integer"},
           {R"({"limits":{"memory_mb":3}})", "unknown field: limits.memory_mb"},
           {R"({"limits":{"cpu":true}})", "limits.cpu must be an integer"},
           {R"({"limits":{"disk":1e300}})", "limits.disk must be an integer"},
           {R"({"limits":{},"name":"x"})", "unknown field: name"},
       }) {
    INFO(row.body);
    requireRefused(parseProjectChangeBody(row.body), row.messagePart);
  }
}

TEST_CASE("create and update bodies: user, umask and isolation (API.md §14)") {
  auto request = parseCreateContainerBody(R"({"name":"a","user":"app:staff","umask":"0027","isolation":"user-namespace"})", kNow);
  REQUIRE(request);
  CHECK(request->user == "app:staff");
  CHECK(request->umask == 027u);
  CHECK(request->isolation == "user-namespace");
  auto defaults = parseCreateContainerBody(R"({"name":"a"})", kNow);
  REQUIRE(defaults);
  CHECK_FALSE(defaults->user);
  CHECK_FALSE(defaults->umask);
  CHECK(defaults->isolation.empty());  // the config's default_isolation
  CHECK(parseCreateContainerBody(R"({"name":"a","umask":"022"})", kNow)->umask == 022u);

  for (const auto& [body, part] : std::vector<std::pair<std::string, std::string>>{
           {R"({"name":"a","user":""})", "user must not be empty"},
           {R"({"name":"a","user":1000})", "user must be a string"},
           {R"({"name":"a","user":"a\tb"})", "user must not contain control characters"},
           {R"({"name":"a","umask":"22"})", "umask must be octal"},
           {R"({"name":"a","umask":"0089"})", "umask must be octal"},
           {R"({"name":"a","umask":"1777"})", "umask must be octal"},
           {R"({"name":"a","umask":18})", "umask must be a string"},
           {R"({"name":"a","isolation":"vm"})", "isolation must be"},
           {R"({"name":"a","isolation":true})", "isolation must be a string"}}) {
    INFO(body);
    requireRefused(parseCreateContainerBody(body, kNow), part.c_str());
  }

  auto update = parseUpdateContainerBody(R"({"user":"1000","umask":null})", kNow);
  REQUIRE(update);
  CHECK(update->user == "1000");
  REQUIRE(update->umask);
  CHECK_FALSE(*update->umask);  // back to the monitor's
  CHECK(parseUpdateContainerBody(R"({"umask":"0077"})", kNow)->umask == std::optional<uint32_t>(077));
  auto fixed = parseUpdateContainerBody(R"({"isolation":"host-root"})", kNow);
  REQUIRE_FALSE(fixed);
  CHECK_THAT(fixed.error().message, Catch::Contains("isolation cannot be changed"));
}
