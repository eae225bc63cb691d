// Lifecycle operations over HTTP (API.md §4-§5): the operation x state
// matrix on real containers, status logs, concurrency, and a service restart.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include <httplib.h>

#include "e2e/service_fixture.hpp"

using namespace berth::e2e;

namespace {

using Clock = std::chrono::steady_clock;

// A container of the given status, made through the API only.
std::string containerIn(const Service& service, const std::string& status, const std::string& name) {
  const std::string& admin = service.adminToken();
  if (status == "failed") {
    Reply reply = service.post("/api/v1/containers", admin, Json{{"name", name}, {"command", {"/no/such/binary"}}}.dump());
    REQUIRE(reply.status == 422);
    std::string id = reply.data()["container_id"];
    // Still failed, but now with a command that works, so a start from failed can succeed.
    REQUIRE(service.patch(containerPath(id), admin, Json{{"command", kTermInit}}.dump()).status == 200);
    return id;
  }
  bool start = status != "stopped";
  std::string id = service.createContainer(admin, {{"name", name}, {"command", kTermInit}, {"autostart", start}})["id"];
  if (status == "paused") service.operate(admin, id, "pause");
  return id;
}

struct Expectation {
  const char* operation;
  const char* from;
  const char* to;  // nullptr: refused with OPERATION_STATE_CONFLICT
};

// API.md §4, every cell.
const Expectation kMatrix[] = {
    {"start", "stopped", "running"},     {"start", "failed", "running"},       {"start", "running", nullptr},
    {"start", "paused", nullptr},        {"stop", "running", "stopped"},       {"stop", "paused", "stopped"},
    {"stop", "stopped", nullptr},        {"stop", "failed", nullptr},          {"force-stop", "running", "stopped"},
    {"force-stop", "paused", "stopped"}, {"force-stop", "stopped", nullptr},   {"force-stop", "failed", nullptr},
    {"restart", "running", "running"},   {"restart", "stopped", "running"},    {"restart", "paused", nullptr},
    {"restart", "failed", nullptr},      {"pause", "running", "paused"},       {"pause", "paused", nullptr},
    {"pause", "stopped", nullptr},       {"pause", "failed", nullptr},         {"resume", "paused", "running"},
    {"resume", "running", nullptr},      {"resume", "stopped", nullptr},       {"resume", "failed", nullptr},
};

std::string successMessage(const std::string& operation) {
  if (operation == "start") return "Container started successfully";
  if (operation == "stop") return "Container stopped successfully";
  if (operation == "force-stop") return "Container force-stopped successfully";
  if (operation == "restart") return "Container restarted successfully";
  if (operation == "pause") return "Container paused successfully";
  return "Container resumed successfully";
}

size_t logCount(const Service& service, const std::string& id) {
  Reply logs = service.get(containerPath(id) + "/status-logs", service.adminToken());
  REQUIRE(logs.status == 200);
  return logs.data()["pagination"]["total"];
}

}  // namespace

TEST_CASE("every operation from every status answers as the table of API.md §4 says") {
  Service service;
  const std::string& admin = service.adminToken();
  int n = 0;
  for (const auto& cell : kMatrix) {
    std::string id = containerIn(service, cell.from, "m" + std::to_string(n++));
    size_t entriesBefore = logCount(service, id);
    std::string operation = cell.operation;
    std::string query = operation == "stop" || operation == "restart" ? "?timeout=5" : "";
    Reply reply = service.post(containerPath(id) + "/" + operation + query, admin);
    INFO(cell.operation << " from " << cell.from << " -> " << reply.text);
    if (cell.to) {
      REQUIRE(reply.status == 200);
      CHECK(reply.message() == "Container operation completed successfully");
      CHECK(reply.data() == Json{{"error", false},
                                 {"operation", cell.operation},
                                 {"container_id", id},
                                 {"project_id", reply.data()["project_id"]},
                                 {"message", successMessage(cell.operation)},
                                 {"status", cell.to}});
      CHECK(service.getContainer(id, admin)["status"] == cell.to);
      CHECK(logCount(service, id) > entriesBefore);
    } else {
      CHECK(reply.status == 400);
      CHECK(reply.code() == "OPERATION_STATE_CONFLICT");
      CHECK(reply.data()["error"] == true);
      CHECK(reply.data()["operation"] == cell.operation);
      CHECK(reply.data()["status"] == cell.from);
      // A refused operation changes nothing.
      CHECK(service.getContainer(id, admin)["status"] == cell.from);
      CHECK(logCount(service, id) == entriesBefore);
    }
  }
}

