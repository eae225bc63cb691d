// Storage over HTTP (API.md §12): the disk quota enforced by the kernel and
// changed live, snapshots and their restore, copies.
#include <catch2/catch.hpp>
#include <thread>

#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

// Runs a container's (new) command to its end.
void runToEnd(const Service& service, const std::string& id, const std::string& script) {
  const std::string& admin = service.adminToken();
  Reply patched = service.patch(containerPath(id), admin, Json{{"command", {"/bin/sh", "-c", script}}}.dump());
  INFO(patched.text);
  REQUIRE(patched.status == 200);
  service.operate(admin, id, "start");
  service.waitForStatus(id, "stopped");
}

}  // namespace

TEST_CASE("storage: a write past disk_mb fails inside the container; a live PATCH grows it; shrinking below use is refused") {
  Service service;
  const std::string& admin = service.adminToken();
  const std::string script =
      "dd if=/dev/zero of=/first bs=1M count=24 conv=fsync 2>/dev/null; echo first=$?; sleep 3;"
      " dd if=/dev/zero of=/second bs=1M count=16 conv=fsync 2>/dev/null; echo second=$?; sleep 1000";
  Json container = service.createContainer(
      admin, {{"name", "bounded"}, {"command", {"/bin/sh", "-c", script}}, {"resources", {{"disk_mb", 16}}}});
  std::string id = container["id"];
  REQUIRE(service.awaitLog(id, "first="));
  CHECK(service.logsOf(id).find("first=0") == std::string::npos);  // EDQUOT stopped it

  Reply grown = service.patch(containerPath(id), admin, Json{{"resources", {{"disk_mb", 64}}}}.dump());
  INFO(grown.text);
  REQUIRE(grown.status == 200);
  CHECK(grown.data()["restarted"] == false);
  REQUIRE(service.awaitLog(id, "second="));
  CHECK(service.logsOf(id).find("second=0") != std::string::npos);

  Reply info = service.get(containerPath(id) + "?runtime=true", admin);
  REQUIRE(info.status == 200);
  const Json& runtime = info.data()["runtime_info"];
  CHECK(runtime["disk_limit_bytes"] == 64u * 1024 * 1024);
  CHECK(runtime["disk_used_bytes"].get<uint64_t>() > 16u * 1024 * 1024);

  Reply shrunk = service.patch(containerPath(id), admin, Json{{"resources", {{"disk_mb", 8}}}}.dump());
  CHECK(shrunk.status == 400);
  CHECK(shrunk.code() == "VALIDATION_ERROR");
  CHECK(shrunk.message().find("disk_mb") != std::string::npos);

  Reply overTier = service.patch(containerPath(id), admin, Json{{"resources", {{"disk_mb", 1 << 20}}}}.dump());
  CHECK(overTier.status == 422);
}

