// Inside the container (API.md §14), against the real berthd: `user` (and
// `umask`) for the init, an exec and the terminal, read from /proc inside;
// `isolation: user-namespace`: uid 0 inside and a high uid on the host, files
// owned by the mapped ids on the host, disjoint ranges kept across a service
// restart, and the refusals of bad input.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "common/files.hpp"
#include "e2e/service_fixture.hpp"
#include "e2e/terminal_session.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

std::string pathOf(const Json& container) { return "/api/v1/containers/" + container["id"].get<std::string>(); }

void sh(const std::string& script) {
  INFO(script);
  REQUIRE(std::system(("set -e; " + script).c_str()) == 0);
}

// An OCI image of the busybox rootfs with users app (1000, in staff and
// wheel) and svc, and config User "svc".
void importUsersImage(const Service& service, const testing::TempDir& dir) {
  sh("cd '" + dir.path() + "'; umoci init --layout L; umoci new --image L:v1;"
     " umoci unpack --image L:v1 b >/dev/null; cp -a '" + service.dataDir() + "/images/busybox/rootfs/.' b/rootfs/;"
     " printf 'root:x:0:0::/root:/bin/sh\\napp:x:1000:1000::/:/bin/sh\\nsvc:x:1001:1001::/:/bin/sh\\n' > b/rootfs/etc/passwd;"
     " printf 'root:x:0:\\napp:x:1000:\\nsvc:x:1001:\\nstaff:x:50:app\\nwheel:x:10:root,app\\n' > b/rootfs/etc/group;"
     " umoci repack --image L:v1 b; rm -rf b; umoci config --image L:v1 --config.user svc;"
     " tar -C L -cf layout.tar .");
  auto body = readFile(dir.sub("layout.tar"));
  REQUIRE(body);
  Reply imported = service.call("POST", "/api/v1/images?name=users", service.adminToken(), *body,
                                {{"Content-Type", "application/x-tar"}});
  INFO(imported.text);
  REQUIRE(imported.status == 201);
}

// "Uid:\t1000\t1000\t1000\t1000" -> "1000 1000 1000 1000"; the fields of
// the status lines a process's identity shows.
std::string identityOf(const std::string& status) {
  std::istringstream in(status);
  std::string line, out;
  while (std::getline(in, line)) {
    if (!line.starts_with("Uid:") && !line.starts_with("Gid:") && !line.starts_with("Groups:")) continue;
    std::istringstream fields(line);
    std::string word, joined;
    fields >> word;
    joined = word;
    while (fields >> word) joined += " " + word;
    out += joined + "\n";
  }
  return out;
}

// Runs of blanks as one space (/proc/self/uid_map pads its columns).
std::string squashed(const std::string& text) {
  std::string out;
  for (char c : text) {
    bool blank = c == ' ' || c == '\t';
    if (blank && (out.empty() || out.back() == ' ' || out.back() == '\n')) {
      if (out.empty() || out.back() == '\n') out += ' ';
      continue;
    }
    out += blank ? ' ' : c;
  }
  return out;
}

std::string hostStatus(int pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

Reply exec(const Service& service, const Json& container, const Json& command) {
  return service.post(pathOf(container) + "/exec", service.adminToken(), Json{{"command", command}}.dump());
}

const std::string kStatusScript = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; umask";

}  // namespace

