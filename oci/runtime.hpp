#pragma once
// The OCI runtime commands of berth-oci (runc's command line, as containerd's
// runc shim drives it): create, start, state, kill, delete, ps, pause,
// resume, exec and update, over the same namespaces and cgroup code as
// berthd. No berth process stays between the caller and the container: the
// caller (containerd's shim, a subreaper) is the parent of the init.
//
// Each container is a directory under the root (--root): state.json and,
// until start, start.fifo, the gate its init waits at. A container's status
// is judged from /proc (its init's pid and that process's start time), never
// from waitpid, since the caller is the parent.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/error.hpp"

namespace berth::oci {

struct GlobalOptions {
  std::string root = "/run/berth-oci";
  bool systemdCgroup = false;
};

struct CreateOptions {
  std::string bundle;
  std::string pidFile;
  std::string consoleSocket;
};

struct ExecOptions {
  std::string processFile;  // a runtime-spec process object (JSON)
  bool detach = false;
  std::string pidFile;
  std::string consoleSocket;
};

// The record of one container in its state dir.
struct ContainerState {
  std::string id;
  pid_t pid = 0;
  uint64_t pidStartTime = 0;  // /proc/<pid>/stat field 22: a recycled pid is not the init
  std::string bundle;
  std::string rootfs;
  UnixMillis created = 0;
  std::map<std::string, std::string> annotations;
  std::string cgroupRoot;  // the driver's root ("default") and the group's name
  std::string cgroupName;
};

enum class Status { creating, created, running, paused, stopped };
std::string_view statusName(Status status);

class Runtime {
 public:
  explicit Runtime(GlobalOptions options) : options_(std::move(options)) {}

  Result<void> create(const std::string& id, const CreateOptions& options);
  Result<void> start(const std::string& id);
  // The state JSON of the runtime spec.
  Result<std::string> state(const std::string& id);
  Result<void> kill(const std::string& id, const std::string& signal, bool all);
  Result<void> remove(const std::string& id, bool force);
  // Host pids of the container's processes.
  Result<std::vector<pid_t>> processes(const std::string& id);
  Result<void> pause(const std::string& id);
  Result<void> resume(const std::string& id);
  // Returns the exit code to leave with: the process's own unless detached (0).
  Result<int> exec(const std::string& id, const ExecOptions& options);
  // linux.resources JSON.
  Result<void> update(const std::string& id, const std::string& resourcesJson);
  // The `features` JSON.
  static std::string features();

 private:
  std::string dirOf(const std::string& id) const { return options_.root + "/" + id; }
  Result<ContainerState> load(const std::string& id) const;
  Status statusOf(const ContainerState& state) const;

  GlobalOptions options_;
};

// "TERM", "SIGTERM", "15" -> 15.
Result<int> parseSignal(const std::string& text);
// Container ids as runc takes them: 1-1024 of [A-Za-z0-9_+.-], not starting with '.'.
bool isValidContainerId(const std::string& id);
// /proc/<pid>/stat's starttime; nullopt when the process is gone.
std::optional<uint64_t> processStartTime(pid_t pid);

}  // namespace berth::oci