TEST_CASE("an unknown operation is VALIDATION_ERROR; timeout is checked; operations take no body") {
  Service service;
  const std::string& admin = service.adminToken();
  std::string id = containerIn(service, "running", "ops");
  struct Row {
    std::string suffix;
    std::optional<std::string> body;
    const char* messagePart;
  };
  const Row rows[] = {
      {"/kill", std::nullopt, "unknown operation kill"},
      {"/Start", std::nullopt, "unknown operation Start"},
      {"/stop?timeout=3601", std::nullopt, "timeout must be an integer between 0 and 3600"},
      {"/stop?timeout=-1", std::nullopt, "timeout must be"},
      {"/stop?timeout=abc", std::nullopt, "timeout must be"},
      {"/stop?timeout=1&timeout=2", std::nullopt, "timeout given more than once"},
      {"/stop?wait=1", std::nullopt, "unknown query parameter: wait"},
      {"/pause?timeout=5", std::nullopt, "timeout applies only to stop and restart"},
      {"/stop", std::string(R"({"timeout":5})"), "takes no request body"},
  };
  for (const auto& row : rows) {
    Reply reply = service.call("POST", containerPath(id) + row.suffix, admin, row.body);
    INFO(row.suffix << " -> " << reply.text);
    CHECK(reply.status == 400);
    CHECK(reply.code() == "VALIDATION_ERROR");
    CHECK_THAT(reply.message(), Catch::Contains(row.messagePart));
  }
  CHECK(service.getContainer(id, admin)["status"] == "running");
  // An empty JSON object counts as no body.
  service.call("POST", containerPath(id) + "/pause", admin, std::string("{}"));
  CHECK(service.getContainer(id, admin)["status"] == "paused");
}

TEST_CASE("status logs: one entry per change, restart writes two from running, paging and sorting are stable") {
  Service service;
  const std::string& admin = service.adminToken();
  std::string id = containerIn(service, "stopped", "audited");  // creating -> stopped
  service.operate(admin, id, "restart");                         // stopped -> running (one entry)
  service.operate(admin, id, "restart");                         // running -> stopped -> running (two)
  service.operate(admin, id, "pause");
  service.operate(admin, id, "resume");
  service.operate(admin, id, "stop");
  // 1 + 1 + 2 + 1 + 1 + 1
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"creating", "stopped"}, {"stopped", "running"}, {"running", "stopped"}, {"stopped", "running"},
      {"running", "paused"},   {"paused", "running"},  {"running", "stopped"}};

  Reply all = service.get(containerPath(id) + "/status-logs?sort_order=asc&limit=100", admin);
  REQUIRE(all.status == 200);
  const Json& entries = all.data()["logs"];
  REQUIRE(entries.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("entry " << i);
    CHECK(entries[i]["from_status"] == expected[i].first);
    CHECK(entries[i]["to_status"] == expected[i].second);
    CHECK(entries[i]["container_id"] == id);
    CHECK(entries[i]["duration_ms"].get<int64_t>() >= 0);
    if (i > 0) CHECK(entries[i]["id"].get<std::string>() > entries[i - 1]["id"].get<std::string>());
  }
  CHECK(entries[2]["metadata"]["operation"] == "restart");
  CHECK(entries[3]["metadata"]["operation"] == "restart");

  // Pages of 3, newest first, cover every entry exactly once.
  std::vector<std::string> paged;
  for (int page = 1; page <= 3; ++page) {
    Reply reply = service.get(containerPath(id) + "/status-logs?limit=3&page=" + std::to_string(page), admin);
    REQUIRE(reply.status == 200);
    CHECK(reply.data()["pagination"] == Json{{"total", 7}, {"page", page}, {"limit", 3}, {"totalPages", 3}});
    for (const auto& entry : reply.data()["logs"]) paged.push_back(entry["id"]);
  }
  std::vector<std::string> ascending;
  for (const auto& entry : entries) ascending.push_back(entry["id"]);
  std::reverse(ascending.begin(), ascending.end());
  CHECK(paged == ascending);

  Reply past = service.get(containerPath(id) + "/status-logs?limit=3&page=9", admin);
  REQUIRE(past.status == 200);
  CHECK(past.data()["logs"].empty());
  CHECK(past.data()["pagination"]["total"] == 7);

  Reply byStatus = service.get(containerPath(id) + "/status-logs?sort_by=to_status&sort_order=asc&limit=100", admin);
  REQUIRE(byStatus.status == 200);
  std::vector<std::string> statuses;
  for (const auto& entry : byStatus.data()["logs"]) statuses.push_back(entry["to_status"]);
  CHECK(std::is_sorted(statuses.begin(), statuses.end()));

  for (const char* bad : {"?sort_by=id", "?sort_order=up", "?limit=0", "?limit=101", "?page=0",
                          "?page=99999999999999999999", "?foo=bar"}) {
    Reply reply = service.get(containerPath(id) + "/status-logs" + bad, admin);
    INFO(bad << " -> " << reply.text);
    CHECK(reply.status == 400);
    CHECK(reply.code() == "VALIDATION_ERROR");
  }
}