TEST_CASE("user: the init, an exec and the terminal run as the user with the image's groups, and its umask") {
  Service service;
  testing::TempDir dir;
  importUsersImage(service, dir);

  Json app = service.createContainer(service.adminToken(),
                                     Json{{"name", "app"}, {"image", "users"}, {"user", "app"}, {"umask", "0027"},
                                          {"command", {"sh", "-c", kStatusScript + "; exec sleep 1000"}}});
  REQUIRE(app["status"] == "running");
  CHECK(app["user"] == "app");
  CHECK(app["umask"] == "0027");
  CHECK(app["isolation"] == "host-root");
  CHECK(app["id_map"].is_null());
  const std::string expected = "Uid: 1000 1000 1000 1000\nGid: 1000 1000 1000 1000\nGroups: 10 50\n";
  REQUIRE(service.awaitLog(app["id"], "0027"));
  CHECK(identityOf(service.logsOf(app["id"])) == expected);
  // From the host: the init itself.
  CHECK(identityOf(hostStatus(app["pid"].get<int>())) == expected);

  Reply ran = exec(service, app, {"sh", "-c", kStatusScript});
  REQUIRE(ran.status == 200);
  CHECK(identityOf(ran.data()["stdout"]) == expected);
  CHECK(ran.data()["stdout"].get<std::string>().ends_with("0027\n"));

  TerminalRun terminal = runTerminalClient(terminalUrl(service.port(), app["id"], {}, 80, 24), service.adminToken(),
                                           Json::array({Json{{"send", "id -u; id -G; exit 0\n"}},
                                                        Json{{"expect", "1000\\r?\\n1000 50 10|1000\\r?\\n1000 10 50"}},
                                                        Json{{"waitClose", true}}}));
  INFO(terminal.output << " / " << terminal.error);
  CHECK(terminal.error.empty());
  CHECK(terminal.closeReason == "0");

  // The image's User is the default; "uid:gid" takes numbers the image need not know.
  Json svc = service.createContainer(service.adminToken(),
                                     Json{{"name", "svc"}, {"image", "users"}, {"command", {"sh", "-c", "id -u; id -g"}}});
  CHECK(svc["user"] == "svc");
  REQUIRE(service.awaitLog(svc["id"], "1001\n1001\n"));
  Json numeric = service.createContainer(service.adminToken(),
                                         Json{{"name", "num"}, {"user", "4242:4343"}, {"command", {"sh", "-c", "id -u; id -g"}}});
  REQUIRE(service.awaitLog(numeric["id"], "4242\n4343\n"));
  // busybox has no User: root.
  Json root = service.createContainer(service.adminToken(), Json{{"name", "root"}, {"command", {"true"}}});
  CHECK(root["user"] == "0:0");
  CHECK(root["umask"].is_null());

  // PATCH, while stopped only; the next start runs as the new user.
  Reply busy = service.patch(pathOf(app), service.adminToken(), Json{{"user", "svc"}}.dump());
  CHECK(busy.status == 400);
  CHECK(busy.code() == "OPERATION_STATE_CONFLICT");
  service.operate(service.adminToken(), app["id"], "force-stop");
  Reply changed = service.patch(pathOf(app), service.adminToken(), Json{{"user", "svc:staff"}, {"umask", nullptr}}.dump());
  REQUIRE(changed.status == 200);
  CHECK(changed.data()["user"] == "svc:staff");
  CHECK(changed.data()["umask"].is_null());
  service.operate(service.adminToken(), app["id"], "start");
  Json running = service.getContainer(app["id"], service.adminToken());
  CHECK(identityOf(hostStatus(running["pid"].get<int>())) == "Uid: 1001 1001 1001 1001\nGid: 50 50 50 50\nGroups:\n");
}

TEST_CASE("user and isolation: bad input is a 400 naming the field, and nothing is created") {
  Service service;
  auto refused = [&](const Json& body, const std::string& field) {
    Reply reply = service.post("/api/v1/containers", service.adminToken(), body.dump());
    INFO(body.dump() << " -> " << reply.text);
    CHECK(reply.status == 400);
    CHECK(reply.code() == "VALIDATION_ERROR");
    CHECK(reply.message().find(field) != std::string::npos);
  };
  refused(Json{{"name", "a"}, {"user", "nobody-here"}}, "user");
  refused(Json{{"name", "a"}, {"user", "root:no-group"}}, "user");
  refused(Json{{"name", "a"}, {"user", "4294967295"}}, "user");
  refused(Json{{"name", "a"}, {"user", "70000"}, {"isolation", "user-namespace"}}, "user");
  refused(Json{{"name", "a"}, {"user", 5}}, "user");
  refused(Json{{"name", "a"}, {"user", ""}}, "user");
  refused(Json{{"name", "a"}, {"umask", "22"}}, "umask");
  refused(Json{{"name", "a"}, {"umask", "0999"}}, "umask");
  refused(Json{{"name", "a"}, {"umask", 18}}, "umask");
  refused(Json{{"name", "a"}, {"isolation", "vm"}}, "isolation");
  refused(Json{{"name", "a"}, {"isolation", "user-namespace"}, {"network", "bridge"}}, "isolation");
  Reply list = service.get("/api/v1/containers", service.adminToken());
  CHECK(list.data()["containers"].empty());

  Json made = service.createContainer(service.adminToken(), Json{{"name", "b"}, {"autostart", false}});
  Reply fixed = service.patch(pathOf(made), service.adminToken(), Json{{"isolation", "user-namespace"}}.dump());
  CHECK(fixed.status == 400);
  CHECK(fixed.message().find("isolation") != std::string::npos);
  Reply badUser = service.patch(pathOf(made), service.adminToken(), Json{{"user", "ghost"}}.dump());
  CHECK(badUser.status == 400);
  CHECK(badUser.message().find("user") != std::string::npos);
  CHECK(service.getContainer(made["id"], service.adminToken())["user"] == "0:0");
}

