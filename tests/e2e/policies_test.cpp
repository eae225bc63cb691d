// Project quotas and restart policies (issue 20) through the real berthd:
// concurrent creates at a project's limit, sums of resources on create and
// PATCH, restart loops with their backoff, a stop during a backoff, and
// pending restarts across a restart and a kill -9 of the service.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "common/clock.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;
using namespace std::chrono_literals;

namespace {

std::string makeProject(Service& service, const std::string& name, const std::string& limits) {
  Reply project = service.post("/api/v1/projects", service.adminToken(), Json{{"name", name}}.dump());
  REQUIRE(project.status == 201);
  std::string id = project.data()["id"];
  Reply limited = service.patch("/api/v1/projects/" + id, service.adminToken(), limits);
  INFO(limited.text);
  REQUIRE(limited.status == 200);
  return id;
}

Json projectOf(Service& service, const std::string& id) {
  Reply reply = service.get("/api/v1/projects/" + id, service.adminToken());
  REQUIRE(reply.status == 200);
  return reply.data();
}

void requireLimitExceeded(const Reply& reply, const std::string& limit) {
  INFO(reply.text);
  REQUIRE(reply.status == 422);
  CHECK(reply.code() == "RESOURCE_LIMIT_EXCEEDED");
  CHECK(reply.message().find(limit) != std::string::npos);
}

// Oldest first.
Json statusLog(Service& service, const std::string& id) {
  Reply reply = service.get(containerPath(id) + "/status-logs?sort_order=asc&sort_by=created_at&limit=100",
                            service.adminToken());
  REQUIRE(reply.status == 200);
  return reply.data()["logs"];
}

UnixMillis timeOf(const Json& entry) {
  auto parsed = parseIsoMillis(entry["transition_time"].get<std::string>());
  REQUIRE(parsed);
  return *parsed;
}

// Polls GET until `done` holds; FAILs after the limit.
template <typename Done>
Json awaitContainer(Service& service, const std::string& id, Done done, std::chrono::milliseconds limit = 30s) {
  auto end = std::chrono::steady_clock::now() + limit;
  Json container;
  while (std::chrono::steady_clock::now() < end) {
    container = service.getContainer(id, service.adminToken());
    if (done(container)) return container;
    std::this_thread::sleep_for(20ms);
  }
  FAIL("container " << id << " never got there; last seen: " << container.dump());
  return container;
}

const std::vector<std::string> kFailAtOnce = {"/bin/sh", "-c", "exit 3"};

}  // namespace

TEST_CASE("project quota: 8 concurrent creates at limits.containers 3: exactly 3 pass, the rest 422 naming it") {
  Service service;
  const std::string& admin = service.adminToken();
  std::string project = makeProject(service, "quota", R"({"limits":{"containers":3}})");
  Json before = projectOf(service, project);
  CHECK(before["limits"] == Json{{"containers", 3}, {"memory", nullptr}, {"cpu", nullptr}, {"disk", nullptr}});
  CHECK(before["usage"]["containers"] == 0);

  std::vector<Reply> replies(8);
  std::vector<std::thread> creators;
  for (int i = 0; i < 8; ++i)
    creators.emplace_back([&, i] {
      replies[i] = service.post("/api/v1/containers", admin,
                                Json{{"name", "c" + std::to_string(i)}, {"project_id", project}, {"autostart", false}}.dump());
    });
  for (auto& creator : creators) creator.join();
  int created = 0;
  std::string someId;
  for (const Reply& reply : replies) {
    if (reply.status == 201) {
      ++created;
      someId = reply.data()["id"];
    } else {
      requireLimitExceeded(reply, "limits.containers");
    }
  }
  CHECK(created == 3);
  CHECK(projectOf(service, project)["usage"]["containers"] == 3);

  // Counted over containers that are not deleted: a delete makes room.
  REQUIRE(service.del(containerPath(someId), admin).status == 200);
  service.createContainer(admin, Json{{"name", "after-delete"}, {"project_id", project}, {"autostart", false}});
  requireLimitExceeded(service.post("/api/v1/containers", admin,
                                    Json{{"name", "one-more"}, {"project_id", project}, {"autostart", false}}.dump()),
                       "limits.containers");

  // Only admins set limits; the limit binds the project's own owner too.
  TestUser alice = service.createUser("alice");
  Reply denied = service.patch("/api/v1/projects/" + alice.personalProjectId, alice.token, R"({"limits":{"containers":9}})");
  CHECK(denied.status == 403);
  CHECK(denied.code() == "INSUFFICIENT_PERMISSIONS");
  REQUIRE(service.patch("/api/v1/projects/" + alice.personalProjectId, admin, R"({"limits":{"containers":0}})").status == 200);
  requireLimitExceeded(service.post("/api/v1/containers", alice.token, Json{{"name", "mine"}, {"autostart", false}}.dump()),
                       "limits.containers");
  // {} gives the project back to the defaults (no limit here).
  REQUIRE(service.patch("/api/v1/projects/" + alice.personalProjectId, admin, R"({"limits":{}})").status == 200);
  service.createContainer(alice.token, Json{{"name", "mine"}, {"autostart", false}});

  Reply unknown = service.patch("/api/v1/projects/0123456789abcdef01234567", admin, R"({"limits":{"containers":1}})");
  CHECK(unknown.status == 404);
  CHECK(unknown.code() == "PROJECT_NOT_FOUND");
  Reply bad = service.patch("/api/v1/projects/" + project, admin, R"({"limits":{"containers":-2}})");
  CHECK(bad.status == 400);
  CHECK(bad.code() == "VALIDATION_ERROR");
  CHECK(bad.message().find("limits.containers") != std::string::npos);
  CHECK(service.patch("/api/v1/projects/xyz", admin, R"({"limits":{}})").code() == "INVALID_ID_FORMAT");
}

