// Times the runtime core's primitives without HTTP: create+start to running,
// pause, resume, stop of a SIGTERM-handling init, force-stop, delete, and a
// /bin/true run to completion (create with autostart, wait for the commit of
// its stop, delete).
//   build/bench/bench_runtime_core [iterations]   (root; default 50)
// Prints median and p99 per primitive in milliseconds.
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "runtime/manager.hpp"
#include "store/store.hpp"

using namespace berth;
using namespace berth::runtime;

namespace {

const std::string kActor = "000000000000000000000000";

struct Samples {
  std::vector<double> ms;
  void print(const char* name) {
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))]; };
    std::printf("%-22s n=%-4zu median %8.3f ms   p99 %8.3f ms\n", name, ms.size(), at(0.5), at(0.99));
  }
};

template <typename F>
auto timed(Samples& samples, F&& body) {
  auto t0 = std::chrono::steady_clock::now();
  auto result = body();
  samples.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  return result;
}

}  // namespace

int main(int argc, char* argv[]) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 50;
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_runtime_core needs root\n");
    return 2;
  }
  char dataTemplate[] = "/tmp/berth-bench-XXXXXX";
  if (!::mkdtemp(dataTemplate)) return 1;
  std::string data = dataTemplate;
  bool failed = false;
  RuntimeConfig config;
  config.dataDir = data;
  config.runDir = data + "/run";
  config.cgroupRoot = "berth-bench-" + std::to_string(::getpid());
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) return 1;
  std::string selfPath(self, static_cast<size_t>(n));
  config.shimPath = selfPath.substr(0, selfPath.rfind("/bench/")) + "/cmd/berth-shim";
  [&] {
    // Declared before the manager, whose threads call the listener below until it is gone.
    std::mutex stoppedMutex;
    std::condition_variable stoppedChanged;
    std::set<std::string> stoppedIds;
    auto store = store::Store::open(data + "/db");
    if (!store) {
      std::fprintf(stderr, "store: %s\n", store.error().describe().c_str());
      failed = true;
      return;
    }
    auto manager = ContainerManager::open(config, **store);
    if (!manager) {
      std::fprintf(stderr, "manager: %s\n", manager.error().describe().c_str());
      failed = true;
      return;
    }
    ContainerManager& m = **manager;
    m.onChange([&](const CommittedChange& change) {
      // An exit: running to stopped (a new record is committed stopped first).
      if (change.before.status != store::ContainerStatus::running ||
          change.after.status != store::ContainerStatus::stopped)
        return;
      std::lock_guard lock(stoppedMutex);
      stoppedIds.insert(change.after.id);
      stoppedChanged.notify_all();
    });
    Samples createStart, pause, resume, stop, start, forceStop, remove, toCompletion;
    const std::vector<std::string> termHandler{"/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done"};
    std::vector<std::string> made;  // every container, force-removed if a step fails
    auto measure = [&]() -> Result<void> {
      for (int i = 0; i < iterations; ++i) {
        CreateRequest request;
        request.name = "bench-" + std::to_string(i);
        request.projectId = kActor;
        request.command = termHandler;
        BERTH_TRY(Created created, timed(createStart, [&] { return m.create(kActor, request); }));
        made.push_back(created.record.id);
        if (created.startError) return tl::unexpected(*created.startError);
        const ContainerRecord& record = created.record;
        // A freeze right after start waits for the shell to finish exec'ing
        // (~10 ms); pause is timed, as it is used, on a settled container.
        ::usleep(200000);
        BERTH_TRYV(timed(pause, [&] { return m.operate(kActor, record, Operation::pause); }));
        BERTH_TRYV(timed(resume, [&] { return m.operate(kActor, record, Operation::resume); }));
        BERTH_TRYV(timed(stop, [&] { return m.operate(kActor, record, Operation::stop); }));
        BERTH_TRYV(timed(start, [&] { return m.operate(kActor, record, Operation::start); }));
        BERTH_TRYV(timed(forceStop, [&] { return m.operate(kActor, record, Operation::force_stop); }));
        BERTH_TRYV(timed(remove, [&] { return m.remove(kActor, record.id, false, false); }));

        CreateRequest once;
        once.name = "true-" + std::to_string(i);
        once.projectId = kActor;
        once.command = {"/bin/true"};
        BERTH_TRYV(timed(toCompletion, [&]() -> Result<ContainerRecord> {
          BERTH_TRY(Created run, m.create(kActor, once));
          made.push_back(run.record.id);
          if (run.startError) return tl::unexpected(*run.startError);
          // The exit is recorded by the supervisor thread. Waiting on the commit
          // rather than polling the store: a polling loop here would hold one of
          // this host's two cores that the container and its monitor need.
          {
            std::unique_lock lock(stoppedMutex);
            if (!stoppedChanged.wait_for(lock, std::chrono::seconds(30),
                                         [&] { return stoppedIds.count(run.record.id) > 0; }))
              return fail(Errc::deadline_exceeded, "/bin/true was not recorded stopped within 30 s");
          }
          return m.remove(kActor, run.record.id, false, false);
        }));
      }
      return {};
    };
    if (auto measured = measure(); !measured) {
      std::fprintf(stderr, "bench: %s\n", measured.error().describe().c_str());
      for (const std::string& id : made) (void)m.remove(kActor, id, true, false);
      failed = true;
    }
    if (!failed) {
      createStart.print("create+start");
      start.print("start");
      pause.print("pause");
      resume.print("resume");
      stop.print("stop (SIGTERM)");
      forceStop.print("force-stop");
      remove.print("delete");
      toCompletion.print("run /bin/true");
    }
  }();
  if (auto driver = cgroup::Driver::detect(config.cgroupRoot)) (void)driver->removeRoot();
  // The storage pool stays mounted when its service ends (containers may live on); the bench's goes with it.
  if (::umount2((data + "/storage/pool").c_str(), 0) != 0) std::perror("umount storage pool");
  (void)removeTree(data);
  return failed ? 1 : 0;
}
