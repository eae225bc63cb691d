// berth-oci: the OCI runtime command line (runc's), so containerd and the
// tools built on it run containers with berth's namespaces and cgroup code:
//   berth-oci [--root DIR] [--log FILE] [--log-format json|text] [--systemd-cgroup]
//             create|start|state|kill|delete|ps|pause|resume|exec|update|features ...
// Errors go to stderr and, with --log, to that file as JSON lines
// ({"level":"error","msg":...,"time":...}), where containerd's shim reads the
// last one; the exit code is then 1.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "oci/runtime.hpp"

namespace {

using berth::Error;
using berth::Result;

struct Logger {
  std::string path;
  bool json = false;

  // The file must exist even when nothing goes wrong: the shim opens it.
  void touch() const {
    if (path.empty()) return;
    if (FILE* file = std::fopen(path.c_str(), "a")) std::fclose(file);
  }

  void error(const std::string& message) const {
    std::cerr << "berth-oci: " << message << "\n";
    if (path.empty()) return;
    FILE* file = std::fopen(path.c_str(), "a");
    if (!file) return;
    std::string line = json ? nlohmann::json{{"level", "error"}, {"msg", message}, {"time", berth::formatIsoMillis(berth::nowMillis())}}
                                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                            : "level=error msg=\"" + message + "\"";
    std::fprintf(file, "%s\n", line.c_str());
    std::fclose(file);
  }
};

int finish(const Logger& log, const Result<void>& result) {
  if (result) return 0;
  log.error(result.error().describe());
  return 1;
}

}  // namespace

int main(int argc, char* argv[]) {
  CLI::App app{"berth-oci: an OCI runtime over berth's namespaces and cgroup code"};
  app.require_subcommand(1);
  berth::oci::GlobalOptions global;
  Logger log;
  std::string logFormat = "text";
  bool debug = false;
  app.add_option("--root", global.root, "where container state lives")->capture_default_str();
  app.add_option("--log", log.path, "log errors to this file");
  app.add_option("--log-format", logFormat, "json or text")->check(CLI::IsMember({"json", "text"}));
  app.add_flag("--systemd-cgroup", global.systemdCgroup, "linux.cgroupsPath is slice:prefix:name");
  app.add_flag("--debug", debug, "accepted for runc's command line; berth-oci logs errors only");

  std::string id;
  berth::oci::CreateOptions create;
  bool noPivot = false, noNewKeyring = false;
  int preserveFds = 0;
  auto* createCmd = app.add_subcommand("create", "set a container up; its process waits for start");
  createCmd->add_option("-b,--bundle", create.bundle, "the bundle directory")->required();
  createCmd->add_option("--pid-file", create.pidFile, "write the init's pid here");
  createCmd->add_option("--console-socket", create.consoleSocket, "send the terminal's master over this unix socket");
  createCmd->add_flag("--no-pivot", noPivot, "accepted; berth-oci always uses pivot_root");
  createCmd->add_flag("--no-new-keyring", noNewKeyring, "accepted; no keyring is made");
  createCmd->add_option("--preserve-fds", preserveFds, "accepted only as 0");
  createCmd->add_option("id", id)->required();

  auto* startCmd = app.add_subcommand("start", "run a created container's process");
  startCmd->add_option("id", id)->required();
  auto* stateCmd = app.add_subcommand("state", "the container's state as JSON");
  stateCmd->add_option("id", id)->required();

  bool all = false;
  std::string signal = "SIGTERM";
  auto* killCmd = app.add_subcommand("kill", "signal the container's init (or, with --all, every process)");
  killCmd->add_flag("-a,--all", all, "every process of the container");
  killCmd->add_option("id", id)->required();
  killCmd->add_option("signal", signal, "a number or a name (TERM, SIGTERM)")->capture_default_str();

  bool force = false;
  auto* deleteCmd = app.add_subcommand("delete", "remove a container (a created one is killed first)");
  deleteCmd->add_flag("-f,--force", force, "kill a running container first");
  deleteCmd->add_option("id", id)->required();

  std::string format = "table";
  auto* psCmd = app.add_subcommand("ps", "the container's processes");
  psCmd->add_option("-f,--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  psCmd->add_option("id", id)->required();

  auto* pauseCmd = app.add_subcommand("pause", "freeze every process of the container");
  pauseCmd->add_option("id", id)->required();
  auto* resumeCmd = app.add_subcommand("resume", "thaw a paused container");
  resumeCmd->add_option("id", id)->required();

  berth::oci::ExecOptions exec;
  bool tty = false;
  auto* execCmd = app.add_subcommand("exec", "run a process in a running container");
  execCmd->add_option("-p,--process", exec.processFile, "the process as runtime-spec JSON")->required();
  execCmd->add_flag("-d,--detach", exec.detach, "return once it runs");
  execCmd->add_option("--pid-file", exec.pidFile, "write its pid here");
  execCmd->add_option("--console-socket", exec.consoleSocket, "send its terminal's master over this unix socket");
  execCmd->add_flag("-t,--tty", tty, "accepted: process.terminal decides");
  execCmd->add_option("id", id)->required();

  std::string resources;
  auto* updateCmd = app.add_subcommand("update", "change a container's resources");
  updateCmd->add_option("-r,--resources", resources, "linux.resources JSON, - for stdin")->required();
  updateCmd->add_option("id", id)->required();

  auto* featuresCmd = app.add_subcommand("features", "what this runtime supports, as JSON");

  CLI11_PARSE(app, argc, argv);
  // A reader gone (the shim's log pipe, a hook) is an error to report, not a
  // reason to die half-way through a create. The init resets it to the default before exec.
  ::signal(SIGPIPE, SIG_IGN);
  log.json = logFormat == "json";
  log.touch();
  if (preserveFds != 0) {
    log.error("--preserve-fds is not supported");
    return 1;
  }
  berth::oci::Runtime runtime(global);

  if (*createCmd) return finish(log, runtime.create(id, create));
  if (*startCmd) return finish(log, runtime.start(id));
  if (*stateCmd) {
    auto state = runtime.state(id);
    if (!state) return finish(log, tl::unexpected(state.error()));
    std::cout << *state << "\n";
    return 0;
  }
  if (*killCmd) return finish(log, runtime.kill(id, signal, all));
  if (*deleteCmd) return finish(log, runtime.remove(id, force));
  if (*psCmd) {
    auto pids = runtime.processes(id);
    if (!pids) return finish(log, tl::unexpected(pids.error()));
    if (format == "json") {
      std::cout << nlohmann::json(*pids).dump() << "\n";
    } else {
      std::cout << "PID\n";
      for (pid_t pid : *pids) std::cout << pid << "\n";
    }
    return 0;
  }
  if (*pauseCmd) return finish(log, runtime.pause(id));
  if (*resumeCmd) return finish(log, runtime.resume(id));
  if (*execCmd) {
    auto code = runtime.exec(id, exec);
    if (!code) return finish(log, tl::unexpected(code.error()));
    return *code;
  }
  if (*updateCmd) {
    std::string text;
    if (resources == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      auto read = berth::readFile(resources);
      if (!read) return finish(log, tl::unexpected(read.error()));
      text = *read;
    }
    return finish(log, runtime.update(id, text));
  }
  if (*featuresCmd) {
    std::cout << berth::oci::Runtime::features() << "\n";
    return 0;
  }
  return 0;
}
