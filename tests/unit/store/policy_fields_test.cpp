// The fields of issue 20 in the records: restart policies and their loop on
// containers, limits on projects, the attempt of a status-log entry; each
// round-trips, and records written before them decode with the defaults.
#include <catch2/catch.hpp>

#include "store/codec.hpp"
#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;

TEST_CASE("codec: a container's restart policy and loop round-trip; an older record reads as policy no") {
  ContainerRecord record;
  record.id = "65000000000000000000002a";
  record.status = ContainerStatus::stopped;
  record.restartPolicy = {RestartMode::on_failure, 5};
  record.restartCount = 3;
  record.restartBackoffMs = 400;
  record.restartDueAt = 1736937000500;
  record.stoppedByUser = true;
  auto bytes = codec::encode(record);
  REQUIRE(bytes);
  auto back = codec::decodeContainer(*bytes);
  REQUIRE(back);
  CHECK(*back == record);

  auto old = codec::decodeContainer(R"({"id":"65000000000000000000002a","status":"stopped","autostart":true})");
  REQUIRE(old);
  CHECK(old->restartPolicy == RestartPolicy{});
  CHECK(old->restartCount == 0);
  CHECK_FALSE(old->restartDueAt);
  CHECK_FALSE(old->stoppedByUser);

  auto bad = codec::decodeContainer(R"({"id":"65000000000000000000002a","status":"stopped","restart_policy":"sometimes"})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::internal);
}

TEST_CASE("codec: a project's limits keep which are set, to a value or to none; an older project has none set") {
  ProjectRecord project{"65000000000000000000002b", "team", "u1", 17, {}};
  project.limits.containers = std::optional<uint64_t>(3);
  project.limits.memoryMb = std::optional<uint64_t>();  // no limit, whatever the default
  auto bytes = codec::encode(project);
  REQUIRE(bytes);
  auto back = codec::decodeProject(*bytes);
  REQUIRE(back);
  CHECK(*back == project);
  CHECK(back->limits.containers == std::optional<std::optional<uint64_t>>(3));
  REQUIRE(back->limits.memoryMb);
  CHECK_FALSE(*back->limits.memoryMb);
  CHECK_FALSE(back->limits.cpuMillicores);

  ProjectLimits defaults{10, 1024, 2000, 4096};
  auto inForce = back->limits.over(defaults);
  CHECK(inForce.containers == 3u);
  CHECK_FALSE(inForce.memoryMb);
  CHECK(inForce.cpuMillicores == 2000u);
  CHECK(inForce.diskMb == 4096u);

  auto old = codec::decodeProject(R"({"id":"65000000000000000000002b","name":"team","owner_id":"u1","created_at":1})");
  REQUIRE(old);
  CHECK(old->limits == ProjectLimitOverrides{});
}

TEST_CASE("store: a project's limits are updated in place; an unknown project is not_found") {
  testing::TempDir dir;
  auto store = testfix::openStore(dir.sub("db"));
  ProjectRecord project{"65000000000000000000002b", "team", "u1", 17, {}};
  REQUIRE(store->createProject(project));
  project.limits.diskMb = std::optional<uint64_t>(100);
  REQUIRE(store->updateProject(project));
  auto read = store->getProject(project.id);
  REQUIRE(read);
  CHECK(*read == project);
  ProjectRecord unknown{"65000000000000000000002c", "nobody", "u1", 1, {}};
  auto missing = store->updateProject(unknown);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("codec: a status-log entry's attempt round-trips and is absent when unset") {
  StatusLogEntry entry;
  entry.id = "65000000000000000000002d";
  entry.containerId = "65000000000000000000002a";
  entry.fromStatus = ContainerStatus::stopped;
  entry.toStatus = ContainerStatus::running;
  entry.transitionTime = 5;
  entry.triggeredBy = "system";
  entry.metadata.operation = "restart_policy";
  entry.metadata.attempt = 4;
  auto bytes = codec::encode(entry);
  REQUIRE(bytes);
  auto back = codec::decodeEntry(*bytes);
  REQUIRE(back);
  CHECK(*back == entry);
  entry.metadata.attempt.reset();
  auto plain = codec::encode(entry);
  REQUIRE(plain);
  CHECK(plain->find("attempt") == std::string::npos);
}
