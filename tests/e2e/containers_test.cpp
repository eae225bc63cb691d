// Containers over HTTP: create, get, list, PATCH rules, delete, expiry (API.md §6).
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "e2e/service_fixture.hpp"

using namespace berth::e2e;

namespace {

bool isIsoMillis(const Json& value) {
  static const std::regex format(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  return value.is_string() && std::regex_match(value.get<std::string>(), format);
}

std::string personalProject(const Service& service) {
  Reply projects = service.get("/api/v1/projects", service.adminToken());
  REQUIRE(projects.status == 200);
  for (const auto& project : projects.data()["projects"])
    if (project["owner_id"] == service.adminId()) return project["id"];
  FAIL("admin has no personal project");
  return {};
}

std::string isoIn(std::chrono::milliseconds fromNow) {
  auto when = std::chrono::system_clock::now() + fromNow;
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(buf) + "." + (millis < 100 ? (millis < 10 ? "00" : "0") : "") + std::to_string(millis) + "Z";
}

bool pathExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("create answers 201 with the container object; autostart decides running or stopped") {
  Service service;
  const std::string& admin = service.adminToken();
  Json running = service.createContainer(admin, {{"name", "web"}, {"command", kTermInit}});
  CHECK(running["status"] == "running");
  CHECK(running["pid"].is_number_integer());
  CHECK(running["name"] == "web");
  CHECK(running["hostname"] == "web");
  CHECK(running["image"] == "busybox");
  CHECK(running["command"] == Json(kTermInit));
  CHECK(running["owner_id"] == service.adminId());
  CHECK(running["project_id"] == personalProject(service));
  CHECK(running["autostart"] == true);
  CHECK(running["resources"] == Json{{"memory_mb", nullptr}, {"cpu_millicores", nullptr}, {"pids_max", nullptr}, {"disk_mb", nullptr}});
  CHECK(running["network"] == Json{{"mode", "none"}, {"ip", nullptr}});
  CHECK(running["exit_code"].is_null());
  CHECK(running["expires_at"].is_null());
  CHECK(running["oom_killed"] == false);
  CHECK(std::regex_match(running["id"].get<std::string>(), std::regex("[0-9a-f]{24}")));
  CHECK(std::regex_match(running["runtime_id"].get<std::string>(), std::regex("[0-9a-f]{12}")));
  for (const char* time : {"created_at", "updated_at", "started_at"}) CHECK(isIsoMillis(running[time]));
  CHECK(running["ports"] == Json::array());
  CHECK(running.size() == 31);

  Json stopped = service.createContainer(admin, {{"name", "idle"}, {"autostart", false}, {"env", {{"A", "1"}}},
                                                 {"working_dir", "/tmp"}, {"hostname", "idle.local"}});
  CHECK(stopped["status"] == "stopped");
  CHECK(stopped["pid"].is_null());
  CHECK(stopped["started_at"].is_null());
  CHECK(stopped["env"] == Json{{"A", "1"}});
  CHECK(stopped["hostname"] == "idle.local");

  Json fetched = service.getContainer(running["id"], admin);
  CHECK(fetched["id"] == running["id"]);
  CHECK(fetched["pid"] == running["pid"]);

  // The create and the autostart are two status-log entries, triggered by the caller.
  Reply logs = service.get(containerPath(running["id"]) + "/status-logs?sort_order=asc", admin);
  REQUIRE(logs.status == 200);
  const Json& entries = logs.data()["logs"];
  REQUIRE(entries.size() == 2);
  CHECK(entries[0]["from_status"] == "creating");
  CHECK(entries[0]["to_status"] == "stopped");
  CHECK(entries[1]["from_status"] == "stopped");
  CHECK(entries[1]["to_status"] == "running");
  CHECK(entries[1]["triggered_by"] == service.adminId());
  CHECK(entries[1]["metadata"]["operation"] == "start");
}

TEST_CASE("create refuses a taken name, an unknown image, a bad project and resources over the tier") {
  Service service({.configYaml = "tier_limits:\n  memory_mb: 512\n  cpu_millicores: 1000\n"});
  const std::string& admin = service.adminToken();
  service.createContainer(admin, {{"name", "taken"}, {"autostart", false}});

  struct Row {
    Json body;
    int status;
    const char* code;
  };
  const Row rows[] = {
      {{{"name", "taken"}}, 409, "NAME_CONFLICT"},
      {{{"name", "x1"}, {"image", "no-such-image"}}, 404, "IMAGE_NOT_FOUND"},
      {{{"name", "x2"}, {"image", "../../etc"}}, 404, "IMAGE_NOT_FOUND"},
      {{{"name", "x3"}, {"project_id", "not-an-id"}}, 400, "INVALID_ID_FORMAT"},
      {{{"name", "x4"}, {"project_id", "0123456789abcdef01234567"}}, 404, "PROJECT_NOT_FOUND"},
      {{{"name", "x5"}, {"resources", {{"memory_mb", 1024}}}}, 422, "RESOURCE_LIMIT_EXCEEDED"},
      {{{"name", "x6"}, {"resources", {{"cpu_millicores", 1001}}}}, 422, "RESOURCE_LIMIT_EXCEEDED"},
  };
  for (const auto& row : rows) {
    Reply reply = service.post("/api/v1/containers", admin, row.body.dump());
    INFO(row.body.dump() << " -> " << reply.text);
    CHECK(reply.status == row.status);
    CHECK(reply.code() == row.code);
  }
  // None of the refused requests left a container behind.
  Reply list = service.get("/api/v1/containers", admin);
  CHECK(list.data()["pagination"]["total"] == 1);
  // Within the tier is fine.
  service.createContainer(admin, {{"name", "fits"}, {"autostart", false}, {"resources", {{"memory_mb", 512}}}});
}

TEST_CASE("a start that fails on the container's own configuration is 422 START_FAILED, container failed") {
  Service service;
  const std::string& admin = service.adminToken();
  Reply reply = service.post("/api/v1/containers", admin, Json{{"name", "broken"}, {"command", {"/no/such/binary"}}}.dump());
  INFO(reply.text);
  REQUIRE(reply.status == 422);
  CHECK(reply.code() == "START_FAILED");
  CHECK(reply.data()["error"] == true);
  CHECK(reply.data()["status"] == "failed");
  std::string id = reply.data()["container_id"];
  CHECK(service.getContainer(id, admin)["status"] == "failed");

  // The reason is in the status log's metadata.
  Reply logs = service.get(containerPath(id) + "/status-logs", admin);
  REQUIRE(logs.status == 200);
  const Json& latest = logs.data()["logs"][0];
  CHECK(latest["to_status"] == "failed");
  CHECK(latest["metadata"].contains("reason"));

  // From failed, a start with the same configuration fails the same way.
  Reply again = service.post(containerPath(id) + "/start", admin);
  CHECK(again.status == 422);
  CHECK(again.code() == "START_FAILED");
}

TEST_CASE("GET ?runtime=true adds runtime_info for live containers") {
  Service service;
  const std::string& admin = service.adminToken();
  Json running = service.createContainer(admin, {{"name", "live"}, {"command", kTermInit}});
  Reply reply = service.get(containerPath(running["id"]) + "?runtime=true", admin);
  REQUIRE(reply.status == 200);
  const Json& info = reply.data()["runtime_info"];
  CHECK(info["pid"] == running["pid"]);
  REQUIRE(info["processes"].is_array());
  CHECK_FALSE(info["processes"].empty());
  bool sawInit = false;
  for (const auto& process : info["processes"])
    sawInit = sawInit || process["command"].get<std::string>().find("trap") != std::string::npos;
  CHECK(sawInit);
  CHECK(info["pids_current"].get<uint64_t>() >= 1);
  CHECK(info["memory_bytes"].get<uint64_t>() > 0);
  for (const char* key : {"memory_limit_bytes", "cpu_usage_usec", "oom_kills", "uptime_s"}) CHECK(info[key].is_number());

  Json idle = service.createContainer(admin, {{"name", "idle"}, {"autostart", false}});
  Reply stopped = service.get(containerPath(idle["id"]) + "?runtime=true", admin);
  REQUIRE(stopped.status == 200);
  CHECK(stopped.data()["runtime_info"].is_null());
  Reply plain = service.get(containerPath(idle["id"]), admin);
  CHECK_FALSE(plain.data().contains("runtime_info"));
}

TEST_CASE("PATCH: env, command and working_dir only when stopped; resources change live without a restart") {
  Service service({.configYaml = "tier_limits:\n  memory_mb: 1024\n"});
  const std::string& admin = service.adminToken();
  Json running = service.createContainer(admin, {{"name", "patched"}, {"command", kTermInit}});
  std::string path = containerPath(running["id"]);

  for (const char* body : {R"({"env":{"A":"1"}})", R"({"command":["/bin/true"]})", R"({"working_dir":"/tmp"})"}) {
    Reply refused = service.patch(path, admin, body);
    INFO(body << " -> " << refused.text);
    CHECK(refused.status == 400);
    CHECK(refused.code() == "OPERATION_STATE_CONFLICT");
    CHECK(refused.data()["status"] == "running");
    CHECK(refused.data()["error"] == true);
  }

  Reply live = service.patch(path, admin, R"({"resources":{"memory_mb":64,"pids_max":50}})");
  INFO(live.text);
  REQUIRE(live.status == 200);
  CHECK(live.data()["restarted"] == false);
  CHECK(live.data()["status"] == "running");
  CHECK(live.data()["pid"] == running["pid"]);
  CHECK(live.data()["resources"]["memory_mb"] == 64);
  CHECK(live.data()["resources"]["pids_max"] == 50);
  Reply info = service.get(path + "?runtime=true", admin);
  CHECK(info.data()["runtime_info"]["memory_limit_bytes"] == 64ull * 1024 * 1024);

  // Only the named limits change; null removes one.
  Reply partial = service.patch(path, admin, R"({"resources":{"cpu_millicores":500,"pids_max":null}})");
  REQUIRE(partial.status == 200);
  CHECK(partial.data()["resources"] == Json{{"memory_mb", 64}, {"cpu_millicores", 500}, {"pids_max", nullptr}, {"disk_mb", nullptr}});

  Reply overTier = service.patch(path, admin, R"({"resources":{"memory_mb":2048}})");
  CHECK(overTier.status == 422);
  CHECK(overTier.code() == "RESOURCE_LIMIT_EXCEEDED");

  Reply renamed = service.patch(path, admin, R"({"name":"renamed","autostart":false})");
  REQUIRE(renamed.status == 200);
  CHECK(renamed.data()["name"] == "renamed");
  CHECK(renamed.data()["autostart"] == false);

  service.createContainer(admin, {{"name", "other"}, {"autostart", false}});
  Reply taken = service.patch(path, admin, R"({"name":"other"})");
  CHECK(taken.status == 409);
  CHECK(taken.code() == "NAME_CONFLICT");

  // Stopped: env, command and working_dir change, and the next start uses them.
  service.operate(admin, running["id"], "stop");
  Json marked = kTermInit;
  marked[2] = kTermInit[2] + " # second-version";
  Reply reconfigured =
      service.patch(path, admin, Json{{"env", {{"MODE", "two"}}}, {"command", marked}, {"working_dir", "/tmp"}}.dump());
  INFO(reconfigured.text);
  REQUIRE(reconfigured.status == 200);
  CHECK(reconfigured.data()["env"] == Json{{"MODE", "two"}});
  CHECK(reconfigured.data()["working_dir"] == "/tmp");
  service.operate(admin, running["id"], "start");
  Reply restarted = service.get(path + "?runtime=true", admin);
  bool sawNewCommand = false;
  for (const auto& process : restarted.data()["runtime_info"]["processes"])
    sawNewCommand = sawNewCommand || process["command"].get<std::string>().find("second-version") != std::string::npos;
  CHECK(sawNewCommand);
}

TEST_CASE("DELETE: force for live containers, soft delete keeps the audit log, keep_volume keeps the layer") {
  Service service;
  const std::string& admin = service.adminToken();
  std::vector<std::string> writer = {"/bin/sh", "-c", "echo kept > /kept.txt; trap 'exit 0' TERM; while true; do sleep 0.1; done"};
  Json live = service.createContainer(admin, {{"name", "live"}, {"command", writer}});
  std::string path = containerPath(live["id"]);

  Reply refused = service.del(path, admin);
  CHECK(refused.status == 400);
  CHECK(refused.code() == "OPERATION_STATE_CONFLICT");
  CHECK(refused.data()["status"] == "running");
  CHECK(service.getContainer(live["id"], admin)["status"] == "running");

  std::string upper = service.dataDir() + "/storage/pool/layers/" + live["id"].get<std::string>() + "/upper/kept.txt";
  for (int i = 0; i < 100 && !pathExists(upper); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(pathExists(upper));

  Reply forced = service.del(path + "?force=true&keep_volume=true", admin);
  INFO(forced.text);
  REQUIRE(forced.status == 200);
  CHECK(forced.data()["status"] == "deleted");
  CHECK(pathExists(upper));  // the writable layer survives with keep_volume
  CHECK(service.get(path, admin).code() == "CONTAINER_NOT_FOUND");
  CHECK(service.del(path, admin).status == 404);
  CHECK(service.get("/api/v1/containers", admin).data()["pagination"]["total"] == 0);

  Reply audit = service.get(path + "/status-logs", admin);
  REQUIRE(audit.status == 200);
  const Json& newest = audit.data()["logs"];
  REQUIRE(newest.size() >= 2);
  CHECK(newest[0]["to_status"] == "deleted");
  CHECK(newest[1]["to_status"] == "stopped");

  // A stopped container needs no force; without keep_volume its layer goes.
  Json idle = service.createContainer(admin, {{"name", "live"}, {"autostart", false}});  // the name is free again
  std::string idleDir = service.dataDir() + "/containers/" + idle["id"].get<std::string>();
  REQUIRE(pathExists(idleDir));
  Reply removed = service.del(containerPath(idle["id"]), admin);
  REQUIRE(removed.status == 200);
  CHECK_FALSE(pathExists(idleDir));
}

TEST_CASE("expired containers can be read and deleted, nothing else") {
  Service service;
  const std::string& admin = service.adminToken();
  Json container =
      service.createContainer(admin, {{"name", "brief"}, {"command", kTermInit}, {"expires_at", isoIn(std::chrono::milliseconds(1500))}});
  std::string id = container["id"];
  CHECK(isIsoMillis(container["expires_at"]));
  service.waitForStatus(id, "expired");

  for (const char* operation : {"start", "stop", "force-stop", "restart", "pause", "resume"}) {
    Reply reply = service.post(containerPath(id) + "/" + operation, admin);
    INFO(operation << ": " << reply.text);
    CHECK(reply.status == 403);
    CHECK(reply.code() == "OPERATION_NOT_PERMITTED_ON_EXPIRED");
  }
  Reply patch = service.patch(containerPath(id), admin, R"({"name":"renamed"})");
  CHECK(patch.code() == "OPERATION_NOT_PERMITTED_ON_EXPIRED");

  Reply logs = service.get(containerPath(id) + "/status-logs", admin);
  REQUIRE(logs.status == 200);
  const Json& newest = logs.data()["logs"][0];
  CHECK(newest["to_status"] == "expired");
  CHECK(newest["triggered_by"] == "system");
  CHECK(newest["metadata"]["operation"] == "expire");

  CHECK(service.del(containerPath(id), admin).status == 200);
}

TEST_CASE("lists page and filter; a page past the end is empty with the true total") {
  Service service;
  const std::string& admin = service.adminToken();
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i)
    ids.push_back(
        service.createContainer(admin, {{"name", "c" + std::to_string(i)}, {"command", kTermInit}, {"autostart", false}})["id"]);
  service.operate(admin, ids[3], "start");
  service.operate(admin, ids[7], "start");

  std::vector<std::string> seen;
  for (int page = 1; page <= 3; ++page) {
    Reply reply = service.get("/api/v1/containers?limit=5&page=" + std::to_string(page), admin);
    REQUIRE(reply.status == 200);
    const Json& pagination = reply.data()["pagination"];
    CHECK(pagination == Json{{"total", 12}, {"page", page}, {"limit", 5}, {"totalPages", 3}});
    for (const auto& container : reply.data()["containers"]) seen.push_back(container["id"]);
  }
  // Id order (creation order to the second), every container exactly once.
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  std::sort(ids.begin(), ids.end());
  CHECK(seen == ids);

  Reply past = service.get("/api/v1/containers?limit=5&page=4", admin);
  REQUIRE(past.status == 200);
  CHECK(past.data()["containers"].empty());
  CHECK(past.data()["pagination"]["total"] == 12);

  Reply running = service.get("/api/v1/containers?status=running", admin);
  REQUIRE(running.status == 200);
  CHECK(running.data()["pagination"]["total"] == 2);
  for (const auto& container : running.data()["containers"]) CHECK(container["status"] == "running");

  Reply defaults = service.get("/api/v1/containers", admin);
  CHECK(defaults.data()["pagination"]["limit"] == 10);
  CHECK(defaults.data()["containers"].size() == 10);

  // Per project: only that project's containers.
  TestUser ann = service.createUser("ann");
  service.createContainer(ann.token, {{"name", "mine"}, {"autostart", false}});
  Reply annOnly = service.get("/api/v1/containers?project_id=" + ann.personalProjectId, admin);
  REQUIRE(annOnly.status == 200);
  CHECK(annOnly.data()["pagination"]["total"] == 1);
  Reply viaProject = service.get("/api/v1/projects/" + ann.personalProjectId + "/containers", admin);
  REQUIRE(viaProject.status == 200);
  CHECK(viaProject.data()["containers"][0]["name"] == "mine");
  Reply annSees = service.get("/api/v1/containers", ann.token);
  CHECK(annSees.data()["pagination"]["total"] == 1);
}
