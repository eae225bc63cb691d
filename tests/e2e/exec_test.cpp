// Processes inside a running container (API.md §13) against the real
// berthd: exec with its output and exit code, what it shares with the init
// (read from the host's /proc), its timeout, its ownership by the container
// (stop, pause, a crash of berthd), and the terminal WebSocket driven by an
// independent client (node's ws).
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/files.hpp"
#include "e2e/raw_socket.hpp"
#include "e2e/service_fixture.hpp"
#include "e2e/terminal_session.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

std::string containerPath(const Json& id) { return "/api/v1/containers/" + id.get<std::string>(); }

Json runningContainer(const Service& service, const std::string& name) {
  Json made = service.createContainer(service.adminToken(), Json{{"name", name}, {"command", kTermInit}});
  REQUIRE(made["status"] == "running");
  return made;
}

Reply exec(const Service& service, const Json& container, const Json& body, const std::string& token = {}) {
  return service.post(containerPath(container["id"]) + "/exec", token.empty() ? service.adminToken() : token,
                      body.dump());
}

std::string procFile(pid_t pid, const std::string& name) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/" + name);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The lines of /proc/<pid>/status that name the security profile.
std::string securityLines(pid_t pid) {
  std::istringstream status(procFile(pid, "status"));
  std::string line, kept;
  while (std::getline(status, line))
    if (line.starts_with("Cap") || line.starts_with("NoNewPrivs") || line.starts_with("Seccomp")) kept += line + "\n";
  return kept;
}

std::string namespaceOf(pid_t pid, const std::string& kind) {
  char target[256];
  std::string link = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  return n < 0 ? std::string() : std::string(target, static_cast<size_t>(n));
}

// Polls the container's exec records until one with this command's first word runs.
Json awaitRunningExec(const Service& service, const Json& container, const std::string& marker) {
  for (int i = 0; i < 200; ++i) {
    Reply listed = service.get(containerPath(container["id"]) + "/execs", service.adminToken());
    REQUIRE(listed.status == 200);
    for (const Json& record : listed.data()["execs"])
      if (record["state"] == "running" && record["command"].dump().find(marker) != std::string::npos) return record;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("no running exec of " << marker);
  return {};
}

bool processAlive(pid_t pid) { return ::kill(pid, 0) == 0; }

// An exec request on a raw socket, its answer read later (or cut off with the service).
UniqueFd sendExec(const Service& service, const Json& container, const Json& body) {
  UniqueFd fd = connectTo(service.port());
  const std::string text = body.dump();
  sendAll(fd.get(), "POST " + containerPath(container["id"]) + "/exec HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                        service.adminToken() + "\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n" + text);
  return fd;
}

// Everything the server sends until it closes (bounded).
std::string readUntilClosed(int fd) {
  std::string answer;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < end && readSome(fd, answer, std::chrono::milliseconds(500))) {
  }
  return answer;
}

}  // namespace

TEST_CASE("exec: output, exit code, env over the container's, working dir, 126 and 127") {
  Service service;
  Json container = service.createContainer(
      service.adminToken(),
      Json{{"name", "ex"}, {"command", kTermInit}, {"env", {{"GREETING", "hi"}, {"KEPT", "yes"}}}, {"working_dir", "/tmp"}});

  Reply done = exec(service, container, Json{{"command", {"sh", "-c", "echo out-$GREETING-$KEPT; echo err >&2; pwd; exit 3"}},
                                             {"env", {{"GREETING", "hello"}}}});
  REQUIRE(done.status == 200);
  CHECK(done.data()["exit_code"] == 3);
  CHECK(done.data()["exit_signal"].is_null());
  CHECK(done.data()["stdout"] == "out-hello-yes\n/tmp\n");
  CHECK(done.data()["stderr"] == "err\n");
  CHECK(done.data()["truncated"] == false);
  CHECK(done.data()["state"] == "exited");
  CHECK(done.data()["duration_ms"].get<int64_t>() >= 0);

  Reply elsewhere = exec(service, container, Json{{"command", {"pwd"}}, {"working_dir", "/etc"}});
  CHECK(elsewhere.data()["stdout"] == "/etc\n");

  Reply missing = exec(service, container, Json{{"command", {"no-such-command"}}});
  REQUIRE(missing.status == 200);
  CHECK(missing.data()["exit_code"] == 127);
  CHECK(missing.data()["stderr"].get<std::string>().find("no-such-command") != std::string::npos);
  Reply notExecutable = exec(service, container, Json{{"command", {"/etc/passwd"}}});
  CHECK(notExecutable.data()["exit_code"] == 126);

  // A working dir the container lacks is the request's mistake.
  Reply noDir = exec(service, container, Json{{"command", {"pwd"}}, {"working_dir", "/no/such/dir"}});
  CHECK(noDir.status == 400);
  CHECK(noDir.message().find("/no/such/dir") != std::string::npos);

  // Every exec is recorded, newest first, and can be read back.
  Reply listed = service.get(containerPath(container["id"]) + "/execs", service.adminToken());
  REQUIRE(listed.status == 200);
  REQUIRE(listed.data()["execs"].size() == 4);
  CHECK(listed.data()["execs"][0]["id"] == notExecutable.data()["id"]);
  Reply one = service.get(containerPath(container["id"]) + "/execs/" + done.data()["id"].get<std::string>(),
                          service.adminToken());
  CHECK(one.data()["stdout"] == "out-hello-yes\n/tmp\n");
  CHECK(service.get(containerPath(container["id"]) + "/execs/0123456789abcdef01234567", service.adminToken()).code() ==
        "EXEC_NOT_FOUND");
}