TEST_CASE("isolation user-namespace: root inside, a high uid outside, files owned by the mapped ids") {
  Service service;
  const std::string script =
      "grep -E '^(Uid|Gid):' /proc/self/status; cat /proc/self/uid_map; echo made > /made-inside;"
      " mknod /dev/newnull c 1 3 2>&1 || echo mknod-refused; exec sleep 1000";
  Json a = service.createContainer(service.adminToken(), Json{{"name", "ua"}, {"isolation", "user-namespace"},
                                                              {"command", {"sh", "-c", script}}});
  REQUIRE(a["status"] == "running");
  CHECK(a["isolation"] == "user-namespace");
  const Json map = a["id_map"];
  REQUIRE(map.is_object());
  const uint32_t hostUid = map["host_uid"];
  CHECK(map["host_gid"] == hostUid);
  CHECK(map["size"] == 65536);
  CHECK(hostUid >= 65536);

  REQUIRE(service.awaitLog(a["id"], "mknod-refused"));
  const std::string log = service.logsOf(a["id"]);
  INFO(log);
  CHECK(identityOf(log) == "Uid: 0 0 0 0\nGid: 0 0 0 0\n");
  CHECK(squashed(log).find(" 0 " + std::to_string(hostUid) + " 65536\n") != std::string::npos);
  CHECK(log.find("Operation not permitted") != std::string::npos);

  // From the host: the init runs as the mapped uid, and what it wrote is owned by it.
  const std::string id = std::to_string(hostUid);
  CHECK(identityOf(hostStatus(a["pid"].get<int>())).starts_with("Uid: " + id + " " + id + " " + id + " " + id + "\nGid: " + id));
  Reply found = service.post(pathOf(a) + "/exec", service.adminToken(),
                             Json{{"command", {"sh", "-c", "stat -c '%u %g' /made-inside /bin/busybox; id -u"}}}.dump());
  REQUIRE(found.status == 200);
  // What it wrote and the image's files (idmapped) are root's inside.
  CHECK(found.data()["stdout"] == "0 0\n0 0\n0\n");
  // The writable layer's file as the host has it, found under the data dir.
  std::string owner;
  FILE* out = ::popen(("find '" + service.dataDir() + "/storage' -name made-inside -printf '%U %G\\n' 2>/dev/null").c_str(), "r");
  REQUIRE(out);
  char line[128] = {};
  if (std::fgets(line, sizeof line, out)) owner = line;
  ::pclose(out);
  CHECK(owner == id + " " + id + "\n");

  // A second one gets another range; both survive a restart of the service.
  Json b = service.createContainer(service.adminToken(), Json{{"name", "ub"}, {"isolation", "user-namespace"},
                                                              {"command", {"sleep", "1000"}}});
  const uint32_t otherUid = b["id_map"]["host_uid"];
  CHECK((otherUid >= hostUid + 65536 || otherUid + 65536 <= hostUid));
  service.restart();
  CHECK(service.getContainer(a["id"], service.adminToken())["id_map"] == a["id_map"]);
  CHECK(service.getContainer(b["id"], service.adminToken())["id_map"] == b["id_map"]);
  service.operate(service.adminToken(), a["id"], "restart");
  Json restarted = service.getContainer(a["id"], service.adminToken());
  CHECK(restarted["id_map"] == a["id_map"]);
  CHECK(identityOf(hostStatus(restarted["pid"].get<int>())).starts_with("Uid: " + id));

  // Delete releases the range: the next container may take it again.
  REQUIRE(service.call("DELETE", pathOf(a) + "?force=true", service.adminToken()).status == 200);
  Json c = service.createContainer(service.adminToken(), Json{{"name", "uc"}, {"isolation", "user-namespace"},
                                                              {"autostart", false}});
  CHECK(c["id_map"]["host_uid"] == hostUid);
  // A user inside the namespace, and copies refused for now.
  Reply copy = service.post(pathOf(c) + "/copy", service.adminToken(), Json{{"name", "ucopy"}}.dump());
  CHECK(copy.status == 400);
}