TEST_CASE("storage: a snapshot restores the layer exactly; running containers and bad ids are refused") {
  Service service;
  const std::string& admin = service.adminToken();
  Json container = service.createContainer(admin, {{"name", "snappy"}, {"autostart", false}});
  std::string id = container["id"];
  const std::string listing = "ls -lan --full-time /data | sed 1d; cat /data/kept; readlink /data/link";
  runToEnd(service, id,
           "mkdir /data && echo kept > /data/kept && echo gone > /data/gone && ln -s kept /data/link &&"
           " ln /data/kept /data/hard && chmod 640 /data/gone && chown 12:34 /data/gone && rm /etc/group; " + listing);
  std::string before = service.logsOf(id);

  Reply snapshot = service.post(containerPath(id) + "/snapshots", admin, Json{{"alias", "s1"}}.dump());
  INFO(snapshot.text);
  REQUIRE(snapshot.status == 201);
  std::string sid = snapshot.data()["id"];
  CHECK(snapshot.data()["alias"] == "s1");
  CHECK(snapshot.data()["container_id"] == id);
  CHECK(snapshot.data()["size_bytes"].is_number_unsigned());

  runToEnd(service, id, "rm /data/gone && echo added > /data/added && echo changed > /data/kept && echo g > /etc/group");
  Reply restored = service.post(containerPath(id) + "/snapshots/" + sid + "/restore", admin);
  INFO(restored.text);
  REQUIRE(restored.status == 200);
  CHECK(restored.data()["id"] == id);
  runToEnd(service, id, listing + "; test -e /etc/group && echo image-file-back || echo image-file-still-removed");
  std::string after = service.logsOf(id);
  // The log holds the first run's output, then the last one's.
  CHECK(after.find("added") == std::string::npos);
  CHECK(after.rfind("kept\nkept\n") != std::string::npos);  // the content and the link target, as before
  CHECK(after.find("image-file-still-removed") != std::string::npos);  // the whiteout came back too
  // The restored tree lists exactly as the snapshotted one did.
  std::string firstListing = before.substr(0, before.find("kept\nkept\n"));
  CHECK(after.find(firstListing) != after.rfind(firstListing));  // printed twice: before and after the restore

  Reply list = service.get(containerPath(id) + "/snapshots", admin);
  REQUIRE(list.status == 200);
  REQUIRE(list.data()["snapshots"].size() == 1);

  // Refusals.
  CHECK(service.post(containerPath(id) + "/snapshots", admin, Json{{"alias", "s1"}}.dump()).code() == "NAME_CONFLICT");
  CHECK(service.post(containerPath(id) + "/snapshots", admin, Json{{"alias", "bad alias"}}.dump()).code() ==
        "VALIDATION_ERROR");
  CHECK(service.post(containerPath(id) + "/snapshots/XYZ/restore", admin).code() == "INVALID_ID_FORMAT");
  CHECK(service.post(containerPath(id) + "/snapshots/0123456789abcdef01234567/restore", admin).code() ==
        "SNAPSHOT_NOT_FOUND");
  Json other = service.createContainer(admin, {{"name", "other"}, {"autostart", false}});
  CHECK(service.post(containerPath(other["id"]) + "/snapshots/" + sid + "/restore", admin).code() == "SNAPSHOT_NOT_FOUND");
  Json running = service.createContainer(admin, {{"name", "running"}, {"command", kTermInit}});
  Reply busy = service.post(containerPath(running["id"]) + "/snapshots", admin, Json{{"alias", "x"}}.dump());
  CHECK(busy.status == 400);
  CHECK(busy.code() == "OPERATION_STATE_CONFLICT");

  Reply deleted = service.del(containerPath(id) + "/snapshots/" + sid, admin);
  REQUIRE(deleted.status == 200);
  CHECK(deleted.data()["id"] == sid);
  CHECK(service.del(containerPath(id) + "/snapshots/" + sid, admin).code() == "SNAPSHOT_NOT_FOUND");
}

TEST_CASE("storage: a copy is a stopped container with the source's configuration, layer and a new address") {
  Service service;
  const std::string& admin = service.adminToken();
  Json source = service.createContainer(admin, {{"name", "source"},
                                                {"autostart", false},
                                                {"network", "bridge"},
                                                {"env", {{"GREETING", "hi"}}},
                                                {"resources", {{"disk_mb", 32}}}});
  runToEnd(service, source["id"], "echo copied > /payload");

  Reply copy = service.post(containerPath(source["id"]) + "/copy", admin, Json{{"name", "the-copy"}}.dump());
  INFO(copy.text);
  REQUIRE(copy.status == 201);
  const Json& made = copy.data();
  CHECK(made["status"] == "stopped");
  CHECK(made["autostart"] == false);
  CHECK(made["env"] == source["env"]);
  CHECK(made["resources"]["disk_mb"] == 32);
  CHECK(made["network"]["mode"] == "bridge");
  CHECK(made["network"]["ip"] != source["network"]["ip"]);
  Reply log = service.get(containerPath(made["id"]) + "/status-logs?sort_order=asc", admin);
  REQUIRE(log.status == 200);
  REQUIRE(log.data()["logs"].size() == 2);
  CHECK(log.data()["logs"][0]["to_status"] == "copying");
  CHECK(log.data()["logs"][1]["from_status"] == "copying");
  CHECK(log.data()["logs"][1]["to_status"] == "stopped");

  runToEnd(service, made["id"], "cat /payload; echo $GREETING");
  CHECK(service.logsOf(made["id"]).find("copied\nhi\n") != std::string::npos);

  CHECK(service.post(containerPath(source["id"]) + "/copy", admin, Json{{"name", "the-copy"}}.dump()).status == 409);
  REQUIRE(service.patch(containerPath(source["id"]), admin, Json{{"command", kTermInit}}.dump()).status == 200);
  service.operate(admin, source["id"], "start");
  Reply busy = service.post(containerPath(source["id"]) + "/copy", admin, Json{{"name", "busy"}}.dump());
  CHECK(busy.code() == "OPERATION_STATE_CONFLICT");
  TestUser stranger = service.createUser("stranger");
  CHECK(service.post(containerPath(source["id"]) + "/copy", stranger.token, Json{{"name", "theirs"}}.dump()).status == 404);
}
