// The client `berth` (cmd/berth.cpp) against the real berthd: the storage
// commands of API.md §12 (snapshots, restore, copies, images). Each run is
// the built binary with BERTH_URL and BERTH_TOKEN set; a test reads its
// stdout (a single object's data as JSON; a list's with -o json), its
// stderr and its exit code.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "e2e/cli_runner.hpp"
#include "e2e/service_fixture.hpp"
#include "support/tar_builder.hpp"

using namespace berth;
using namespace berth::e2e;


TEST_CASE("cli: snapshot, snapshots, restore, delete-snapshot and copy print the data and exit 0") {
  Service service;
  const std::string& admin = service.adminToken();
  Json source = service.createContainer(admin, {{"name", "src"}, {"autostart", false}, {"command", kTermInit},
                                                {"env", {{"A", "1"}}}});
  REQUIRE(source["status"] == "stopped");
  const std::string id = source["id"];

  ProgramRun made = runCli(service, admin, {"containers", "snapshot", id, "first"});
  INFO(made.err);
  REQUIRE(made.exitCode == 0);
  CHECK(made.err.empty());
  Json snapshot = made.json();
  REQUIRE(snapshot.is_object());
  CHECK(snapshot["alias"] == "first");
  CHECK(snapshot["container_id"] == id);
  CHECK(snapshot["size_bytes"].is_number_integer());
  CHECK(snapshot["created_at"].is_string());
  const std::string sid = snapshot["id"];

  ProgramRun second = runCli(service, admin, {"containers", "snapshot", id, "second"});
  REQUIRE(second.exitCode == 0);

  ProgramRun listed = runCli(service, admin, {"containers", "snapshots", id, "-o", "json"});
  INFO(listed.err);
  REQUIRE(listed.exitCode == 0);
  Json list = listed.json();
  REQUIRE(list.is_object());
  REQUIRE(list["snapshots"].size() == 2);
  CHECK(list["snapshots"][0]["alias"] == "second");  // newest first
  CHECK(list["snapshots"][1]["id"] == sid);
  // Agrees with the API.
  CHECK(list == service.get(containerPath(id) + "/snapshots", admin).data());

  ProgramRun restored = runCli(service, admin, {"containers", "restore", id, sid});
  INFO(restored.err);
  REQUIRE(restored.exitCode == 0);
  Json container = restored.json();
  CHECK(container["id"] == id);
  CHECK(container["status"] == "stopped");

  ProgramRun copied = runCli(service, admin, {"containers", "copy", id, "dup"});
  INFO(copied.err);
  REQUIRE(copied.exitCode == 0);
  Json copy = copied.json();
  REQUIRE(copy.is_object());
  CHECK(copy["name"] == "dup");
  CHECK(copy["id"] != id);
  CHECK(copy["project_id"] == source["project_id"]);
  CHECK(copy["autostart"] == false);
  CHECK(copy["env"] == Json{{"A", "1"}});
  service.waitForStatus(copy["id"], "stopped");

  // --project names the target project (here the source's own).
  ProgramRun intoProject =
      runCli(service, admin, {"containers", "copy", id, "dup2", "--project", source["project_id"].get<std::string>()});
  INFO(intoProject.err);
  REQUIRE(intoProject.exitCode == 0);
  CHECK(intoProject.json()["project_id"] == source["project_id"]);
  service.waitForStatus(intoProject.json()["id"], "stopped");

  ProgramRun deleted = runCli(service, admin, {"containers", "delete-snapshot", id, sid});
  INFO(deleted.err);
  REQUIRE(deleted.exitCode == 0);
  CHECK(deleted.json()["id"] == sid);
  Json left = runCli(service, admin, {"containers", "snapshots", id, "-o", "json"}).json();
  REQUIRE(left["snapshots"].size() == 1);
  CHECK(left["snapshots"][0]["alias"] == "second");
}