TEST_CASE("a force-stop during a graceful stop escalates it; both answer once stopped") {
  Service service;
  const std::string& admin = service.adminToken();
  std::string id = service.createContainer(admin, {{"name", "stubborn"}, {"command", kStubbornInit}})["id"];
  auto start = Clock::now();
  auto graceful = std::async(std::launch::async, [&] { return service.post(containerPath(id) + "/stop?timeout=60", admin); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Reply forced = service.post(containerPath(id) + "/force-stop", admin);
  Reply stopped = graceful.get();
  auto took = Clock::now() - start;
  INFO(forced.text << " / " << stopped.text);
  CHECK(forced.status == 200);
  CHECK(stopped.status == 200);
  CHECK(stopped.data()["status"] == "stopped");
  CHECK(took < std::chrono::seconds(10));
}

TEST_CASE("50 graceful stops in flight do not starve /healthz or a GET") {
  Service service;
  const std::string& admin = service.adminToken();
  constexpr int kContainers = 50;
  std::vector<std::string> ids(kContainers);
  {
    // Created in parallel to keep the test short.
    std::vector<std::future<void>> creators;
    for (int worker = 0; worker < 5; ++worker) {
      creators.push_back(std::async(std::launch::async, [&, worker] {
        for (int i = worker; i < kContainers; i += 5) {
          Reply reply = service.post("/api/v1/containers", admin,
                                     Json{{"name", "s" + std::to_string(i)}, {"command", kStubbornInit}}.dump());
          if (reply.status == 201) ids[static_cast<size_t>(i)] = reply.data()["id"];
        }
      }));
    }
    for (auto& creator : creators) creator.get();
  }
  for (const auto& id : ids) REQUIRE_FALSE(id.empty());

  auto began = Clock::now();
  std::vector<std::future<Reply>> stops;
  for (const auto& id : ids)
    stops.push_back(std::async(std::launch::async, [&service, &admin, id] {
      return service.post(containerPath(id) + "/stop?timeout=5", admin);
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // While every stop waits out its grace period, the service answers at once.
  httplib::Client client("127.0.0.1", service.port());
  client.set_keep_alive(true);
  auto slowest = std::chrono::milliseconds(0);
  for (int i = 0; i < 20; ++i) {
    auto t0 = Clock::now();
    auto health = client.Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    auto got = client.Get(containerPath(ids[static_cast<size_t>(i)]).c_str(),
                          httplib::Headers{{"Authorization", "Bearer " + admin}});
    REQUIRE(got);
    CHECK(got->status == 200);
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0));
  }
  CHECK(Clock::now() - began < std::chrono::seconds(5));  // all of that happened during the grace period
  INFO("slowest /healthz + GET pair: " << slowest.count() << " ms");
  CHECK(slowest < std::chrono::milliseconds(500));

  for (auto& stop : stops) {
    Reply reply = stop.get();
    INFO(reply.text);
    CHECK(reply.status == 200);
    CHECK(reply.data()["status"] == "stopped");
  }
  auto total = Clock::now() - began;
  CHECK(total >= std::chrono::seconds(5));   // each waited its grace period...
  CHECK(total < std::chrono::seconds(20));   // ...in parallel, not one after another
}

TEST_CASE("SIGTERM stops the service but not the containers; the next start adopts them") {
  Service service;
  const std::string& admin = service.adminToken();
  Json running = service.createContainer(admin, {{"name", "survivor"}, {"command", kTermInit}});
  int pid = running["pid"];
  pid_t servicePid = service.pid();
  service.restart();
  CHECK(service.pid() != servicePid);
  CHECK(::kill(pid, 0) == 0);  // the container's init lived through it
  std::string token = service.login("admin", service.adminPassword());
  Json adopted = service.getContainer(running["id"], token);
  CHECK(adopted["status"] == "running");
  CHECK(adopted["pid"] == pid);
  // Tokens survive the restart (the signing secret is in the data dir).
  CHECK(service.get("/api/v1/users/me", admin).status == 200);
  // And the adopted container is fully manageable.
  service.operate(admin, running["id"], "stop");
  CHECK(::kill(pid, 0) != 0);
}