TEST_CASE("project quota: limits.memory, limits.cpu and limits.disk summed over the project on create and PATCH") {
  Service service;
  const std::string& admin = service.adminToken();
  std::string project = makeProject(service, "sums", R"({"limits":{"memory":256,"cpu":1000,"disk":200}})");
  auto body = [&](const std::string& name, const Json& resources) {
    return Json{{"name", name}, {"project_id", project}, {"autostart", false}, {"resources", resources}}.dump();
  };
  auto sized = [](uint64_t memory, uint64_t cpu, uint64_t disk) {
    return Json{{"memory_mb", memory}, {"cpu_millicores", cpu}, {"disk_mb", disk}};
  };
  Reply a = service.post("/api/v1/containers", admin, body("a", sized(128, 500, 100)));
  REQUIRE(a.status == 201);
  Reply b = service.post("/api/v1/containers", admin, body("b", sized(128, 500, 100)));
  REQUIRE(b.status == 201);
  std::string bId = b.data()["id"];
  requireLimitExceeded(service.post("/api/v1/containers", admin, body("c", sized(1, 1, 1))), "limits.memory");
  requireLimitExceeded(service.post("/api/v1/containers", admin, body("c", Json{{"cpu_millicores", 1}, {"disk_mb", 1}})),
                       "limits.memory");

  requireLimitExceeded(service.patch(containerPath(bId), admin, R"({"resources":{"memory_mb":129}})"), "limits.memory");
  requireLimitExceeded(service.patch(containerPath(bId), admin, R"({"resources":{"cpu_millicores":501}})"), "limits.cpu");
  requireLimitExceeded(service.patch(containerPath(bId), admin, R"({"resources":{"disk_mb":101}})"), "limits.disk");
  requireLimitExceeded(service.patch(containerPath(bId), admin, R"({"resources":{"memory_mb":null}})"), "limits.memory");
  Json unchanged = service.getContainer(bId, admin);
  CHECK(unchanged["resources"]["memory_mb"] == 128);
  CHECK(unchanged["resources"]["cpu_millicores"] == 500);
  CHECK(unchanged["resources"]["disk_mb"] == 100);

  Reply shrunk = service.patch(containerPath(bId), admin, R"({"resources":{"memory_mb":64,"cpu_millicores":400,"disk_mb":50}})");
  INFO(shrunk.text);
  REQUIRE(shrunk.status == 200);
  requireLimitExceeded(service.post("/api/v1/containers", admin, body("c", sized(64, 101, 50))), "limits.cpu");
  requireLimitExceeded(service.post("/api/v1/containers", admin, body("c", sized(64, 100, 51))), "limits.disk");
  Reply c = service.post("/api/v1/containers", admin, body("c", sized(64, 100, 50)));
  INFO(c.text);
  REQUIRE(c.status == 201);
  CHECK(projectOf(service, project)["usage"] == Json{{"containers", 3}, {"memory", 256}, {"cpu", 1000}, {"disk", 200}});
}

TEST_CASE("restart policy: on-failure:2 restarts a failing init twice, each after its backoff, logged by system") {
  Service service;
  Json created = service.createContainer(service.adminToken(),
                                         Json{{"name", "flaky"}, {"command", kFailAtOnce}, {"restart_policy", "on-failure:2"}});
  CHECK(created["restart_policy"] == "on-failure:2");
  std::string id = created["id"];
  Json done = awaitContainer(service, id, [](const Json& c) {
    return c["status"] == "stopped" && c["restart_count"] == 2 && c["next_restart_at"].is_null();
  });
  CHECK(done["exit_code"] == 3);
  // Nothing more comes: on-failure:2 stops after 2.
  std::this_thread::sleep_for(1s);
  Json log = statusLog(service, id);
  std::vector<std::string> operations;
  for (const Json& entry : log) operations.push_back(entry["metadata"]["operation"]);
  CHECK(operations ==
        std::vector<std::string>{"create", "start", "exit", "restart_policy", "exit", "restart_policy", "exit"});
  REQUIRE(log.size() == 7);
  for (size_t i : {3u, 5u}) {
    CHECK(log[i]["triggered_by"] == "system");
    CHECK(log[i]["from_status"] == "stopped");
    CHECK(log[i]["to_status"] == "running");
  }
  CHECK(log[3]["metadata"]["attempt"] == 1);
  CHECK(log[5]["metadata"]["attempt"] == 2);
  // The waits: at least the backoff (100 ms, then 200), never near the 30 s cap (a loaded host may stretch them).
  int64_t first = timeOf(log[3]) - timeOf(log[2]);
  int64_t second = timeOf(log[5]) - timeOf(log[4]);
  CHECK(first >= 100);
  CHECK(second >= 200);
  CHECK(first < 10000);
  CHECK(second < 10000);
}