TEST_CASE("cli: storage errors go to stderr as 'berth: STATUS CODE: message' with exit 1") {
  Service service;
  const std::string& admin = service.adminToken();
  Json stopped = service.createContainer(admin, {{"name", "idle"}, {"autostart", false}, {"command", kTermInit}});
  Json running = service.createContainer(admin, {{"name", "busy"}, {"command", kTermInit}});
  const std::string id = stopped["id"];

  ProgramRun unknown = runCli(service, admin, {"containers", "restore", id, "0123456789abcdef01234567"});
  CHECK(unknown.exitCode == 1);
  CHECK(unknown.out.empty());
  CHECK(contains(unknown.err, "berth: 404 SNAPSHOT_NOT_FOUND: "));

  // Not an id: looked up as an alias among the container's snapshots.
  ProgramRun badAlias = runCli(service, admin, {"containers", "delete-snapshot", id, "nope"});
  CHECK(badAlias.exitCode == 1);
  CHECK(contains(badAlias.err, "berth: 404 SNAPSHOT_NOT_FOUND: "));

  ProgramRun whileRunning = runCli(service, admin, {"containers", "snapshot", running["id"], "snap"});
  CHECK(whileRunning.exitCode == 1);
  CHECK(whileRunning.out.empty());
  CHECK(contains(whileRunning.err, "berth: 400 OPERATION_STATE_CONFLICT: "));

  REQUIRE(runCli(service, admin, {"containers", "snapshot", id, "same"}).exitCode == 0);
  ProgramRun taken = runCli(service, admin, {"containers", "snapshot", id, "same"});
  CHECK(taken.exitCode == 1);
  CHECK(contains(taken.err, "berth: 409 NAME_CONFLICT: "));

  ProgramRun copyRunning = runCli(service, admin, {"containers", "copy", running["id"], "dup"});
  CHECK(copyRunning.exitCode == 1);
  CHECK(contains(copyRunning.err, "berth: 400 OPERATION_STATE_CONFLICT: "));

  ProgramRun noToken = runCli(service, "", {"containers", "snapshots", id});
  CHECK(noToken.exitCode == 1);
  CHECK(contains(noToken.err, "berth: 401 MISSING_TOKEN: "));

  // A missing argument is CLI11's usage error, before any request.
  ProgramRun usage = runCli(service, admin, {"containers", "snapshot", id});
  CHECK(usage.exitCode != 0);
  CHECK(usage.out.empty());
}

TEST_CASE("cli: images list, import and delete follow the images routes") {
  Service service;
  const std::string& admin = service.adminToken();

  ProgramRun listed = runCli(service, admin, {"images", "list", "-o", "json"});
  Reply direct = service.get("/api/v1/images", admin);
  if (direct.status == 404) {
    // This branch's berthd has no images routes yet: the client reports the
    // server's answer and fails.
    CHECK(listed.exitCode == 1);
    CHECK(listed.out.empty());
    CHECK(contains(listed.err, "berth: 404 NOT_FOUND: "));
  } else {
    INFO(listed.err);
    REQUIRE(direct.status == 200);
    REQUIRE(listed.exitCode == 0);
    Json images = listed.json();
    REQUIRE(images["images"].is_array());
    bool busybox = false;
    for (const auto& image : images["images"]) busybox = busybox || image["name"] == "busybox";
    CHECK(busybox);
  }

  // A file that cannot be read is refused before anything is sent.
  testing::TempDir scratch("berth-cli-images");
  ProgramRun missing = runCli(service, admin, {"images", "import", "x", scratch.sub("absent.tar")});
  CHECK(missing.exitCode == 1);
  CHECK(missing.out.empty());
  CHECK(contains(missing.err, "absent.tar: No such file or directory"));
  ProgramRun directory = runCli(service, admin, {"images", "import", "x", scratch.path()});
  CHECK(directory.exitCode == 1);
  CHECK(contains(directory.err, "not a regular file"));

  // A real (small) rootfs tarball goes up as the body.
  std::string tarPath = scratch.sub("rootfs.tar");
  std::ofstream(tarPath, std::ios::binary) << testing::TarBuilder().dir("etc").file("etc/hello", "hi\n").finish();
  ProgramRun imported = runCli(service, admin, {"images", "import", "tiny", tarPath});
  ProgramRun removed = runCli(service, admin, {"images", "delete", "tiny"});
  if (direct.status == 404) {
    CHECK(imported.exitCode == 1);
    CHECK(imported.out.empty());
    CHECK(contains(imported.err, "berth: "));
    CHECK(removed.exitCode == 1);
    CHECK(contains(removed.err, "berth: 404 NOT_FOUND: "));
  } else {
    INFO(imported.err);
    CHECK(imported.exitCode == 0);
    CHECK(imported.json()["name"] == "tiny");
    CHECK(imported.json()["source"] == "rootfs-tar");
    INFO(removed.err);
    CHECK(removed.exitCode == 0);
    CHECK(removed.json()["name"] == "tiny");
  }
}

TEST_CASE("cli: containers exec passes the output through and exits with the command's code; -i over the terminal") {
  Service service;
  const std::string admin = service.adminToken();
  Json running = service.createContainer(admin, Json{{"name", "cli-exec"}, {"command", kTermInit}});
  const std::string id = running["id"];
  ProgramRun plain = runCli(service, admin, {"containers", "exec", id, "-e", "WHO=cli", "--", "sh", "-c", "echo hi-$WHO; echo oops >&2; exit 4"});
  CHECK(plain.exitCode == 4);
  CHECK(plain.out == "hi-cli\n");
  CHECK(plain.err == "oops\n");
  CHECK(runCli(service, admin, {"containers", "exec", id, "--", "no-such-command"}).exitCode == 127);

  ProgramRun interactive = runCli(service, admin, {"containers", "exec", "-i", id, "--", "sh"}, "echo $((6*7))\nexit 5\n");
  CHECK(interactive.exitCode == 5);
  CHECK(contains(interactive.out, "42"));

  ProgramRun stopped = runCli(service, admin, {"containers", "exec", "0123456789abcdef01234567", "--", "true"});
  CHECK(stopped.exitCode == 1);
  CHECK(contains(stopped.err, "CONTAINER_NOT_FOUND"));
}
