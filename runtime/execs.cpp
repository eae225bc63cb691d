// Processes inside a running container (API.md §13): the manager checks the
// container runs and hands the request to its monitor, which starts and
// records each one (runtime/shim_exec.cpp).
#include "common/ids.hpp"
#include "runtime/manager_impl.hpp"

namespace berth::runtime {

Result<std::unique_ptr<ExecHandle>> ContainerManager::startExec(const ContainerRecord& container,
                                                                const ExecRequest& request) {
  Impl& m = *impl_;
  auto slot = m.slotFor(container.id);
  // Under the container's lock: no stop or pause is half done while the exec joins it.
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, get(container.id));
  if (record.status != ContainerStatus::running)
    return fail(Errc::state_conflict, "cannot exec in a container that is " + std::string(store::statusName(record.status)) +
                                          " (it must be running)");
  auto instance = slot->instance();
  if (!instance || !instance->running()) return fail(Errc::internal, "running container " + record.id + " has no monitor");
  return withContext(instance->monitor().exec(m.execDir(record.id), newObjectId(), request), "exec");
}

Result<std::vector<ExecRecord>> ContainerManager::listExecs(const ContainerRecord& container) const {
  return readExecRecords(impl_->execDir(container.id));
}

Result<ExecRecord> ContainerManager::getExec(const ContainerRecord& container, const std::string& execId) const {
  BERTH_TRY(auto records, listExecs(container));
  for (ExecRecord& record : records)
    if (record.id == execId) return std::move(record);
  return fail(Errc::not_found, Detail::exec_not_found, "container " + container.id + " has no exec " + execId);
}

}  // namespace berth::runtime
