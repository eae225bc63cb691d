// berth as an operator uses it at a shell (issue 22), against the real
// berthd: tables and the -o formats, names for ids, the short forms, one-line
// errors with the API's code, run --rm, login's config file, exec -it and the
// progress line on a pseudo-terminal, completion scripts.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/cli_runner.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The table row that starts with `id`, or "".
std::string rowOf(const std::string& table, const std::string& id) {
  for (const auto& line : lines(table))
    if (line.rfind(id, 0) == 0) return line;
  return {};
}

size_t columnsOf(const std::string& line) {
  size_t width = 0;
  for (unsigned char c : line) width += (c & 0xC0) != 0x80;
  return width;
}

}  // namespace

TEST_CASE("cli: ps and containers list are tables; -o json|yaml|name|wide and -q; names wherever an id goes") {
  Service service;
  const std::string& admin = service.adminToken();
  Json web = service.createContainer(admin, {{"name", "web"}, {"command", kTermInit}});
  Json idle = service.createContainer(admin, {{"name", "idle"}, {"command", kTermInit}, {"autostart", false}});
  const std::string webId = web["id"], idleId = idle["id"];

  ProgramRun ps = runCli(service, admin, {"ps"});
  INFO(ps.out << ps.err);
  REQUIRE(ps.exitCode == 0);
  CHECK(ps.err.empty());
  std::vector<std::string> table = lines(ps.out);
  REQUIRE(table.size() == 2);  // running ones only
  CHECK(table[0].rfind("ID", 0) == 0);
  for (const char* header : {"NAME", "STATUS", "IMAGE", "IP", "CREATED"}) CHECK(contains(table[0], header));
  CHECK_FALSE(contains(table[0], "PORTS"));
  std::string row = rowOf(ps.out, webId);
  CHECK(contains(row, " web "));
  CHECK(contains(row, " running "));
  CHECK(contains(row, " busybox "));
  CHECK((contains(row, " ago") || contains(row, "just now")));
  // Columns line up: each header starts where its cells start.
  CHECK(table[0].find("STATUS") == row.find("running"));

  ProgramRun all = runCli(service, admin, {"ps", "-a"});
  CHECK(contains(rowOf(all.out, idleId), " stopped"));
  ProgramRun listed = runCli(service, admin, {"containers", "list"});
  CHECK(lines(listed.out).size() == 3);

  ProgramRun asJson = runCli(service, admin, {"ps", "-a", "-o", "json"});
  REQUIRE(asJson.exitCode == 0);
  Json data = asJson.json();
  REQUIRE(data["containers"].size() == 2);
  for (const Json& c : data["containers"]) CHECK(c == service.getContainer(c["id"], admin));

  CHECK(runCli(service, admin, {"ps", "-q"}).out == webId + "\n");
  CHECK(runCli(service, admin, {"-o", "name", "ps", "-a"}).out.find("idle\n") != std::string::npos);
  ProgramRun wide = runCli(service, admin, {"ps", "-o", "wide"});
  CHECK(contains(lines(wide.out)[0], "PORTS"));
  CHECK(contains(lines(wide.out)[0], "COMMAND"));
  ProgramRun yaml = runCli(service, admin, {"inspect", "web", "-o", "yaml"});
  INFO(yaml.out);
  CHECK(contains(yaml.out, "\nname: web\n"));
  CHECK(contains(yaml.out, "id: \"" + webId + "\"\n"));  // hex that could read as a number is quoted
  CHECK(contains(yaml.out, "autostart: true\n"));

  // By name, by runtime id and by id: the same container.
  CHECK(runCli(service, admin, {"inspect", "web"}).json()["id"] == webId);
  CHECK(runCli(service, admin, {"inspect", web["runtime_id"].get<std::string>()}).json()["id"] == webId);
  CHECK(runCli(service, admin, {"containers", "get", webId}).json()["name"] == "web");

  // The short forms print what they were given and change the status.
  ProgramRun paused = runCli(service, admin, {"pause", "web"});
  CHECK(paused.out == "web\n");
  CHECK(service.getContainer(webId, admin)["status"] == "paused");
  CHECK(runCli(service, admin, {"resume", "web"}).exitCode == 0);
  CHECK(runCli(service, admin, {"stop", "web", "idle", "-t", "5"}).exitCode == 1);  // idle is already stopped
  CHECK(service.getContainer(webId, admin)["status"] == "stopped");
  ProgramRun started = runCli(service, admin, {"start", "web", "idle", "-q"});
  CHECK(started.out == webId + "\n" + idleId + "\n");
  ProgramRun removed = runCli(service, admin, {"rm", "-f", "idle"});
  CHECK(removed.out == "idle\n");
  CHECK(service.get(containerPath(idleId), admin).status == 404);
}

