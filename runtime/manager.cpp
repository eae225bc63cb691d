// ContainerManager's operations: it decides, the Lifecycle commits, the
// ContainerInstance acts. Recovery after a service start is recovery.cpp, expiry is expiry.cpp.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/process.hpp"
#include "common/scope_guard.hpp"
#include "runtime/console_log.hpp"
#include "runtime/images.hpp"
#include "runtime/manager_impl.hpp"
#include "runtime/users.hpp"
#include "store/store.hpp"

namespace berth::runtime {

namespace {

constexpr std::string_view kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool isLive(ContainerStatus status) { return status == ContainerStatus::running || status == ContainerStatus::paused; }

tl::unexpected<Error> refusedFrom(std::string_view what, ContainerStatus status) {
  return fail(Errc::state_conflict,
              "cannot " + std::string(what) + " a container that is " + std::string(store::statusName(status)));
}

}  // namespace

cgroup::Limits cgroupLimitsFor(const Resources& resources, uint64_t defaultPidsMax) {
  cgroup::Limits limits;
  limits.memoryBytes = resources.memoryMb.value_or(0) * 1024 * 1024;
  limits.cpuMillicores = resources.cpuMillicores.value_or(0);
  limits.pidsMax = resources.pidsMax.value_or(defaultPidsMax);
  return limits;
}

void recordExit(ContainerRecord& record, TransitionNote& note, const ExitFacts& exit) {
  record.exitCode = exit.exitCode;
  record.exitSignal = exit.signal;
  record.oomKilled = exit.oomKilled;
  record.finishedAt = exit.finishedAt;
  record.pid.reset();
  note.exitCode = exit.exitCode;
  note.signal = exit.signal;
  if (exit.oomKilled) note.oomKilled = true;
}

ContainerManager::Impl::Impl(RuntimeConfig cfg, store::Store& s, Host h, NetworkPlan plan)
    : config(std::move(cfg)),
      store(s),
      host(std::move(h)),
      clock(*host.clock),
      lifecycle(store, clock, config.durability),
      imagesDir(config.dataDir + "/images"),
      containersDir(config.dataDir + "/containers"),
      network(std::move(plan)) {}

std::shared_ptr<Slot> ContainerManager::Impl::slotFor(const std::string& id) {
  std::lock_guard lock(slotsMutex);
  auto& slot = slots[id];
  if (!slot) slot = std::make_shared<Slot>();
  return slot;
}

TransitionNote ContainerManager::Impl::noteBy(std::string_view actor, int64_t startedMonotonicMs) const {
  TransitionNote note;
  note.actor = std::string(actor);
  note.startedMonotonicMs = startedMonotonicMs;
  return note;
}

Result<void> ContainerManager::Impl::checkResources(const Resources& resources) const {
  const TierLimits& tier = config.tierLimits;
  auto over = [](const char* field, uint64_t value, uint64_t max) -> Result<void> {
    if (value > max)
      return fail(Errc::resource_exhausted, std::string("resources.") + field + " " + std::to_string(value) +
                                                " exceeds the limit " + std::to_string(max));
    return {};
  };
  if (resources.memoryMb) BERTH_TRYV(over("memory_mb", *resources.memoryMb, tier.maxMemoryMb));
  if (resources.cpuMillicores) BERTH_TRYV(over("cpu_millicores", *resources.cpuMillicores, tier.maxCpuMillicores));
  if (resources.pidsMax) BERTH_TRYV(over("pids_max", *resources.pidsMax, tier.maxPidsMax));
  if (resources.diskMb) BERTH_TRYV(over("disk_mb", *resources.diskMb, tier.maxDiskMb));
  return {};
}

Result<void> ContainerManager::Impl::makeContainerDirs(const ContainerRecord& record) {
  BERTH_TRYV(makeDirs(containerDir(record.id) + "/merged", 0700));
  if (host.layers->exists(record.id)) return {};
  BERTH_TRYV(withContext(host.layers->create(record.id), "writable layer"));
  auto dropLayer = ScopeGuard([&] { (void)host.layers->destroy(record.id); });
  BERTH_TRYV(withContext(host.layers->setLimit(record.id, diskLimitBytes(record.resources)), "disk quota"));
  dropLayer.dismiss();
  return {};
}

std::optional<uint64_t> ContainerManager::Impl::diskLimitBytes(const Resources& resources) const {
  uint64_t megabytes = resources.diskMb.value_or(config.tierLimits.maxDiskMb);
  if (megabytes == 0) return std::nullopt;
  return megabytes * 1024 * 1024;
}

Result<std::shared_ptr<ContainerInstance>> ContainerManager::Impl::ensureInstance(
    Slot& slot, ContainerRecord& record, std::optional<Recreation>* recreated) {
  if (auto existing = slot.instance()) return existing;
  if (!record.runtimeId.empty()) {
    BERTH_TRY(auto opened, host.cgroups->open(record.runtimeId));
    if (opened) {
      auto instance = std::make_shared<ContainerInstance>(std::move(*opened), config.timeouts);
      slot.setInstance(instance);
      return instance;
    }
  }
  if (recreated) *recreated = Recreation{record.runtimeId, host.layers->exists(record.id)};
  record.runtimeId = newRuntimeId();
  BERTH_TRY(auto group, host.cgroups->create(record.runtimeId));
  auto dropGroup = ScopeGuard([&] { (void)group->destroy(); });
  BERTH_TRYV(withContext(group->setLimits(cgroupLimitsFor(record.resources, config.defaultPidsMax)), "cgroup limits"));
  dropGroup.dismiss();
  auto instance = std::make_shared<ContainerInstance>(std::move(group), config.timeouts);
  slot.setInstance(instance);
  return instance;
}

ShimSpec ContainerManager::Impl::shimSpecFor(const ContainerRecord& record, const ContainerGroup& group) const {
  ShimSpec spec;
  std::string dir = containerDir(record.id);
  spec.containerId = record.id;
  spec.runtimeId = record.runtimeId;
  spec.imageDir = imageRootfs(imagesDir, record.image);
  spec.upperDir = host.layers->upperDir(record.id);
  spec.workDir = host.layers->workDir(record.id);
  spec.mergedDir = dir + "/merged";
  spec.argv = record.command.empty() ? std::vector<std::string>{"/bin/sh"} : record.command;
  std::string hostname = record.hostname.empty() ? record.name : record.hostname;
  if (!record.env.count("PATH")) spec.env.push_back("PATH=" + std::string(kDefaultPath));
  spec.env.push_back("HOSTNAME=" + hostname);
  for (const auto& [key, value] : record.env) spec.env.push_back(key + "=" + value);
  spec.workingDir = record.workingDir.empty() ? "/" : record.workingDir;
  spec.hostname = hostname;
  spec.logPath = consoleLogPath(record.id);
  spec.logMaxBytes = config.logMaxBytes;
  spec.cgroupJoinFiles = group.joinFiles();
  for (const cgroup::Hierarchy& hierarchy : host.cgroups->containerHierarchies())
    spec.cgroupMounts.push_back({hierarchy.name, hierarchy.fstype, hierarchy.controllers, hierarchy.aliases,
                                 cgroup::groupDirIn(hierarchy, spec.cgroupJoinFiles)});
  spec.execDir = execDir(record.id);
  if (record.user) spec.user = ns::ProcessUser{record.user->uid, record.user->gid, record.user->groups};
  if (record.umask) spec.umask = static_cast<mode_t>(*record.umask);
  if (record.idMap)
    spec.userNamespace = ns::UserNamespaceMap{record.idMap->hostUid, record.idMap->hostGid, record.idMap->size};
  return spec;
}

Result<void> ContainerManager::Impl::watch(const std::string& id, const ContainerInstance& instance) {
  return supervisor->watch(id, instance.monitor().exitFd());
}

Result<ContainerRecord> ContainerManager::Impl::doStart(Slot& slot, const ContainerRecord& record, Trigger trigger,
                                                        std::string_view actor, int64_t startedMonotonicMs,
                                                        std::optional<Recreation>* recreated) {
  ContainerRecord after = record;
  after.stoppedByUser = false;
  // A start by a user or the service begins a new restart loop; the policy's own keeps counting.
  if (trigger != Trigger::restart_policy) {
    after.restartCount = 0;
    after.restartBackoffMs = 0;
  }
  std::shared_ptr<ContainerInstance> instance;
  std::optional<Recreation> recreation;
  auto launched = [&]() -> Result<std::unique_ptr<Monitor>> {
    if (!imageExists(imagesDir, after.image))
      return fail(Errc::host_refused, "image " + after.image + " is missing on the host");
    // A writable layer removed behind berth's back takes its instance with it:
    // the start rebuilds both under a new runtime id.
    if (auto stale = slot.instance(); stale && !host.layers->exists(after.id)) {
      BERTH_TRYV(withContext(stale->group().waitEmpty(config.timeouts.kill), "previous processes"));
      BERTH_TRYV(stale->group().destroy());
      slot.setInstance(nullptr);
    }
    BERTH_TRY(instance, ensureInstance(slot, after, &recreation));
    BERTH_TRYV(makeContainerDirs(after));
    BERTH_TRYV(ownLayer(after));  // a layer made again just now is the host's
    BERTH_TRYV(withContext(instance->group().waitEmpty(config.timeouts.kill), "previous processes"));
    BERTH_TRYV(withContext(instance->group().renewForClone(cgroupLimitsFor(after.resources, config.defaultPidsMax)),
                           "cgroup"));
    ShimSpec spec = shimSpecFor(after, instance->group());
    BERTH_TRY(UniqueFd netns, prepareNetwork(after, spec));
    auto monitor = host.monitors->launch(instancePaths(after.runtimeId), std::move(spec));
    if (!monitor) releaseLink(after);
    return monitor;
  }();
  TransitionNote note = noteBy(actor, startedMonotonicMs);
  if (trigger == Trigger::restart_policy) {
    note.attempt = record.restartCount;
    note.reason = "restart policy " + store::restartPolicyName(record.restartPolicy) + ": restart " +
                  std::to_string(record.restartCount) + " after " + std::to_string(record.restartBackoffMs) + " ms";
  }
  if (!launched) {
    Error error = std::move(launched.error());
    note.reason = error.describeForClient();
    after.pid.reset();
    after.status = ContainerStatus::failed;
    auto failed = lifecycle.commit(record, after, trigger, note);
    if (!failed) spdlog::error("container {}: recording failed start: {}", record.id, failed.error().describe());
    return tl::unexpected(std::move(error).wrap("start"));
  }
  instance->attach(std::move(*launched));
  const ShimState& state = instance->monitor().state();
  after.status = ContainerStatus::running;
  after.pid = state.initPid;
  after.startedAt = state.startedAt;
  after.finishedAt.reset();
  after.exitCode.reset();
  after.exitSignal.reset();
  after.oomKilled = false;
  // Reached when init exec'd (the monitor's clock), so a quick exit it
  // records can never seem to come before the start.
  note.reachedAt = state.startedAt;
  if (recreation && !recreation->oldRuntimeId.empty())
    note.reason = "recreated: the runtime instance " + recreation->oldRuntimeId + " was gone; it is now " +
                  after.runtimeId +
                  (recreation->volumeKept ? ", with the writable layer kept" : ", with a new writable layer");
  auto committed = lifecycle.commit(record, std::move(after), trigger, note);
  if (!committed) {
    // Not recorded means not running: undo the kernel side.
    (void)instance->kill();
    (void)instance->absorbExit(clock);
    releaseLink(record);
    return tl::unexpected(std::move(committed.error()));
  }
  BERTH_TRYV(watch(record.id, *instance));
  if (recreated && recreation && !recreation->oldRuntimeId.empty()) *recreated = std::move(recreation);
  return committed;
}

Result<Halted> ContainerManager::Impl::halt(ContainerInstance& instance, const ContainerRecord& record,
                                            std::optional<std::chrono::seconds> grace) {
  supervisor->unwatch(record.id);
  auto rewatch = ScopeGuard([&] {
    if (instance.running()) (void)watch(record.id, instance);
  });
  // A frozen init could not act on its SIGTERM.
  if (record.status == ContainerStatus::paused) BERTH_TRYV(instance.thaw());
  Halted halted;
  if (grace) {
    BERTH_TRY(halted.exitedInGrace, instance.terminate(*grace));
  } else {
    BERTH_TRYV(instance.kill());
  }
  halted.exit = instance.absorbExit(clock);
  releaseLink(record);
  rewatch.dismiss();
  return halted;
}

namespace {

// The record as it was, now in `status`, committed as `trigger` made it.
Result<ContainerRecord> commitStatus(Lifecycle& lifecycle, const ContainerRecord& record, ContainerStatus status,
                                     Trigger trigger, const TransitionNote& note) {
  ContainerRecord after = record;
  after.status = status;
  return lifecycle.commit(record, std::move(after), trigger, note);
}

}  // namespace

Result<ContainerRecord> ContainerManager::Impl::doPause(ContainerInstance& instance, const ContainerRecord& record,
                                                        std::string_view actor, int64_t startedMonotonicMs) {
  BERTH_TRYV(instance.beginFreeze());
  auto paused = commitStatus(lifecycle, record, ContainerStatus::paused, Trigger::pause,
                             noteBy(actor, startedMonotonicMs));
  if (!paused) {
    // Not recorded means not done: the kernel goes back to what the record says.
    (void)instance.thaw();
    return paused;
  }
  Result<void> frozen = instance.finishFreeze();
  if (frozen) return paused;
  // finishFreeze has thawed the group; once a thaw confirms that, the record
  // follows the kernel back to running.
  if (auto thawed = instance.thaw(); !thawed) {
    spdlog::error("container {}: a pause whose freeze failed ({}) stays recorded as paused: {}", record.id,
                  frozen.error().describe(), thawed.error().describe());
    return tl::unexpected(std::move(frozen.error()));
  }
  TransitionNote note = noteBy(actor, startedMonotonicMs);
  note.reason = "the freeze did not finish and was undone";
  if (auto undone = commitStatus(lifecycle, *paused, ContainerStatus::running, Trigger::pause_undone, note); !undone)
    spdlog::error("container {}: recording the undone pause: {}", record.id, undone.error().describe());
  return tl::unexpected(std::move(frozen.error()));
}

Result<ContainerRecord> ContainerManager::Impl::doResume(ContainerInstance& instance, const ContainerRecord& record,
                                                         std::string_view actor, int64_t startedMonotonicMs) {
  BERTH_TRYV(instance.thaw());
  auto resumed = commitStatus(lifecycle, record, ContainerStatus::running, Trigger::resume,
                              noteBy(actor, startedMonotonicMs));
  if (!resumed) (void)instance.freeze();  // not recorded means not done
  return resumed;
}

Result<ContainerRecord> ContainerManager::Impl::doStop(Slot& slot, const ContainerRecord& record, Trigger trigger,
                                                       std::string_view actor, int64_t startedMonotonicMs,
                                                       std::optional<std::chrono::seconds> grace) {
  auto instance = slot.instance();
  if (!instance || !instance->running())
    return fail(Errc::internal, "container " + record.id + " is " + std::string(store::statusName(record.status)) +
                                    " but has no monitor");
  BERTH_TRY(auto halted, halt(*instance, record, grace));
  ContainerRecord after = record;
  after.status = ContainerStatus::stopped;
  after.stoppedByUser = true;  // not an exit by itself: no restart policy applies
  TransitionNote note = noteBy(actor, startedMonotonicMs);
  recordExit(after, note, halted.exit);
  if (grace) note.reason = halted.exitedInGrace ? "exited after SIGTERM" : "killed after the grace period";
  return lifecycle.commit(record, std::move(after), trigger, note);
}

void ContainerManager::Impl::onMonitorExit(const std::string& id) {
  auto slot = slotFor(id);
  std::lock_guard lock(slot->opMutex);
  auto instance = slot->instance();
  if (!instance || !instance->running() || !instance->monitorGone()) return;  // an operation already handled it
  auto record = store.getContainer(id);
  if (!record) {
    spdlog::error("container {}: exit of an unknown container: {}", id, record.error().describe());
    return;
  }
  ExitFacts exit = instance->absorbExit(clock);
  releaseLink(*record);
  ContainerRecord after = *record;
  after.status = ContainerStatus::stopped;
  TransitionNote note = noteBy(kSystemActor, clock.monotonicMillis());
  recordExit(after, note, exit);
  note.reason = exit.oomKilled ? "out of memory" : "init exited";
  note.reachedAt = exit.finishedAt;
  planRestartAfterExit(after, note, exit);
  auto committed =
      lifecycle.commit(*record, std::move(after), exit.oomKilled ? Trigger::oom_kill : Trigger::exit, note);
  if (!committed) spdlog::error("container {}: recording exit: {}", id, committed.error().describe());
}

// --- the public face ---

ContainerManager::ContainerManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ContainerManager::~ContainerManager() {
  // Containers keep running and keep their groups: only stop watching them.
  impl_->stopRestartScheduler();
  impl_->expiry.reset();
  impl_->supervisor.reset();
  impl_->eventPruner.reset();
}

Result<std::unique_ptr<ContainerManager>> ContainerManager::open(const RuntimeConfig& config, store::Store& store) {
  BERTH_TRY(auto host, kernelHost(config));
  return open(config, store, std::move(host));
}

Result<std::unique_ptr<ContainerManager>> ContainerManager::open(const RuntimeConfig& config, store::Store& store,
                                                                 Host host) {
  BERTH_TRY(auto plan, NetworkPlan::make(config.network));
  auto impl = std::make_unique<Impl>(config, store, std::move(host), std::move(plan));
  BERTH_TRY(impl->logWatch, LogWatch::open(config.logFollowersMax));
  BERTH_TRYV(makeDirs(impl->imagesDir, 0755));
  BERTH_TRYV(makeDirs(impl->containersDir, 0700));
  BERTH_TRYV(withContext(ensureBusyboxImage(impl->imagesDir), "busybox image"));
  BERTH_TRYV(withContext(removeImageLeftovers(impl->imagesDir), "image leftovers"));
  Impl* raw = impl.get();
  impl->eventPruner = std::make_unique<EventPruner>(store, impl->clock, config.eventsRetention);
  // Every commit writes at least one event.
  impl->lifecycle.subscribe([raw](const CommittedChange&) { raw->eventPruner->written(1); });
  impl->lifecycle.subscribe([raw](const CommittedChange& change) { raw->trackRestart(change.after); });
  BERTH_TRY(impl->supervisor, Supervisor::start([raw](const std::string& id) { raw->onMonitorExit(id); }));
  BERTH_TRYV(withContext(impl->recover(), "recovery"));
  impl->expiry = std::make_unique<DueScheduler>(impl->clock, [raw] { return raw->expireDue(); });
  impl->startRestartScheduler();
  return std::unique_ptr<ContainerManager>(new ContainerManager(std::move(impl)));
}

const RuntimeConfig& ContainerManager::config() const { return impl_->config; }

void ContainerManager::onChange(Lifecycle::Listener listener) { impl_->lifecycle.subscribe(std::move(listener)); }

Result<store::EventPage> ContainerManager::eventsAfter(const std::string& afterId, size_t limit) const {
  return impl_->store.eventsAfter(afterId, limit);
}

Result<std::optional<std::string>> ContainerManager::lastEventId() const { return impl_->store.lastEventId(); }

bool ContainerManager::hasImage(const std::string& name) const { return imageExists(impl_->imagesDir, name); }

Result<std::vector<ImageInfo>> ContainerManager::listImages() const { return listImagesIn(impl_->imagesDir); }

Result<ImageInfo> ContainerManager::importImage(const std::string& name, const std::string& ref,
                                                const BodyReader& read) {
  return importImageInto(impl_->imagesDir, name, ref, read, impl_->config.imageMaxBytes);
}

Result<ImageInfo> ContainerManager::deleteImage(const std::string& name) {
  Impl& m = *impl_;
  if (name == kDefaultImage) return fail(Errc::invalid_argument, "the builtin image busybox cannot be deleted");
  std::unique_lock lock(m.imagesMutex);
  BERTH_TRY(ImageInfo image, readImage(m.imagesDir, name));
  BERTH_TRY(auto records, m.store.allContainers());
  for (const auto& record : records) {
    if (record.status != ContainerStatus::deleted && record.image == name)
      return fail(Errc::state_conflict, Detail::image_in_use,
                  "image " + name + " is used by container " + record.id + " (" + record.name + ")");
  }
  BERTH_TRYV(removeImageDir(m.imagesDir, name));
  return image;
}

Result<Created> ContainerManager::create(std::string_view actor, const CreateRequest& request) {
  Impl& m = *impl_;
  int64_t t0 = m.clock.monotonicMillis();
  if (!isValidName(request.name)) return fail(Errc::invalid_argument, "name must be 1-64 characters of [A-Za-z0-9-]");
  // Held until the record is committed: the image cannot be deleted meanwhile.
  std::shared_lock imageLock(m.imagesMutex);
  if (!hasImage(request.image)) return fail(Errc::not_found, "image " + request.image + " not found");
  BERTH_TRY(ImageDefaults defaults, readImageDefaults(m.imagesDir, request.image));
  BERTH_TRYV(m.checkResources(request.resources));
  BERTH_TRYV(checkPublishedPorts(request.networkMode, request.ports));
  BERTH_TRY(std::string isolation, m.isolationFor(request));
  std::string userName = request.user.value_or(defaults.user);
  if (userName.empty()) userName = "0:0";
  BERTH_TRY(auto user, resolveImageUser(imageRootfs(m.imagesDir, request.image), userName, maxContainerId(isolation)));

  ContainerRecord record;
  record.id = newObjectId();
  record.runtimeId = newRuntimeId();
  record.name = request.name;
  record.projectId = request.projectId;
  record.ownerId = std::string(actor);
  record.image = request.image;
  // The image's defaults are copied into the record: the container shows what
  // it runs, and keeps it whatever later happens to the image.
  record.command = request.command.empty() ? defaults.command : request.command;
  for (const auto& entry : defaults.env) {
    size_t eq = entry.find('=');
    if (eq != std::string::npos && eq > 0) record.env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : request.env) record.env[key] = value;
  record.workingDir = request.workingDir;
  if (record.workingDir.empty()) record.workingDir = defaults.workingDir;
  if (record.workingDir.empty()) record.workingDir = "/";
  if (record.workingDir.front() != '/') record.workingDir = "/" + record.workingDir;
  record.hostname = request.hostname;
  record.resources = request.resources;
  record.networkMode = request.networkMode;
  record.ports = request.ports;
  record.autostart = request.autostart;
  record.expiresAt = request.expiresAt;
  record.restartPolicy = request.restartPolicy;
  record.user = std::move(user);
  record.umask = request.umask;
  record.isolation = isolation;
  record.createdAt = record.updatedAt = m.clock.now();
  record.status = ContainerStatus::stopped;

  auto slot = m.slotFor(record.id);
  std::lock_guard lock(slot->opMutex);
  // Held to the commit: the record counts for the next create of the project.
  BERTH_TRY(auto quota, m.claimQuota(record.projectId, record.id, std::nullopt, record.resources));
  BERTH_TRY(auto group, m.host.cgroups->create(record.runtimeId));
  auto dropGroup = ScopeGuard([&] { (void)group->destroy(); });
  BERTH_TRYV(
      withContext(group->setLimits(cgroupLimitsFor(record.resources, m.config.defaultPidsMax)), "cgroup limits"));
  BERTH_TRYV(m.makeContainerDirs(record));
  auto dropDirs = ScopeGuard([&] {
    (void)m.host.layers->destroy(record.id);
    (void)removeTree(m.containerDir(record.id));
  });
  {
    BERTH_TRYV(m.checkHostPorts(record));
    std::unique_lock claiming(m.networkClaimMutex, std::defer_lock);
    if (record.networkMode == "bridge" || record.isolation == store::kUserNamespace) claiming.lock();
    BERTH_TRYV(m.claimNetwork(record));
    BERTH_TRYV(m.claimIdRange(record));
    BERTH_TRYV(m.ownLayer(record));
    BERTH_TRY(record, m.lifecycle.create(record, Trigger::create, m.noteBy(actor, t0)));
  }
  quota = {};
  imageLock.unlock();
  dropGroup.dismiss();
  dropDirs.dismiss();
  slot->setInstance(std::make_shared<ContainerInstance>(std::move(group), m.config.timeouts));
  if (record.expiresAt) m.expiry->changed();
  if (!record.autostart) return Created{record, std::nullopt};
  auto started = m.doStart(*slot, record, Trigger::start, actor, m.clock.monotonicMillis());
  if (started) return Created{*started, std::nullopt};
  // The record as the failed start left it; without it, the start's error alone.
  auto failed = m.store.getContainer(record.id);
  if (!failed) return tl::unexpected(started.error());
  return Created{*failed, started.error()};
}

Result<ContainerRecord> ContainerManager::get(const std::string& id) const {
  BERTH_TRY(auto record, impl_->store.getContainer(id));
  if (record.status == ContainerStatus::deleted) return fail(Errc::not_found, "container " + id + " not found");
  return record;
}

Result<ContainerRecord> ContainerManager::getIncludingDeleted(const std::string& id) const {
  return impl_->store.getContainer(id);
}

Result<ContainerRecord> ContainerManager::findByReference(
    const std::string& reference, const std::optional<std::vector<std::string>>& projects) const {
  auto visible = [&](const ContainerRecord& record) {
    return record.status != ContainerStatus::deleted &&
           (!projects || std::find(projects->begin(), projects->end(), record.projectId) != projects->end());
  };
  auto notFound = [&] { return fail(Errc::not_found, "container " + reference.substr(0, 64) + " not found"); };
  if (isObjectId(reference)) {
    auto record = impl_->store.getContainer(reference);
    if (!record && record.error().code != Errc::not_found) return record;
    if (record && visible(*record)) return record;
    return notFound();
  }
  if (isRuntimeId(reference) || !projects) {
    BERTH_TRY(auto records, impl_->store.allContainers());
    std::vector<ContainerRecord> named;
    for (auto& record : records) {
      if (!visible(record)) continue;
      if (record.runtimeId == reference) return std::move(record);
      if (record.name == reference) named.push_back(std::move(record));
    }
    if (named.size() > 1)
      return fail(Errc::already_exists,
                  "the name " + reference + " is used in more than one project: use the container's id");
    if (named.empty()) return notFound();
    return std::move(named.front());
  }
  if (!isValidName(reference)) return notFound();
  std::optional<ContainerRecord> found;
  for (const auto& projectId : *projects) {
    BERTH_TRY(auto named, impl_->store.findContainerByName(projectId, reference));
    if (!named) continue;
    if (found)
      return fail(Errc::already_exists,
                  "the name " + reference + " is used in more than one project: use the container's id");
    found = std::move(*named);
  }
  if (!found) return notFound();
  return std::move(*found);
}

Result<ContainerPage> ContainerManager::list(const ContainerQuery& query) const {
  return impl_->store.listContainers(query);
}

Result<LogPage> ContainerManager::statusLogs(const std::string& id, const LogQuery& query) const {
  return impl_->store.statusLogs(id, query);
}

Result<store::ProjectLimits> ContainerManager::Impl::projectLimits(const std::string& projectId) const {
  auto project = store.getProject(projectId);
  if (project) return project->limits.over(config.projectLimits);
  // A project without a record (only tests make containers in one) follows the defaults.
  if (project.error().code == Errc::not_found) return config.projectLimits;
  return tl::unexpected(std::move(project.error()));
}

Result<ProjectUsage> ContainerManager::Impl::projectUsage(const std::string& projectId,
                                                          const std::string& exceptId) const {
  BERTH_TRY(auto records, store.allContainers());
  ProjectUsage usage;
  for (const auto& record : records)
    if (record.projectId == projectId && record.id != exceptId && record.status != ContainerStatus::deleted)
      usage.add(record.resources, config.tierLimits);
  return usage;
}

Result<std::unique_lock<std::mutex>> ContainerManager::Impl::claimQuota(const std::string& projectId,
                                                                        const std::string& containerId,
                                                                        const std::optional<Resources>& before,
                                                                        const Resources& after) {
  BERTH_TRY(auto limits, projectLimits(projectId));
  // Without a limit there is nothing to count, and nothing to serialize.
  if (limits == store::ProjectLimits{}) return std::unique_lock<std::mutex>();
  std::mutex* projectLock = nullptr;
  {
    std::lock_guard lock(quotaLocksMutex);
    auto& owned = quotaLocks[projectId];
    if (!owned) owned = std::make_unique<std::mutex>();
    projectLock = owned.get();
  }
  std::unique_lock held(*projectLock);
  BERTH_TRY(auto others, projectUsage(projectId, containerId));
  BERTH_TRYV(checkProjectLimits(limits, others, before, after, config.tierLimits));
  return held;
}

Result<ProjectQuota> ContainerManager::projectQuota(const store::ProjectRecord& project) const {
  BERTH_TRY(auto usage, impl_->projectUsage(project.id, ""));
  return ProjectQuota{project.limits.over(impl_->config.projectLimits), usage};
}

Result<std::map<ContainerStatus, uint64_t>> ContainerManager::countByStatus() const {
  BERTH_TRY(auto records, impl_->store.allContainers());
  std::map<ContainerStatus, uint64_t> counts;
  for (const auto& record : records) ++counts[record.status];
  return counts;
}

Result<UsageReport> ContainerManager::liveUsage(size_t limit) const {
  Impl& m = *impl_;
  BERTH_TRY(auto records, m.store.allContainers());
  std::vector<ContainerRecord> live;
  for (auto& record : records)
    if (record.status == ContainerStatus::running || record.status == ContainerStatus::paused)
      live.push_back(std::move(record));
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  UsageReport report;
  if (live.size() > limit) {
    report.omitted = live.size() - limit;
    live.resize(limit);
  }
  for (auto& record : live) {
    ContainerUsage usage;
    // A view of its own, like runtimeInfo: operations go on meanwhile.
    if (auto group = m.host.cgroups->open(record.runtimeId); group && *group) {
      if (auto stats = (**group)->stats()) {
        usage.cpuUsageUsec = stats->cpuUsageUsec;
        usage.memoryBytes = stats->memoryBytes;
        usage.memoryLimitBytes = stats->memoryLimitBytes;
      }
    }
    if (record.networkMode == "bridge") {
      auto traffic = m.host.network->traffic(m.network.hostVethName(record.id));
      if (traffic && *traffic) {
        usage.networkRxBytes = (*traffic)->rxBytes;
        usage.networkTxBytes = (*traffic)->txBytes;
      }
    }
    usage.container = std::move(record);
    report.containers.push_back(std::move(usage));
  }
  return report;
}

Result<ContainerRecord> ContainerManager::operate(std::string_view actor, const ContainerRecord& container,
                                                  Operation op, const OperationOptions& options,
                                                  std::optional<Recreation>* recreated) {
  Impl& m = *impl_;
  int64_t t0 = m.clock.monotonicMillis();
  auto slot = m.slotFor(container.id);
  // A force-stop cuts short a graceful stop waiting out its grace period
  // (which holds the lock), then finds the container stopped.
  bool escalated = false;
  if (op == Operation::force_stop)
    if (auto instance = slot->instance()) escalated = instance->escalate();
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, get(container.id));
  if (escalated && record.status == ContainerStatus::stopped) return record;
  bool stopping = op == Operation::stop || op == Operation::force_stop;
  if (stopping && record.status == ContainerStatus::stopped && record.restartDueAt) return m.cancelRestart(record);
  Trigger trigger = triggerOf(op);
  if (!acceptsFrom(trigger, record.status)) return refusedFrom(operationName(op), record.status);
  auto grace = options.timeout.value_or(m.config.defaultStopTimeout);
  switch (op) {
    case Operation::start:
      return m.doStart(*slot, record, trigger, actor, t0, recreated);
    case Operation::stop:
      return m.doStop(*slot, record, trigger, actor, t0, grace);
    case Operation::force_stop:
      return m.doStop(*slot, record, trigger, actor, t0, std::nullopt);
    case Operation::restart:
      if (record.status == ContainerStatus::running) {
        BERTH_TRY(record, m.doStop(*slot, record, trigger, actor, t0, grace));
        t0 = m.clock.monotonicMillis();
      }
      return m.doStart(*slot, record, trigger, actor, t0, recreated);
    case Operation::pause:
    case Operation::resume: {
      auto instance = slot->instance();
      if (!instance || !instance->running())
        return fail(Errc::internal, "container " + record.id + " is " + std::string(store::statusName(record.status)) +
                                        " but has no monitor");
      return op == Operation::pause ? m.doPause(*instance, record, actor, t0) : m.doResume(*instance, record, actor, t0);
    }
  }
  return fail(Errc::internal, "unknown operation");
}

