// Inside the container (API.md §14): its own cgroups at /sys/fs/cgroup,
// read-only, following a live PATCH of its resources; /run a tmpfs;
// /etc/hostname its hostname. Read through exec, as a program in it would.
#include <catch2/catch.hpp>
#include <sstream>

#include "e2e/service_fixture.hpp"

using namespace berth::e2e;

namespace {

std::string containerPath(const Json& id) { return "/api/v1/containers/" + id.get<std::string>(); }

Json execIn(const Service& service, const Json& container, const std::string& script) {
  Reply reply = service.post(containerPath(container["id"]) + "/exec", service.adminToken(),
                             Json{{"command", {"/bin/sh", "-c", script}}}.dump());
  INFO(reply.text);
  REQUIRE(reply.status == 200);
  return reply.data();
}

// memory limit in bytes, cpu quota in µs per 100 ms period, pids.max: the
// v1 files on a hybrid host, the v2 ones on a pure v2 host.
const char* kReadLimits =
    "if [ -d /sys/fs/cgroup/memory ]; then"
    "  cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max;"
    "else"
    "  cat /sys/fs/cgroup/memory.max; cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/pids.max;"
    "fi";

std::string limitsText(uint64_t memoryBytes, uint64_t quotaUsec, uint64_t pids) {
  std::ostringstream text;
  text << memoryBytes << "\n" << quotaUsec << "\n" << pids << "\n";
  return text.str();
}

}  // namespace

TEST_CASE("inside: the container reads its own limits at /sys/fs/cgroup and sees a live PATCH") {
  Service service;
  const std::string& admin = service.adminToken();
  Json box = service.createContainer(
      admin, {{"name", "limits"},
              {"command", kTermInit},
              {"resources", {{"memory_mb", 128}, {"cpu_millicores", 250}, {"pids_max", 40}}}});
  REQUIRE(box["status"] == "running");

  Json before = execIn(service, box, kReadLimits);
  INFO(before.dump());
  CHECK(before["exit_code"] == 0);
  CHECK(before["stdout"] == limitsText(128ull << 20, 25000, 40));

  Reply patched = service.patch(containerPath(box["id"]), admin,
                                R"({"resources":{"memory_mb":64,"cpu_millicores":1500,"pids_max":55}})");
  REQUIRE(patched.status == 200);
  CHECK(patched.data()["restarted"] == false);
  Json after = execIn(service, box, kReadLimits);
  INFO(after.dump());
  CHECK(after["stdout"] == limitsText(64ull << 20, 150000, 55));

  // Seen through its cgroup namespace: the container is the root of each hierarchy.
  Json self = execIn(service, box, "cat /proc/self/cgroup");
  std::istringstream lines(self["stdout"].get<std::string>());
  int lineCount = 0;
  for (std::string line; std::getline(lines, line); ++lineCount) {
    INFO(line);
    CHECK(line.ends_with(":/"));
  }
  CHECK(lineCount > 0);
}

TEST_CASE("inside: nothing under /sys/fs/cgroup is writable; /run is a tmpfs; /etc/hostname holds the hostname") {
  Service service;
  const std::string& admin = service.adminToken();
  Json box = service.createContainer(
      admin, {{"name", "walls"}, {"hostname", "inside.example"}, {"command", kTermInit}, {"resources", {{"pids_max", 30}}}});
  REQUIRE(box["status"] == "running");

  for (const char* attempt : {"echo 1 > /sys/fs/cgroup/pids/pids.max 2>&1 || echo 1 > /sys/fs/cgroup/pids.max",
                              "echo 1 > /sys/fs/cgroup/unified/cgroup.freeze 2>&1 || echo 1 > /sys/fs/cgroup/cgroup.freeze",
                              "mkdir /sys/fs/cgroup/pids/escape 2>&1 || mkdir /sys/fs/cgroup/escape",
                              "touch /sys/fs/cgroup/new-file"}) {
    Json tried = execIn(service, box, attempt);
    INFO(attempt << " -> " << tried.dump());
    CHECK(tried["exit_code"] != 0);
    const std::string said = tried["stderr"].get<std::string>() + tried["stdout"].get<std::string>();
    CHECK((said.find("Read-only file system") != std::string::npos || said.find("Permission denied") != std::string::npos));
  }
  // The limit is still the service's.
  Json limit = execIn(service, box, "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max");
  CHECK(limit["stdout"] == "30\n");

  // mountinfo: "... <mount point> <options> ... - <fstype> <source> <super options>"
  Json run = execIn(service, box, "grep ' /run ' /proc/self/mountinfo");
  INFO(run.dump());
  const std::string line = run["stdout"].get<std::string>();
  CHECK(line.find(" /run rw,nosuid,nodev,noexec") != std::string::npos);
  CHECK(line.find(" - tmpfs ") != std::string::npos);
  Json written = execIn(service, box, "echo pid > /run/app.pid && cat /run/app.pid");
  CHECK(written["stdout"] == "pid\n");

  Json hostname = execIn(service, box, "cat /etc/hostname; hostname");
  CHECK(hostname["stdout"] == "inside.example\ninside.example\n");
}