TEST_CASE("restart policy: always loops with a doubling backoff; a stop during the backoff ends it at once") {
  Service service;
  Json created = service.createContainer(service.adminToken(),
                                         Json{{"name", "looper"}, {"command", kFailAtOnce}, {"restart_policy", "always"}});
  std::string id = created["id"];
  // From the 5th restart on the backoff is 1.6 s: a stop lands in it.
  Json pending = awaitContainer(service, id, [](const Json& c) {
    return c["status"] == "stopped" && c["restart_count"] >= 5 && !c["next_restart_at"].is_null();
  });
  auto start = std::chrono::steady_clock::now();
  Reply stopped = service.operate(service.adminToken(), id, "stop");
  auto tookMs = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  CHECK(tookMs < 2000);
  CHECK(stopped.data()["status"] == "stopped");
  Json after = service.getContainer(id, service.adminToken());
  CHECK(after["status"] == "stopped");
  CHECK(after["next_restart_at"].is_null());
  uint64_t count = after["restart_count"];

  Json log = statusLog(service, id);
  // The stop cancelled the backoff: the log ends with the exit, no stop transition.
  CHECK(log.back()["metadata"]["operation"] == "exit");
  std::vector<int64_t> waits;
  for (size_t i = 1; i < log.size(); ++i)
    if (log[i]["metadata"]["operation"] == "restart_policy") waits.push_back(timeOf(log[i]) - timeOf(log[i - 1]));
  REQUIRE(waits.size() >= 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("restart " << i + 1 << " waited " << waits[i] << " ms");
    CHECK(waits[i] >= (100 << i));
  }
  // Loosely doubling: the fourth wait (800 ms) is well above the first (100 ms).
  CHECK(waits[3] > waits[0] * 3);

  // Longer than the cancelled backoff: nothing starts it again.
  std::this_thread::sleep_for(2500ms);
  Json later = service.getContainer(id, service.adminToken());
  CHECK(later["status"] == "stopped");
  CHECK(later["restart_count"] == count);
  CHECK(pending["restart_count"] <= count);
}

TEST_CASE("restart policy: after a stop and a restart of berthd, always runs again, unless-stopped stays stopped") {
  Service service;
  const std::string& admin = service.adminToken();
  Json always = service.createContainer(admin, Json{{"name", "always"}, {"command", kTermInit}, {"restart_policy", "always"}});
  Json unless =
      service.createContainer(admin, Json{{"name", "unless"}, {"command", kTermInit}, {"restart_policy", "unless-stopped"}});
  service.operate(admin, always["id"], "stop");
  service.operate(admin, unless["id"], "stop");
  service.restart();
  Json back = service.waitForStatus(always["id"], "running");
  CHECK(back["pid"] != always["pid"]);
  CHECK(statusLog(service, always["id"]).back()["triggered_by"] == "system");
  CHECK(service.getContainer(unless["id"], admin)["status"] == "stopped");

  // A kill -9 of the service behaves the same; the running one is adopted, not restarted.
  service.operate(admin, always["id"], "stop");
  service.crash();
  service.start();
  service.waitForStatus(always["id"], "running");
  CHECK(service.getContainer(unless["id"], admin)["status"] == "stopped");
  service.operate(admin, always["id"], "stop");
}

TEST_CASE("restart policy: a pending restart survives a kill -9 of berthd and runs when the service is back") {
  Service service;
  Json created = service.createContainer(service.adminToken(),
                                         Json{{"name", "looper"}, {"command", kFailAtOnce}, {"restart_policy", "on-failure"}});
  std::string id = created["id"];
  Json pending = awaitContainer(service, id, [](const Json& c) {
    return c["status"] == "stopped" && c["restart_count"] >= 5 && !c["next_restart_at"].is_null();
  });
  uint32_t attempt = pending["restart_count"];
  service.crash();
  service.start();
  // The pending restart, by its policy (not an autostart), with the attempt it was planned as.
  awaitContainer(service, id, [&](const Json& c) { return c["restart_count"] > attempt; });
  Json log = statusLog(service, id);
  bool found = false;
  for (const Json& entry : log)
    if (entry["metadata"]["operation"] == "restart_policy" && entry["metadata"]["attempt"] == attempt) found = true;
  CHECK(found);
  service.operate(service.adminToken(), id, "force-stop", 200);
}
