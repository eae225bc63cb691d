#pragma once
// The shim's side of runtime/exec.hpp: it listens on the control socket,
// starts each exec inside the container (namespaces/spawn.hpp), captures its
// output, kills it past its timeout, reaps it and records it. Driven by the
// shim's loop through one epoll fd; never blocks except for a spawn.
#include <linux/filter.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/process.hpp"
#include "common/unique_fd.hpp"
#include "namespaces/spawn.hpp"
#include "runtime/exec.hpp"

namespace berth::runtime {

// How a new process of the container enters its groups: born in the cgroup2
// group (CLONE_INTO_CGROUP through v2Dir), the other hierarchies' joined by writing.
struct CgroupPlacement {
  UniqueFd v2Dir;
  std::vector<std::string> otherJoinFiles;
};
// Splits cgroup::Group::joinFiles() by the filesystem each file is on.
Result<CgroupPlacement> openCgroupPlacement(const std::vector<std::string>& joinFiles);

// What an exec shares with the init it joins.
struct ExecContext {
  int initPidfd = -1;
  pid_t initPid = 0;
  CgroupPlacement cgroup;  // the init's groups: execs are placed as it was
  std::vector<std::string> env;               // the init's, KEY=VALUE
  std::string workingDir = "/";               // the init's
  std::vector<sock_filter> seccompFilter;
  std::string execDir;  // where the records go
  std::optional<ns::ProcessUser> user;  // the init's
  std::optional<mode_t> umask;
  bool userNamespace = false;  // the init has one of its own, joined first
};

class ExecService {
 public:
  // Listens on the instance's control socket.
  static Result<std::unique_ptr<ExecService>> open(const std::string& instanceDir, ExecContext context);
  ~ExecService();
  ExecService(const ExecService&) = delete;
  ExecService& operator=(const ExecService&) = delete;

  // Readable when something is to be handled.
  int fd() const { return epoll_.get(); }
  // The monotonic time (ms) by which handle() must run again: a timeout or an output drain.
  std::optional<int64_t> nextDeadline() const;
  // Everything that is ready now, and what is due.
  void handle();
  // Once the init is gone: no more execs are taken (the pid namespace is ending).
  void stopAccepting();
  bool idle() const { return running_.empty(); }
  // Records every exec still running as ended (its exit unknown): the last resort of a shim on its way out.
  void abandonRunning();

 private:
  struct Connection;
  struct Running;
  ExecService(ExecContext context, std::string socketPath, UniqueFd epoll, UniqueFd listener,
              std::deque<std::string> kept);

  void accept();
  void readRequest(int fd);
  // Takes the client over once the exec has started; on failure the caller answers on it.
  Result<void> start(const IdentifiedExecRequest& request, UniqueFd& client);
  void readOutput(Running& exec, int fd);
  void reap(Running& exec);
  void finishIfDone(Running& exec);
  void finish(Running& exec);
  void writeRecord(const ExecRecord& record);
  void prune();
  void watch(int fd);
  void unwatch(int fd);

  ExecContext context_;
  std::string socketPath_;
  UniqueFd epoll_;
  UniqueFd listener_;
  std::map<int, std::unique_ptr<Connection>> connections_;  // awaiting their request, by fd
  std::map<std::string, std::unique_ptr<Running>> running_;  // by exec id
  std::map<int, Running*> byFd_;               // pidfds and output pipes
  std::deque<std::string> kept_;               // finished records on disk, oldest first
};

}  // namespace berth::runtime