TEST_CASE("cli: images, snapshots, users and projects list as tables and take names") {
  Service service;
  const std::string& admin = service.adminToken();
  Json box = service.createContainer(admin, {{"name", "box"}, {"command", kTermInit}, {"autostart", false}});

  ProgramRun images = runCli(service, admin, {"images"});
  REQUIRE(images.exitCode == 0);
  CHECK(contains(lines(images.out)[0], "NAME"));
  CHECK(contains(images.out, "busybox"));
  CHECK(runCli(service, admin, {"images", "-q"}).out == "busybox\n");

  REQUIRE(runCli(service, admin, {"snapshots", "create", "box", "before"}).exitCode == 0);
  ProgramRun snapshots = runCli(service, admin, {"snapshots", "box"});
  INFO(snapshots.out << snapshots.err);
  CHECK(contains(lines(snapshots.out)[0], "ALIAS"));
  CHECK(contains(snapshots.out, "before"));
  ProgramRun restored = runCli(service, admin, {"snapshots", "restore", "box", "before"});  // by alias
  INFO(restored.err);
  CHECK(restored.exitCode == 0);
  CHECK(runCli(service, admin, {"snapshots", "delete", "box", "before"}).exitCode == 0);
  CHECK(runCli(service, admin, {"snapshots", "box", "-o", "json"}).json()["snapshots"].empty());

  TestUser alice = service.createUser("alice");
  ProgramRun users = runCli(service, admin, {"users"});
  CHECK(contains(lines(users.out)[0], "USERNAME"));
  CHECK(contains(rowOf(users.out, alice.id), " alice "));
  REQUIRE(runCli(service, admin, {"users", "ban", "alice"}).exitCode == 0);
  CHECK(service.get("/api/v1/users/" + alice.id, admin).data()["banned"] == true);
  REQUIRE(runCli(service, admin, {"users", "unban", "alice"}).exitCode == 0);

  ProgramRun created = runCli(service, admin, {"projects", "create", "team", "-q"});
  REQUIRE(created.exitCode == 0);
  std::string team = lines(created.out).at(0);
  CHECK(runCli(service, admin, {"projects", "add-member", "team", "alice", "--role", "operator"}).exitCode == 0);
  ProgramRun projects = runCli(service, admin, {"projects"});
  CHECK(contains(rowOf(projects.out, team), " team "));
  // A container created into the project by its name.
  ProgramRun made = runCli(service, admin, {"containers", "create", "in-team", "--project", "team", "--no-autostart", "-q"});
  INFO(made.err);
  REQUIRE(made.exitCode == 0);
  CHECK(service.getContainer(lines(made.out).at(0), admin)["project_id"] == team);
}

TEST_CASE("cli: every error is one line with the API's status and code, and a non-zero exit") {
  Service service;
  const std::string& admin = service.adminToken();
  service.createContainer(admin, {{"name", "web"}, {"command", kTermInit}});

  auto oneLine = [](const ProgramRun& run, const std::string& start) {
    INFO(run.err);
    CHECK(run.exitCode == 1);
    CHECK(run.out.empty());
    CHECK(run.err.rfind(start, 0) == 0);
    CHECK(lines(run.err).size() == 1);
  };
  oneLine(runCli(service, admin, {"inspect", "nosuch"}), "berth: 404 CONTAINER_NOT_FOUND: ");
  oneLine(runCli(service, admin, {"start", "web"}), "berth: 400 OPERATION_STATE_CONFLICT: ");
  oneLine(runCli(service, admin, {"logs", "0123456789abcdef01234567"}), "berth: 404 CONTAINER_NOT_FOUND: ");
  oneLine(runCli(service, "", {"containers", "get", "0123456789abcdef01234567"}), "berth: 401 MISSING_TOKEN: ");
  oneLine(runCli(service, "not-a-token", {"ps"}), "berth: 401 INVALID_TOKEN: ");
  oneLine(runCli(service, admin, {"users", "ban", "nobody"}), "berth: 404 USER_NOT_FOUND: ");
  // Nothing listens there (the port of a socket bound and closed at once is free).
  oneLine(runCli(service, admin, {"--url", "http://127.0.0.1:1", "ps"}), "berth: cannot reach http://127.0.0.1:1");
  // A usage error is CLI11's, before any request.
  ProgramRun usage = runCli(service, admin, {"ps", "-o", "xml"});
  CHECK(usage.exitCode != 0);
  CHECK(usage.out.empty());
}