store::Resources ResourcesChange::applyTo(store::Resources current) const {
  if (memoryMb) current.memoryMb = *memoryMb;
  if (cpuMillicores) current.cpuMillicores = *cpuMillicores;
  if (pidsMax) current.pidsMax = *pidsMax;
  if (diskMb) current.diskMb = *diskMb;
  return current;
}

Result<UpdateResult> ContainerManager::update(std::string_view actor, const std::string& id,
                                              const UpdateRequest& request) {
  (void)actor;
  Impl& m = *impl_;
  auto slot = m.slotFor(id);
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, get(id));
  const ContainerRecord before = record;
  bool stoppedOrFailed = record.status == ContainerStatus::stopped || record.status == ContainerStatus::failed;
  if ((request.env || request.command || request.workingDir || request.ports || request.user || request.umask) &&
      !stoppedOrFailed)
    return fail(Errc::state_conflict,
                "env, command, working_dir, ports, user and umask change only "
                "while stopped or failed (container is " +
                    std::string(store::statusName(record.status)) + ")");
  if (request.user) {
    if (!imageExists(m.imagesDir, record.image))
      return fail(Errc::host_refused, "image " + record.image + " is missing on the host");
    BERTH_TRY(record.user, resolveImageUser(imageRootfs(m.imagesDir, record.image), *request.user,
                                            maxContainerId(record.isolation)));
  }
  if (request.umask) record.umask = *request.umask;
  if (request.name && !isValidName(*request.name))
    return fail(Errc::invalid_argument, "name must be 1-64 characters of [A-Za-z0-9-]");
  std::optional<Resources> resources;
  if (request.resources) resources = request.resources->applyTo(record.resources);
  if (resources) BERTH_TRYV(m.checkResources(*resources));
  // Held to the commit, like a create's.
  std::unique_lock<std::mutex> quota;
  if (resources) {
    BERTH_TRY(quota, m.claimQuota(record.projectId, record.id, record.resources, *resources));
  }
  if (request.restartPolicy) {
    record.restartPolicy = *request.restartPolicy;
    if (record.restartPolicy.mode == store::RestartMode::no) record.restartDueAt.reset();
  }
  if (request.name) record.name = *request.name;
  if (request.autostart) record.autostart = *request.autostart;
  if (request.env) record.env = *request.env;
  if (request.command) record.command = *request.command;
  if (request.workingDir) record.workingDir = *request.workingDir;
  if (request.expiresAt) record.expiresAt = *request.expiresAt;
  if (request.ports) {
    BERTH_TRYV(checkPublishedPorts(record.networkMode, *request.ports));
    record.ports = *request.ports;
    BERTH_TRYV(m.checkHostPorts(record));
  }
  if (resources && resources->diskMb != record.resources.diskMb) {
    BERTH_TRY(uint64_t used, m.host.layers->usage(record.id));
    auto limit = m.diskLimitBytes(*resources);
    if (limit && *limit < used)
      return fail(Errc::invalid_argument, "disk_mb " + std::to_string(*resources->diskMb) + " is less than the " +
                                              std::to_string(used) + " bytes the writable layer holds now");
    BERTH_TRYV(withContext(m.host.layers->setLimit(record.id, limit), "disk quota"));
  }
  if (resources && !(*resources == record.resources)) {
    record.resources = *resources;
    BERTH_TRY(auto instance, m.ensureInstance(*slot, record));
    // Limits apply live through the cgroup: no restart needed.
    BERTH_TRYV(withContext(instance->group().setLimits(cgroupLimitsFor(record.resources, m.config.defaultPidsMax)),
                           "cgroup limits"));
  }
  BERTH_TRY(record, m.lifecycle.update(before, std::move(record)));
  if (request.expiresAt) m.expiry->changed();
  return UpdateResult{record, false};
}