TEST_CASE("exec: output past 1 MiB is cut and flagged, and the timeout kills the whole session") {
  Service service;
  Json container = runningContainer(service, "big");
  Reply big = exec(service, container, Json{{"command", {"sh", "-c", "yes abcdefgh | head -c 3000000; echo done >&2"}}});
  REQUIRE(big.status == 200);
  CHECK(big.data()["exit_code"] == 0);
  CHECK(big.data()["stdout"].get<std::string>().size() == 1u << 20);
  CHECK(big.data()["stderr"] == "done\n");
  CHECK(big.data()["truncated"] == true);

  auto started = std::chrono::steady_clock::now();
  Reply slow = exec(service, container, Json{{"command", {"sh", "-c", "sleep 300 & sleep 301"}}, {"timeout_s", 1}});
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(slow.status == 200);
  CHECK(slow.data()["exit_signal"] == "SIGKILL");
  CHECK(slow.data()["exit_code"] == 137);
  CHECK(took < std::chrono::seconds(5));
  // The background sleep was in the exec's session: it went too.
  Reply left = exec(service, container, Json{{"command", {"sh", "-c", "ps -o args | grep -c '[s]leep 30'"}}});
  CHECK(left.data()["stdout"] == "0\n");
}

TEST_CASE("exec: the process has the init's namespaces, cgroups, capabilities, no_new_privs and seccomp filter") {
  Service service;
  Json container = runningContainer(service, "same");
  const pid_t initPid = service.getContainer(container["id"], service.adminToken())["pid"].get<pid_t>();

  // It ticks into a file of the container's: a pause that froze it stops the ticks.
  UniqueFd waiting = sendExec(service, container,
                              Json{{"command", {"sh", "-c", "while :; do echo x >> /tmp/ticks; sleep 0.02; done"}},
                                   {"timeout_s", 60}});
  Json running = awaitRunningExec(service, container, "ticks");
  const pid_t execPid = running["pid"].get<pid_t>();
  REQUIRE(execPid > 0);
  for (const char* kind : {"pid", "mnt", "net", "uts", "ipc", "cgroup"}) {
    INFO(kind);
    CHECK(!namespaceOf(initPid, kind).empty());
    CHECK(namespaceOf(execPid, kind) == namespaceOf(initPid, kind));
  }
  CHECK(procFile(execPid, "cgroup") == procFile(initPid, "cgroup"));
  CHECK(securityLines(execPid) == securityLines(initPid));
  CHECK(securityLines(execPid).find("NoNewPrivs:\t1") != std::string::npos);
  CHECK(securityLines(execPid).find("Seccomp:\t2") != std::string::npos);

  // It is one of the container's processes: pause freezes it, force-stop ends it.
  Json info = service.get(containerPath(container["id"]) + "?runtime=true", service.adminToken()).data();
  bool listed = false;
  for (const Json& process : info["runtime_info"]["processes"]) listed |= process["pid"] == execPid;
  CHECK(listed);
  auto ticked = [&] { return procFile(initPid, "root/tmp/ticks").size(); };
  REQUIRE(service.operate(service.adminToken(), container["id"], "pause").status == 200);
  const size_t atPause = ticked();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(ticked() == atPause);
  Reply whilePaused = exec(service, container, Json{{"command", {"true"}}});
  CHECK(whilePaused.status == 400);
  CHECK(whilePaused.code() == "OPERATION_STATE_CONFLICT");
  REQUIRE(service.operate(service.adminToken(), container["id"], "resume").status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(ticked() > atPause);
  REQUIRE(service.operate(service.adminToken(), container["id"], "force-stop").status == 200);
  std::string ended = readUntilClosed(waiting.get());
  CHECK(ended.starts_with("HTTP/1.1 200"));
  CHECK(ended.find("\"exit_signal\":\"SIGKILL\"") != std::string::npos);
  CHECK_FALSE(processAlive(execPid));

  // Started again in the group cgroup.kill was used on: the init and an exec,
  // both cloned into it, live (Linux 6.15+ kills a process cloned into a killed group).
  REQUIRE(service.operate(service.adminToken(), container["id"], "start").status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Json again = service.getContainer(container["id"], service.adminToken());
  CHECK(again["status"] == "running");
  Reply afterRestart = exec(service, container, Json{{"command", {"sh", "-c", "echo alive"}}});
  REQUIRE(afterRestart.status == 200);
  CHECK(afterRestart.data()["exit_code"] == 0);
  CHECK(afterRestart.data()["stdout"] == "alive\n");
}

TEST_CASE("exec: bad requests are refused and leave the container running") {
  Service service;
  Json container = runningContainer(service, "bad");
  const std::string path = containerPath(container["id"]) + "/exec";
  const std::string admin = service.adminToken();
  for (const std::string& body :
       {std::string(R"({})"), std::string(R"({"command":[]})"), std::string(R"({"command":"ls"})"),
        std::string(R"({"command":[""]})"), std::string(R"({"command":["ls\u0000x"]})"),
        std::string(R"({"command":["ls"],"env":{"A=B":"c"}})"), std::string(R"({"command":["ls"],"env":{"A":"b\u0000"}})"),
        std::string(R"({"command":["ls"],"working_dir":"/tmp/../etc"})"), std::string(R"({"command":["ls"],"working_dir":"tmp"})"),
        std::string(R"({"command":["ls"],"timeout_s":0})"), std::string(R"({"command":["ls"],"timeout_s":3601})"),
        std::string(R"({"command":["ls"],"extra":1})"), std::string(R"(not json)")}) {
    INFO(body);
    Reply refused = service.post(path, admin, body);
    CHECK(refused.status == 400);
    CHECK(refused.code() == "VALIDATION_ERROR");
  }
  TestUser viewer = service.createUser("viewer1");
  Reply added = service.post("/api/v1/projects/" + container["project_id"].get<std::string>() + "/members", admin,
                             Json{{"user_id", viewer.id}, {"role", "viewer"}}.dump());
  REQUIRE(added.status == 201);
  Reply forbidden = exec(service, container, Json{{"command", {"true"}}}, viewer.token);
  CHECK(forbidden.status == 403);

  Json stopped = service.createContainer(admin, Json{{"name", "off"}, {"command", kTermInit}, {"autostart", false}});
  Reply notRunning = exec(service, stopped, Json{{"command", {"true"}}});
  CHECK(notRunning.status == 400);
  CHECK(notRunning.code() == "OPERATION_STATE_CONFLICT");

  CHECK(service.getContainer(container["id"], admin)["status"] == "running");
  Reply listed = service.get(containerPath(container["id"]) + "/execs", admin);
  CHECK(listed.data()["execs"].empty());
}

TEST_CASE("exec: a process survives a kill -9 of berthd and its exit is recorded") {
  Service service;
  Json container = runningContainer(service, "lasting");
  UniqueFd cut = sendExec(service, container, Json{{"command", {"sh", "-c", "sleep 1.5; echo finished; exit 7"}}});
  Json running = awaitRunningExec(service, container, "finished");
  service.crash();
  CHECK(readUntilClosed(cut.get()).empty());  // the answer was cut off with the service
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  service.start();
  Reply record = service.get(containerPath(container["id"]) + "/execs/" + running["id"].get<std::string>(),
                             service.adminToken());
  REQUIRE(record.status == 200);
  CHECK(record.data()["state"] == "exited");
  CHECK(record.data()["exit_code"] == 7);
  CHECK(record.data()["stdout"] == "finished\n");
  // The restarted service execs in the container it adopted.
  CHECK(exec(service, container, Json{{"command", {"true"}}}).data()["exit_code"] == 0);
}

TEST_CASE("terminal: a shell on a pseudo-terminal, resized, closing with its exit code") {
  Service service;
  Json container = runningContainer(service, "tty");
  const std::string id = container["id"];
  TerminalRun run = runTerminalClient(terminalUrl(service.port(), id, {}, 80, 24), service.adminToken(),
                                      Json::array({Json{{"send", "echo $((6*7))\n"}},
                                                   Json{{"expect", "\\r?\\n42\\r?\\n"}},
                                                   Json{{"send", "tty\n"}},
                                                   Json{{"expect", "/dev/pts/\\d+"}},
                                                   Json{{"resize", {100, 40}}},
                                                   Json{{"send", "stty size\n"}},
                                                   Json{{"expect", "40 100"}},
                                                   Json{{"send", "exit 3\n"}},
                                                   Json{{"waitClose", true}}}));
  INFO(run.output << " / " << run.error);
  CHECK(run.opened);
  CHECK(run.error.empty());
  CHECK(run.closeCode == 1000);
  CHECK(run.closeReason == "3");
  CHECK(run.closedBy == "server");

  // A command of its own, the token in the query (for browsers) and never in the log.
  TerminalRun viaQuery = runTerminalClient(terminalUrl(service.port(), id, {"sh", "-c", "echo via-query; exit 0"}, 80, 24,
                                                       service.adminToken()),
                                           "", Json::array({Json{{"expect", "via-query"}}, Json{{"waitClose", true}}}));
  CHECK(viaQuery.opened);
  CHECK(viaQuery.closeReason == "0");
  CHECK(service.logText().find(service.adminToken()) == std::string::npos);
  CHECK(service.logText().find("/terminal") != std::string::npos);

  // The records say the terminals ran.
  Reply listed = service.get(containerPath(container["id"]) + "/execs", service.adminToken());
  REQUIRE(listed.data()["execs"].size() == 2);
  CHECK(listed.data()["execs"][1]["terminal"] == true);
  CHECK(listed.data()["execs"][1]["exit_code"] == 3);
}

TEST_CASE("terminal: refusals before the upgrade, garbage after it, a client that leaves") {
  Service service;
  Json container = runningContainer(service, "tty2");
  const std::string id = container["id"];
  // No WebSocket headers: a plain 400.
  Reply plain = service.get("/api/v1/containers/" + id + "/terminal", service.adminToken());
  CHECK(plain.status == 400);
  TerminalRun noToken = runTerminalClient(terminalUrl(service.port(), id, {}, 80, 24), "", Json::array());
  CHECK(noToken.httpStatus == 401);
  TerminalRun badSize = runTerminalClient(terminalUrl(service.port(), id, {}, 0, 24), service.adminToken(), Json::array());
  CHECK(badSize.httpStatus == 400);
  Json stopped = service.createContainer(service.adminToken(), Json{{"name", "off2"}, {"command", kTermInit}, {"autostart", false}});
  TerminalRun notRunning =
      runTerminalClient(terminalUrl(service.port(), stopped["id"], {}, 80, 24), service.adminToken(), Json::array());
  CHECK(notRunning.httpStatus == 400);

  // An unmasked frame from a client is a protocol error; so is a text message that is no resize.
  TerminalRun unmasked = runTerminalClient(terminalUrl(service.port(), id, {}, 80, 24), service.adminToken(),
                                           Json::array({Json{{"sendRawBytes", "820568656c6c6f"}}, Json{{"waitClose", true}}}));
  CHECK(unmasked.closeCode == 1002);
  TerminalRun notResize = runTerminalClient(terminalUrl(service.port(), id, {}, 80, 24), service.adminToken(),
                                            Json::array({Json{{"sendText", "{\"type\":\"dance\"}"}}, Json{{"waitClose", true}}}));
  CHECK(notResize.closeCode == 1002);

  // A client that closes hangs the terminal up: its shell ends and is recorded.
  TerminalRun leaving = runTerminalClient(terminalUrl(service.port(), id, {}, 80, 24), service.adminToken(),
                                          Json::array({Json{{"send", "echo ready\n"}}, Json{{"expect", "ready"}}, Json{{"close", true}}}));
  CHECK(leaving.closedBy == "client");
  bool allEnded = false;
  for (int i = 0; i < 100 && !allEnded; ++i) {
    Reply listed = service.get("/api/v1/containers/" + id + "/execs", service.adminToken());
    allEnded = true;
    for (const Json& record : listed.data()["execs"]) allEnded &= record["state"] == "exited";
    if (!allEnded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(allEnded);
  CHECK(service.getContainer(id, service.adminToken())["status"] == "running");
}
