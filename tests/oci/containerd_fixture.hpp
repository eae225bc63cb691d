#pragma once
// End-to-end fixture for berth-oci as containerd's runtime: a private
// containerd (its own root, state, sockets and TMPDIR in a temp dir, the CRI
// plugin and the unneeded snapshotters off) with a busybox image built from
// the host's busybox-static (umoci) and imported into a ctr namespace unique
// to the fixture. The runtime under test reaches the shim through ctr's
// --runc-binary, behind a wrapper script that logs each command line the shim
// runs. Teardown removes what the tests left through ctr, stops containerd by
// pid and then checks that nothing of the namespace is left on the host
// (cgroups, mounts under the temp dir, shims, container processes, shim
// sockets) and removes whatever is.
#include <chrono>
#include <string>
#include <vector>

#include "common/process.hpp"
#include "support/test_support.hpp"

namespace berth::oci {

// What one command printed and how it ended.
struct CommandRun {
  std::string command;  // argv joined by spaces, for messages
  int exitCode = -1;    // 128 + signal if it was killed
  bool timedOut = false;
  std::string out;
  std::string err;
};

// The OCI runtime the tests drive: $BERTH_OCI_RUNTIME (e.g. /usr/sbin/runc,
// the reference), else <BERTH_BUILD_DIR>/cmd/berth-oci, which is built with
// oci_e2e. The test fails (REQUIRE) when that file is not executable.
std::string runtimeUnderTest();

// Runs argv (no shell) with stdin from /dev/null, capturing stdout and
// stderr; killed by pid (SIGKILL) and reaped when it outlives the limit.
CommandRun runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                      const std::vector<std::string>& extraEnvironment = {});

// Runs argv (no shell) on a terminal of its own: a new pty whose slave is
// its stdin, stdout and stderr and its controlling terminal (setsid,
// TIOCSCTTY), 80x24. `out` is all it wrote to the terminal, read from the
// master until EOF (`err` stays empty); killed by pid (SIGKILL) and reaped
// when it outlives the limit.
CommandRun runOnTerminal(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                         const std::vector<std::string>& extraEnvironment = {});

// {a..., b..., c...}: argv built from pieces.
std::vector<std::string> concat(std::initializer_list<std::vector<std::string>> parts);

class Containerd {
 public:
  explicit Containerd(std::string runtime);
  ~Containerd();
  Containerd(const Containerd&) = delete;
  Containerd& operator=(const Containerd&) = delete;

  // `ctr --address <sock> --namespace <ns> args...`, bounded in time.
  CommandRun ctr(const std::vector<std::string>& args,
                 std::chrono::milliseconds limit = std::chrono::seconds(60)) const;
  // The same with ctr on a terminal (runOnTerminal), as `ctr run -t` and
  // `ctr task exec -t` need: stdout and stderr both in `out`.
  CommandRun ctrOnTerminal(const std::vector<std::string>& args,
                           std::chrono::milliseconds limit = std::chrono::seconds(60)) const;

  // For `ctr run`: the runtime (through the logging wrapper), its state root
  // and ctr's FIFOs, all in the temp dir (runc's root would otherwise be
  // /run/containerd/runc, the FIFOs /run/containerd/fifo).
  std::vector<std::string> runFlags() const;
  // For `ctr task exec`: ctr's FIFOs in the temp dir.
  std::vector<std::string> execFlags() const;

  const std::string& image() const { return image_; }
  const std::string& ns() const { return namespace_; }
  const std::string& runtime() const { return runtime_; }
  // Where the shim keeps a task's bundle (config.json, rootfs, log.json, init.pid).
  std::string bundleDir(const std::string& id) const;

  // The runtime's command lines as the shim ran them, one per call, in order
  // (arguments joined by spaces, without the program).
  std::vector<std::string> runtimeCalls() const;
  // `ctr task ls`'s STATUS for the task, "" when it is not listed.
  std::string taskStatus(const std::string& id) const;
  // Polls taskStatus until it is `status`; false after the limit.
  bool awaitTaskStatus(const std::string& id, const std::string& status,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) const;

  // Cgroups below the namespace's group, in every hierarchy (a task's is
  // /<ns>/<id>: ctr's default linux.cgroupsPath).
  std::vector<std::string> taskCgroups() const;
  // What the namespace has left on the host, one line each: task cgroups,
  // mounts under the temp dir, shim and container processes, new shim
  // sockets in /run/containerd/s. Empty when clean.
  std::vector<std::string> leftovers() const;
  // Polls leftovers() until empty (a shim exits a moment after its delete);
  // returns what is still there after the limit.
  std::vector<std::string> awaitNoLeftovers(std::chrono::milliseconds limit = std::chrono::seconds(10)) const;

  // containerd's log (its stderr, shims' output included) so far: its last
  // `lastLines` lines, or all of it for 0.
  std::string logText(size_t lastLines = 0) const;

 private:
  void setUp();
  void startContainerd();
  void buildAndImportImage();
  void tearDown(bool checking);
  void removeContainers();
  bool stopContainerd();
  void removeLeftovers(bool checking);

  std::string runtime_;
  testing::TempDir temp_;
  std::string namespace_;
  std::string socket_;
  std::string image_;
  ChildProcess containerd_;
  // Entries of /run/containerd/s before the start (the 1.6 shim puts its
  // socket there whatever the config says), and the directories this run
  // created on the way (removed again when empty).
  std::vector<std::string> shimSocketsBefore_;
  std::vector<std::string> createdRunDirs_;
};

}  // namespace berth::oci