Result<ContainerRecord> ContainerManager::remove(std::string_view actor, const std::string& id, bool force,
                                                 bool keepVolume) {
  Impl& m = *impl_;
  int64_t t0 = m.clock.monotonicMillis();
  auto slot = m.slotFor(id);
  std::unique_lock lock(slot->opMutex);
  BERTH_TRY(auto record, get(id));
  if (isLive(record.status)) {
    if (!force)
      return fail(Errc::state_conflict, "cannot delete a container that is " +
                                            std::string(store::statusName(record.status)) + " (use force)");
    BERTH_TRY(record, m.doStop(*slot, record, Trigger::force_stop, actor, t0, std::nullopt));
  }
  if (!acceptsFrom(Trigger::remove, record.status)) return refusedFrom("delete", record.status);
  std::shared_ptr<ContainerInstance> instance = slot->instance();
  if (instance) {
    BERTH_TRYV(instance->group().waitEmpty(m.config.timeouts.kill));
    BERTH_TRYV(instance->group().destroy());
    slot->setInstance(nullptr);
  } else {
    BERTH_TRY(auto opened, m.host.cgroups->open(record.runtimeId));
    if (opened) BERTH_TRYV((*opened)->destroy());
  }
  BERTH_TRYV(removeTree(m.instancePaths(record.runtimeId).dir));
  std::string dir = m.containerDir(id);
  if (keepVolume) {
    BERTH_TRYV(removeTree(dir + "/merged"));  // the layer and its snapshots stay in the pool
  } else {
    BERTH_TRYV(withContext(m.host.layers->deleteSnapshots(id), "snapshots"));
    BERTH_TRYV(m.store.deleteSnapshotsOf(id));
    BERTH_TRYV(withContext(m.host.layers->destroy(id), "writable layer"));
    BERTH_TRYV(removeTree(dir));
  }
  ContainerRecord after = record;
  after.status = ContainerStatus::deleted;
  BERTH_TRY(auto deleted, m.lifecycle.commit(record, std::move(after), Trigger::remove, m.noteBy(actor, t0)));
  lock.unlock();
  m.releaseBridgeIfUnused(deleted);
  std::lock_guard slotsLock(m.slotsMutex);
  m.slots.erase(id);
  return deleted;
}

