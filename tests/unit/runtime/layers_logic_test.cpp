// Writable layers in the lifecycle, without root: the quota each layer gets,
// a PATCH that would shrink it below what it holds, snapshots, copies (and a
// copy cut off by a crash). The kernel side is tests/kernel/storage and e2e.
#include <catch2/catch.hpp>

#include <fstream>

#include "common/files.hpp"
#include "logic_fixture.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace berth::runtime::logicfix;

namespace {

std::string upperOf(LogicFixture& f, const std::string& id) { return f.kernel().layerRoot.sub("layers/" + id + "/upper"); }

void writeInLayer(LogicFixture& f, const std::string& id, const std::string& name, size_t bytes) {
  std::ofstream(upperOf(f, id) + "/" + name) << std::string(bytes, 'x');
}

std::optional<uint64_t> limitOf(LogicFixture& f, const std::string& id) {
  std::lock_guard lock(f.kernel().mutex);
  return f.kernel().layerLimits.at(id);
}

}  // namespace

TEST_CASE("layers: a layer's quota is disk_mb, else the tier's cap; a PATCH below its use is refused naming disk_mb") {
  LogicFixture f;
  auto plain = f.create("plain", false);
  CHECK(limitOf(f, plain.id) == f.config().tierLimits.maxDiskMb * 1024 * 1024);

  CreateRequest request;
  request.name = "bounded";
  request.autostart = false;
  request.resources.diskMb = 2;
  auto bounded = f.create(request);
  REQUIRE(bounded);
  const std::string id = bounded->record.id;
  CHECK(limitOf(f, id) == 2u * 1024 * 1024);

  writeInLayer(f, id, "data", 1536 * 1024);
  UpdateRequest shrink;
  shrink.resources = ResourcesChange{.diskMb = std::optional<uint64_t>(1)};
  auto refused = f.manager().update(kOwner, id, shrink);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(refused.error().message.find("disk_mb") != std::string::npos);
  CHECK(limitOf(f, id) == 2u * 1024 * 1024);

  UpdateRequest grow;
  grow.resources = ResourcesChange{.diskMb = std::optional<uint64_t>(8)};
  REQUIRE(f.manager().update(kOwner, id, grow));
  CHECK(limitOf(f, id) == 8u * 1024 * 1024);
}

TEST_CASE("layers: snapshots of a stopped container; restore brings the layer back exactly; running is a state conflict") {
  LogicFixture f;
  auto record = f.create("snappy", false);
  writeInLayer(f, record.id, "kept", 10);
  auto first = f.manager().createSnapshot(record, "first");
  REQUIRE(first);
  CHECK(first->alias == "first");
  CHECK(first->sizeBytes >= 10);
  auto again = f.manager().createSnapshot(record, "first");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::already_exists);
  CHECK(f.manager().createSnapshot(record, "bad alias").error().code == Errc::invalid_argument);

  writeInLayer(f, record.id, "added", 10);
  REQUIRE(removeTree(upperOf(f, record.id) + "/kept"));
  REQUIRE(f.manager().restoreSnapshot(record, first->id));
  CHECK(pathExists(upperOf(f, record.id) + "/kept"));
  CHECK_FALSE(pathExists(upperOf(f, record.id) + "/added"));

  f.clock().advance(std::chrono::milliseconds(5));
  REQUIRE(f.manager().createSnapshot(record, "second"));
  auto listed = f.manager().listSnapshots(record);
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  CHECK(listed->front().alias == "second");  // newest first

  auto running = f.manager().operate(kOwner, record, Operation::start);
  REQUIRE(running);
  CHECK(f.manager().createSnapshot(*running, "third").error().code == Errc::state_conflict);
  CHECK(f.manager().restoreSnapshot(*running, first->id).error().code == Errc::state_conflict);
  REQUIRE(f.manager().operate(kOwner, *running, Operation::stop));

  REQUIRE(f.manager().deleteSnapshot(record, first->id));
  CHECK(f.manager().deleteSnapshot(record, first->id).error().code == Errc::not_found);
  CHECK(f.manager().restoreSnapshot(record, "0123456789abcdef01234567").error().code == Errc::not_found);

  // Deleting the container takes its layer and snapshots along.
  REQUIRE(f.manager().remove(kOwner, record.id, false, false));
  CHECK_FALSE(pathExists(f.kernel().layerRoot.sub("layers/" + record.id)));
  CHECK_FALSE(pathExists(f.kernel().layerRoot.sub("snapshots/" + record.id)));
  CHECK(f.store().listSnapshots(record.id).value().empty());
}

TEST_CASE("layers: a copy is a new stopped container with the source's configuration and a copy of its layer") {
  LogicFixture f;
  CreateRequest request;
  request.name = "source";
  request.autostart = false;
  request.networkMode = "bridge";
  request.ports = {{80, 8081, "tcp", "127.0.0.1"}};
  request.env = {{"A", "1"}};
  request.command = {"/bin/sh", "-c", "true"};
  request.resources.diskMb = 64;
  auto source = f.create(request);
  REQUIRE(source);
  writeInLayer(f, source->record.id, "data", 100);

  auto copy = f.manager().copy(kOwner, source->record, "copy", kOwner);
  REQUIRE(copy);
  CHECK(copy->status == ContainerStatus::stopped);
  CHECK(copy->env == source->record.env);
  CHECK(copy->command == source->record.command);
  CHECK(copy->resources == source->record.resources);
  CHECK(copy->networkMode == "bridge");
  CHECK(copy->networkIp != source->record.networkIp);
  CHECK(copy->ports.empty());
  CHECK_FALSE(copy->autostart);
  CHECK(pathExists(upperOf(f, copy->id) + "/data"));
  CHECK(limitOf(f, copy->id) == 64u * 1024 * 1024);
  auto log = f.log(copy->id);
  REQUIRE(log.size() == 2);
  CHECK(log[0].toStatus == ContainerStatus::copying);
  CHECK(log[1].fromStatus == ContainerStatus::copying);
  CHECK(log[1].toStatus == ContainerStatus::stopped);

  auto started = f.manager().operate(kOwner, source->record, Operation::start);
  REQUIRE(started);
  CHECK(f.manager().copy(kOwner, *started, "from-running", kOwner).error().code == Errc::state_conflict);
  CHECK(f.manager().copy(kOwner, *started, "copy", kOwner).error().code == Errc::state_conflict);
}

TEST_CASE("layers: a failed copy leaves a deleted record and no layer; one cut off by a crash is removed at restart") {
  LogicFixture f;
  auto source = f.create("source", false);
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().failNextCopy = Error{Errc::host_refused, 28, "copy layer"};
  }
  auto failed = f.manager().copy(kOwner, source, "copy", kOwner);
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == Errc::host_refused);
  CHECK_FALSE(f.store().findContainerByName(kOwner, "copy").value().has_value());

  // A record left `copying` (the service died mid-copy) is removed when the service starts again.
  f.closeManager();
  store::ContainerRecord cut = source;
  cut.id = "0123456789abcdef0123cccc";
  cut.name = "cut-off";
  cut.status = ContainerStatus::copying;
  REQUIRE(f.store().createContainer(cut, std::nullopt));
  f.reopen();
  auto after = f.store().getContainer(cut.id);
  REQUIRE(after);
  CHECK(after->status == ContainerStatus::deleted);
  auto entry = f.log(cut.id).back();
  CHECK(entry.fromStatus == ContainerStatus::copying);
  CHECK(entry.metadata.operation == "copy");
  CHECK(entry.metadata.reason == "the copy did not finish");
}
