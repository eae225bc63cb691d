// Snapshots and copies of writable layers (API.md §12). The layers
// themselves are the LayerStore's (a btrfs pool on the host); the records
// of snapshots are the store's.
#include <spdlog/spdlog.h>

#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/scope_guard.hpp"
#include "runtime/manager_impl.hpp"
#include "store/store.hpp"

namespace berth::runtime {

namespace {

Result<void> requireStoppedOrFailed(const ContainerRecord& record, std::string_view what) {
  if (record.status == ContainerStatus::stopped || record.status == ContainerStatus::failed) return {};
  return fail(Errc::state_conflict, "cannot " + std::string(what) + " a container that is " +
                                        std::string(store::statusName(record.status)) + " (stop it first)");
}

}  // namespace

Result<store::SnapshotRecord> ContainerManager::createSnapshot(const ContainerRecord& container, const std::string& alias) {
  Impl& m = *impl_;
  if (!isValidName(alias)) return fail(Errc::invalid_argument, "alias must be 1-64 characters of [A-Za-z0-9-]");
  auto slot = m.slotFor(container.id);
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, get(container.id));
  BERTH_TRYV(requireStoppedOrFailed(record, "snapshot"));
  for (const auto& existing : m.store.listSnapshots(record.id).value_or(std::vector<store::SnapshotRecord>{}))
    if (existing.alias == alias)
      return fail(Errc::already_exists, "container " + record.id + " has a snapshot named '" + alias + "' already");
  store::SnapshotRecord snapshot{newObjectId(), record.id, alias, 0, m.clock.now()};
  BERTH_TRY(snapshot.sizeBytes, withContext(m.host.layers->snapshot(record.id, snapshot.id), "snapshot"));
  auto written = m.store.createSnapshot(snapshot);
  if (!written) {
    (void)m.host.layers->deleteSnapshot(record.id, snapshot.id);
    return tl::unexpected(written.error());
  }
  return snapshot;
}

Result<std::vector<store::SnapshotRecord>> ContainerManager::listSnapshots(const ContainerRecord& container) const {
  return impl_->store.listSnapshots(container.id);
}

Result<ContainerRecord> ContainerManager::restoreSnapshot(const ContainerRecord& container, const std::string& snapshotId) {
  Impl& m = *impl_;
  auto slot = m.slotFor(container.id);
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, get(container.id));
  BERTH_TRY(auto snapshot, m.store.getSnapshot(record.id, snapshotId));
  BERTH_TRYV(requireStoppedOrFailed(record, "restore a snapshot into"));
  BERTH_TRYV(withContext(m.host.layers->restore(record.id, snapshot.id), "restore"));
  return m.lifecycle.update(record, record);
}

Result<store::SnapshotRecord> ContainerManager::deleteSnapshot(const ContainerRecord& container,
                                                              const std::string& snapshotId) {
  Impl& m = *impl_;
  auto slot = m.slotFor(container.id);
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto snapshot, m.store.getSnapshot(container.id, snapshotId));
  BERTH_TRYV(m.store.deleteSnapshot(container.id, snapshot.id));
  auto removed = m.host.layers->deleteSnapshot(container.id, snapshot.id);
  if (!removed && removed.error().code != Errc::not_found)
    spdlog::warn("container {}: removing snapshot {}: {}", container.id, snapshot.id, removed.error().describe());
  return snapshot;
}

Result<ContainerRecord> ContainerManager::copy(std::string_view actor, const ContainerRecord& source,
                                               const std::string& name, const std::string& projectId) {
  Impl& m = *impl_;
  int64_t t0 = m.clock.monotonicMillis();
  if (!isValidName(name)) return fail(Errc::invalid_argument, "name must be 1-64 characters of [A-Za-z0-9-]");
  auto sourceSlot = m.slotFor(source.id);
  std::lock_guard sourceLock(sourceSlot->opMutex);
  BERTH_TRY(auto from, get(source.id));
  BERTH_TRYV(requireStoppedOrFailed(from, "copy"));
  // Its layer is owned by its host id range, which a copy cannot share.
  if (from.isolation == store::kUserNamespace)
    return fail(Errc::invalid_argument, "copies of user-namespace containers are not supported yet");

  ContainerRecord record;
  record.id = newObjectId();
  record.runtimeId = newRuntimeId();
  record.name = name;
  record.projectId = projectId;
  record.ownerId = std::string(actor);
  record.image = from.image;
  record.command = from.command;
  record.env = from.env;
  record.workingDir = from.workingDir;
  record.resources = from.resources;
  record.networkMode = from.networkMode;
  record.user = from.user;
  record.umask = from.umask;
  record.autostart = false;
  record.createdAt = record.updatedAt = m.clock.now();
  record.status = ContainerStatus::copying;

  auto slot = m.slotFor(record.id);
  std::lock_guard lock(slot->opMutex);
  // A copy is a new container of its project: held to the commit of copy_begin, as a create's.
  BERTH_TRY(auto quota, m.claimQuota(record.projectId, record.id, std::nullopt, record.resources));
  BERTH_TRY(auto group, m.host.cgroups->create(record.runtimeId));
  auto dropGroup = ScopeGuard([&] { (void)group->destroy(); });
  BERTH_TRYV(withContext(group->setLimits(cgroupLimitsFor(record.resources, m.config.defaultPidsMax)), "cgroup limits"));
  BERTH_TRYV(makeDirs(m.containerDir(record.id) + "/merged", 0700));
  auto dropDirs = ScopeGuard([&] { (void)removeTree(m.containerDir(record.id)); });
  {
    std::unique_lock claiming(m.networkClaimMutex, std::defer_lock);
    if (record.networkMode == "bridge") claiming.lock();
    BERTH_TRYV(m.claimNetwork(record));
    BERTH_TRY(record, m.lifecycle.create(record, Trigger::copy_begin, m.noteBy(actor, t0)));
  }
  quota = {};
  dropGroup.dismiss();
  dropDirs.dismiss();
  slot->setInstance(std::make_shared<ContainerInstance>(std::move(group), m.config.timeouts));

  auto copied = [&]() -> Result<void> {
    BERTH_TRYV(m.host.layers->copy(from.id, record.id));
    return m.host.layers->setLimit(record.id, m.diskLimitBytes(record.resources));
  }();
  if (!copied) {
    Error error = copied.error();
    m.abandonCopy(record);
    return tl::unexpected(std::move(error).wrap("copy of the writable layer"));
  }
  ContainerRecord after = record;
  after.status = ContainerStatus::stopped;
  TransitionNote note = m.noteBy(actor, t0);
  note.reason = "copied from container " + from.id;
  return m.lifecycle.commit(record, std::move(after), Trigger::copy_done, note);
}

void ContainerManager::Impl::abandonCopy(const ContainerRecord& record) {
  (void)host.layers->destroy(record.id);
  if (auto instance = slotFor(record.id)->instance()) (void)instance->group().destroy();
  else if (auto group = host.cgroups->open(record.runtimeId); group && *group) (void)(**group)->destroy();
  (void)removeTree(containerDir(record.id));
  ContainerRecord after = record;
  after.status = ContainerStatus::deleted;
  TransitionNote note = noteBy(kSystemActor, clock.monotonicMillis());
  note.reason = "the copy did not finish";
  auto committed = lifecycle.commit(record, std::move(after), Trigger::copy_abandoned, note);
  if (!committed) spdlog::error("container {}: recording an abandoned copy: {}", record.id, committed.error().describe());
  std::lock_guard slotsLock(slotsMutex);
  slots.erase(record.id);
}

}  // namespace berth::runtime