Result<std::string> ContainerManager::logs(const ContainerRecord& container, std::optional<size_t> tailLines) const {
  return readLogTail(impl_->consoleLogPath(container.id), tailLines);
}

Result<LogFollower> ContainerManager::followLogs(const ContainerRecord& container, std::optional<size_t> tailLines,
                                                 std::string& initial) const {
  return LogFollower::open(*impl_->logWatch, impl_->consoleLogPath(container.id), tailLines, initial);
}

Result<RuntimeInfo> ContainerManager::runtimeInfo(const ContainerRecord& container) const {
  Impl& m = *impl_;
  RuntimeInfo info;
  if (!container.pid) return info;
  info.pid = *container.pid;
  // A view of its own: operations on the container go on meanwhile.
  BERTH_TRY(auto group, m.host.cgroups->open(container.runtimeId));
  if (!group) return info;
  if (auto stats = (*group)->stats()) {
    info.memoryBytes = stats->memoryBytes;
    info.memoryLimitBytes = stats->memoryLimitBytes;
    info.cpuUsageUsec = stats->cpuUsageUsec;
    info.pidsCurrent = stats->pidsCurrent;
    info.oomKills = stats->oomKills;
  }
  if (auto pids = (*group)->pids()) {
    for (pid_t pid : *pids) info.processes.push_back({pid, commandLineOf(pid)});
  }
  if (auto used = m.host.layers->usage(container.id)) info.diskUsedBytes = *used;
  info.diskLimitBytes = m.diskLimitBytes(container.resources);
  if (container.networkMode == "bridge") {
    auto traffic = m.host.network->traffic(m.network.hostVethName(container.id));
    if (traffic && *traffic) {
      info.networkRxBytes = (*traffic)->rxBytes;
      info.networkTxBytes = (*traffic)->txBytes;
    }
  }
  if (container.startedAt)
    info.uptimeSeconds = static_cast<uint64_t>(std::max<int64_t>(0, m.clock.now() - *container.startedAt) / 1000);
  return info;
}

}  // namespace berth::runtime