TEST_CASE("cli: run follows the output and exits with the init's code; --rm deletes it; -d leaves it running") {
  Service service;
  const std::string& admin = service.adminToken();

  ProgramRun once = runCli(service, admin, {"run", "hello", "--rm", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"});
  INFO(once.out << once.err);
  CHECK(once.exitCode == 3);
  CHECK(contains(once.out, "hi\n"));
  CHECK(contains(once.out, "oops\n"));  // the console log has both streams
  CHECK(service.get("/api/v1/containers", admin).data()["containers"].empty());

  ProgramRun kept = runCli(service, admin, {"run", "kept", "--", "sh", "-c", "echo bye"});
  CHECK(kept.exitCode == 0);
  Json listed = service.get("/api/v1/containers", admin).data()["containers"];
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["status"] == "stopped");
  CHECK(listed[0]["exit_code"] == 0);

  // A start that fails leaves nothing behind with --rm.
  ProgramRun broken = runCli(service, admin, {"run", "broken", "--rm", "--", "/no/such/command"});
  CHECK(broken.exitCode == 1);
  CHECK(contains(broken.err, "berth: 422 START_FAILED: "));
  CHECK(service.get("/api/v1/containers", admin).data()["containers"].size() == 1);

  ProgramRun detached = runCli(service, admin, {"run", "-d", "bg", "-e", "WHO=bg", "--", "sh", "-c",
                                                "echo one; echo two-$WHO; trap 'exit 0' TERM; while true; do sleep 0.1; done"});
  REQUIRE(detached.exitCode == 0);
  std::string id = lines(detached.out).at(0);
  CHECK(service.getContainer(id, admin)["status"] == "running");
  REQUIRE(service.awaitLog(id, "two-bg"));
  CHECK(runCli(service, admin, {"logs", "bg"}).out == "one\ntwo-bg\n");
  CHECK(runCli(service, admin, {"logs", "bg", "--tail", "1"}).out == "two-bg\n");

  // ^C at the terminal during `run --rm`: the container is deleted, berth exits 130.
  ProgramRun interrupted = runCliOnPty(service, admin, {"run", "ticker", "--rm", "--", "sh", "-c", "echo ready; exec sleep 100"},
                                       "ready", "\x03");
  INFO(interrupted.out);
  CHECK(interrupted.exitCode == 130);
  CHECK(contains(interrupted.out, "deleting the container"));
  const Json left = service.get("/api/v1/containers", admin).data()["containers"];
  for (const Json& container : left) CHECK(container["name"] != "ticker");
}

TEST_CASE("cli: login saves url and token in the config file; the token goes to that url only; logout forgets it") {
  Service service;
  testing::TempDir home("berth-cli-login");
  const std::string url = "http://127.0.0.1:" + std::to_string(service.port());
  CliOptions noEnv{.withUrl = false, .configHome = home.path(), .env = {}};

  ProgramRun login = runCli(service, "", {"--url", url, "login", "admin"}, service.adminPassword() + "\n", noEnv);
  INFO(login.err);
  REQUIRE(login.exitCode == 0);
  const std::string config = home.sub("berth/config.yaml");
  struct stat st {};
  REQUIRE(::stat(config.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::ifstream file(config);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(contains(text, "url: " + url));
  CHECK(contains(text, lines(login.out).at(0)));  // the token it printed

  // No BERTH_URL, no BERTH_TOKEN: both from the file.
  ProgramRun ps = runCli(service, "", {"ps"}, {}, noEnv);
  INFO(ps.err);
  CHECK(ps.exitCode == 0);
  // Another URL (the same service by another name) gets no token.
  ProgramRun elsewhere = runCli(service, "", {"--url", "http://localhost:" + std::to_string(service.port()), "ps"}, {}, noEnv);
  CHECK(contains(elsewhere.err, "berth: 401 MISSING_TOKEN"));
  // BERTH_TOKEN wins over the file.
  CliOptions withBadToken = noEnv;
  withBadToken.env["BERTH_TOKEN"] = "bad";
  CHECK(contains(runCli(service, "", {"ps"}, {}, withBadToken).err, "berth: 401 INVALID_TOKEN"));

  REQUIRE(runCli(service, "", {"logout"}, {}, noEnv).exitCode == 0);
  CHECK(contains(runCli(service, "", {"ps"}, {}, noEnv).err, "berth: 401 MISSING_TOKEN"));
  // The revoked token is refused even when given.
  CHECK(contains(runCli(service, lines(login.out).at(0), {"ps"}).err, "berth: 401 INVALID_TOKEN"));
}

TEST_CASE("cli: on a terminal: exec -it is interactive, tables fit the width, a long stop shows a progress line") {
  Service service;
  const std::string& admin = service.adminToken();
  Json web = service.createContainer(admin, {{"name", "web"}, {"command", kTermInit}});
  std::string longName(64, 'n');
  service.createContainer(admin, {{"name", longName}, {"command", kStubbornInit}});

  ProgramRun shell = runCliOnPty(service, admin, {"exec", "-it", "web", "--", "sh"}, "# ", "echo $((6*7))\rexit 3\r");
  CHECK(shell.exitCode == 3);
  CHECK(contains(shell.out, "42"));

  ProgramRun narrow = runCliOnPty(service, admin, {"ps"}, "", "", 80);
  INFO(narrow.out);
  CHECK(narrow.exitCode == 0);
  CHECK(contains(narrow.out, "…"));
  for (const auto& line : lines(narrow.out)) {
    std::string bare = line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
    CHECK(columnsOf(bare) <= 80);
  }
  // Not a terminal: nothing is cut.
  CHECK(contains(runCli(service, admin, {"ps"}).out, longName));

  // The stubborn init waits out the 2 s grace period: the spinner is drawn meanwhile.
  ProgramRun slow = runCliOnPty(service, admin, {"stop", longName, "-t", "2"}, "", "");
  CHECK(slow.exitCode == 0);
  CHECK(contains(slow.out, "stopping " + longName));
  CHECK(contains(slow.out, "\r\033[K"));
  // And never without one.
  service.operate(admin, web["id"], "stop");
  ProgramRun piped = runCli(service, admin, {"start", "web"});
  CHECK(piped.err.empty());
  CHECK(piped.out == "web\n");
}

TEST_CASE("cli: completion scripts come from the command table and complete container names") {
  Service service;
  const std::string& admin = service.adminToken();
  service.createContainer(admin, {{"name", "web"}, {"command", kTermInit}});

  ProgramRun bash = runCli(service, admin, {"completion", "bash"});
  REQUIRE(bash.exitCode == 0);
  testing::TempDir scratch("berth-completion");
  std::ofstream(scratch.sub("berth.bash")) << bash.out;
  // complete WORDS...: the candidates bash offers for the last word.
  auto complete = [&](const std::string& words) {
    std::string script = "PATH=" + std::string(BERTH_BUILD_DIR) + "/cmd:$PATH; source " + scratch.sub("berth.bash") +
                         "; COMP_WORDS=(" + words + "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _berth; "
                         "printf '%s\\n' \"${COMPREPLY[@]}\"";
    std::map<std::string, std::string> env{{"BERTH_URL", "http://127.0.0.1:" + std::to_string(service.port())},
                                           {"BERTH_TOKEN", admin}};
    ProgramRun run = runProgram({"bash", "-c", script}, env);
    INFO(run.err);
    CHECK(run.exitCode == 0);
    return run.out;
  };
  CHECK(complete("berth cont") == "containers\n");
  CHECK(contains(complete("berth containers ''"), "snapshot\n"));
  CHECK(contains(complete("berth ps --"), "--all\n"));
  CHECK(contains(complete("berth ps -o ''"), "yaml\n"));
  CHECK(complete("berth stop w") == "web\n");
  CHECK(complete("berth containers exec w") == "web\n");

  ProgramRun zsh = runCli(service, admin, {"completion", "zsh"});
  REQUIRE(zsh.exitCode == 0);
  CHECK(zsh.out.rfind("#compdef berth\n", 0) == 0);
  CHECK(contains(zsh.out, "'containers:list, inspect, create, change, operate, snapshot and copy containers'"));
  if (::access("/usr/bin/zsh", X_OK) == 0) {
    std::ofstream(scratch.sub("_berth")) << zsh.out;
    CHECK(runProgram({"zsh", "-n", scratch.sub("_berth")}, {}).exitCode == 0);
  } else {
    WARN("zsh is not installed: the zsh script is checked by its content only");
  }
}
