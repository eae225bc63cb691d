// The OCI runtime under test (runtimeUnderTest(): berth-oci, or whatever
// BERTH_OCI_RUNTIME names, e.g. /usr/sbin/runc) driven by the real
// containerd through its io.containerd.runc.v2 shim, as `ctr run
// --runc-binary` selects it: exit codes, output, exec, pause and resume,
// kill (of the init and --all) and delete, terminals (the console socket) for
// the init and an exec, ps, a command that does not exist, a memory limit,
// and nothing left on the host afterwards.
#include <catch2/catch.hpp>
#include <algorithm>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "oci/containerd_fixture.hpp"

using namespace berth;
using namespace berth::oci;

namespace {

std::string listed(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += "\n  " + line;
  return text;
}

// The runtime's verb in one of the shim's command lines: the first argument
// after the global flags (--root R --log L --log-format F --systemd-cgroup).
std::string verbOf(const std::string& call) {
  std::vector<std::string> words;
  std::string word;
  for (char c : call + " ") {
    if (c != ' ') {
      word += c;
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "--root" || words[i] == "--log" || words[i] == "--log-format" || words[i] == "--criu") {
      ++i;
    } else if (words[i].rfind("--", 0) != 0) {
      return words[i];
    }
  }
  return "";
}

std::vector<std::string> verbsOf(const std::vector<std::string>& calls) {
  std::vector<std::string> verbs;
  for (const auto& call : calls) verbs.push_back(verbOf(call));
  return verbs;
}

// `expected` appears in `verbs` in this order (other calls may come between).
bool inOrder(const std::vector<std::string>& verbs, const std::vector<std::string>& expected) {
  auto at = verbs.begin();
  for (const auto& verb : expected) {
    at = std::find(at, verbs.end(), verb);
    if (at == verbs.end()) return false;
    ++at;
  }
  return true;
}

// The PIDs of `ctr task ps`: the first column after its header (PID INFO).
std::vector<std::string> psPids(const std::string& out) {
  std::vector<std::string> pids;
  std::istringstream in(out);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    std::istringstream fields(line);
    std::string pid;
    if (fields >> pid) pids.push_back(pid);
  }
  return pids;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// The terminal's name in `tty`'s output (CRLF: the container's pty maps NL), "" without one.
std::string ptyNameIn(const std::string& out) {
  std::smatch match;
  static const std::regex pts("/dev/pts/[0-9]+");
  return std::regex_search(out, match, pts) ? match.str() : "";
}

}  // namespace

TEST_CASE("oci: ctr run --rm exits with the container's exit code", "[oci]") {
  Containerd containerd(runtimeUnderTest());

  CommandRun run = containerd.ctr(
      concat({{"run", "--rm"}, containerd.runFlags(), {containerd.image(), "t1", "/bin/sh", "-c", "exit 7"}}));
  INFO(run.command << "\nstdout: " << run.out << "\nstderr: " << run.err << "\nruntime calls:"
                   << listed(containerd.runtimeCalls()) << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE_FALSE(run.timedOut);
  CHECK(run.exitCode == 7);
  // The shim ran the runtime under test (through the wrapper), not its default runc.
  CHECK(inOrder(verbsOf(containerd.runtimeCalls()), {"create", "start", "delete"}));
  auto left = containerd.awaitNoLeftovers();
  INFO("left after --rm:" << listed(left));
  CHECK(left.empty());
}

TEST_CASE("oci: a detached task runs, execs, pauses, resumes, is killed and deleted, and leaves nothing", "[oci]") {
  Containerd containerd(runtimeUnderTest());
  auto context = [&] {
    return "runtime calls:" + listed(containerd.runtimeCalls()) + "\ncontainerd log:\n" + containerd.logText(40);
  };

  CommandRun started =
      containerd.ctr(concat({{"run", "-d"}, containerd.runFlags(), {containerd.image(), "t2", "/bin/sleep", "60"}}));
  INFO(started.command << "\nstdout: " << started.out << "\nstderr: " << started.err);
  INFO(context());
  REQUIRE(started.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t2", "RUNNING"));

  // The spec containerd wrote into the bundle puts the task in /<namespace>/<id>;
  // the runtime made that group (in every hierarchy it manages).
  auto spec = readFile(containerd.bundleDir("t2") + "/config.json");
  REQUIRE(spec);
  auto config = nlohmann::json::parse(*spec, nullptr, false);
  REQUIRE(config.is_object());
  CHECK(config["linux"].value("cgroupsPath", "") == "/" + containerd.ns() + "/t2");
  auto groups = containerd.taskCgroups();
  INFO("task cgroups:" << listed(groups));
  CHECK_FALSE(groups.empty());
  for (const auto& group : groups) CHECK(group.substr(group.size() - 3) == "/t2");

  CommandRun exec = containerd.ctr(
      concat({{"task", "exec"}, containerd.execFlags(), {"--exec-id", "e1", "t2", "/bin/sh", "-c", "echo hi"}}));
  INFO(exec.command << "\nstdout: " << exec.out << "\nstderr: " << exec.err);
  CHECK(exec.exitCode == 0);
  CHECK(exec.out == "hi\n");

  CommandRun paused = containerd.ctr({"task", "pause", "t2"});
  INFO(paused.command << "\nstderr: " << paused.err);
  CHECK(paused.exitCode == 0);
  CHECK(containerd.awaitTaskStatus("t2", "PAUSED"));
  CommandRun resumed = containerd.ctr({"task", "resume", "t2"});
  INFO(resumed.command << "\nstderr: " << resumed.err);
  CHECK(resumed.exitCode == 0);
  CHECK(containerd.awaitTaskStatus("t2", "RUNNING"));

  CommandRun killed = containerd.ctr({"task", "kill", "-s", "SIGKILL", "t2"});
  INFO(killed.command << "\nstderr: " << killed.err);
  CHECK(killed.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t2", "STOPPED"));

  CommandRun taskRemoved = containerd.ctr({"task", "rm", "t2"});
  INFO(taskRemoved.command << "\nstderr: " << taskRemoved.err);
  CHECK(taskRemoved.exitCode == 0);
  CommandRun containerRemoved = containerd.ctr({"container", "rm", "t2"});
  INFO(containerRemoved.command << "\nstderr: " << containerRemoved.err);
  CHECK(containerRemoved.exitCode == 0);
  CHECK(containerd.taskStatus("t2") == "");
  CommandRun containers = containerd.ctr({"container", "ls", "-q"});
  CHECK(containers.out == "");

  CHECK(inOrder(verbsOf(containerd.runtimeCalls()),
                {"create", "start", "exec", "pause", "resume", "kill", "delete"}));
  auto left = containerd.awaitNoLeftovers();
  INFO("left after task rm and container rm:" << listed(left));
  CHECK(left.empty());
}

TEST_CASE("oci: ctr run --rm passes the container's stdout through", "[oci]") {
  Containerd containerd(runtimeUnderTest());

  CommandRun run =
      containerd.ctr(concat({{"run", "--rm"}, containerd.runFlags(), {containerd.image(), "t3", "/bin/echo", "hello"}}));
  INFO(run.command << "\nstderr: " << run.err << "\nruntime calls:" << listed(containerd.runtimeCalls())
                   << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE_FALSE(run.timedOut);
  CHECK(run.exitCode == 0);
  CHECK(run.out == "hello\n");
}

TEST_CASE("oci: ctr run -t gives the init a terminal of the container (the console socket)", "[oci]") {
  Containerd containerd(runtimeUnderTest());

  // ctr -t needs its own stdin to be a terminal: it runs on a pty of ours.
  CommandRun run = containerd.ctrOnTerminal(concat(
      {{"run", "-t", "--rm"}, containerd.runFlags(), {containerd.image(), "t4", "/bin/sh", "-c", "tty; exit 5"}}));
  INFO(run.command << "\nterminal: " << run.out << "\nruntime calls:" << listed(containerd.runtimeCalls())
                   << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE_FALSE(run.timedOut);
  CHECK(run.exitCode == 5);
  CHECK(ptyNameIn(run.out) != "");
  // The shim asked for the terminal's master over its console socket.
  auto calls = containerd.runtimeCalls();
  CHECK(std::any_of(calls.begin(), calls.end(), [](const std::string& call) {
    return verbOf(call) == "create" && call.find(" --console-socket ") != std::string::npos;
  }));
  auto left = containerd.awaitNoLeftovers();
  INFO("left after --rm:" << listed(left));
  CHECK(left.empty());
}

TEST_CASE("oci: ctr task exec -t gives the exec a terminal of the container", "[oci]") {
  Containerd containerd(runtimeUnderTest());
  auto context = [&] {
    return "runtime calls:" + listed(containerd.runtimeCalls()) + "\ncontainerd log:\n" + containerd.logText(40);
  };

  CommandRun started =
      containerd.ctr(concat({{"run", "-d"}, containerd.runFlags(), {containerd.image(), "t5", "/bin/sleep", "60"}}));
  INFO(started.command << "\nstdout: " << started.out << "\nstderr: " << started.err);
  INFO(context());
  REQUIRE(started.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t5", "RUNNING"));

  CommandRun exec = containerd.ctrOnTerminal(
      concat({{"task", "exec", "-t"}, containerd.execFlags(), {"--exec-id", "e2", "t5", "/bin/sh", "-c", "tty"}}));
  INFO(exec.command << "\nterminal: " << exec.out);
  REQUIRE_FALSE(exec.timedOut);
  CHECK(exec.exitCode == 0);
  CHECK(ptyNameIn(exec.out) != "");
  auto calls = containerd.runtimeCalls();
  CHECK(std::any_of(calls.begin(), calls.end(), [](const std::string& call) {
    return verbOf(call) == "exec" && call.find(" --console-socket ") != std::string::npos;
  }));

  CommandRun killed = containerd.ctr({"task", "kill", "-s", "SIGKILL", "t5"});
  INFO(killed.command << "\nstderr: " << killed.err);
  CHECK(killed.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t5", "STOPPED"));
  CHECK(containerd.ctr({"task", "rm", "t5"}).exitCode == 0);
  CHECK(containerd.ctr({"container", "rm", "t5"}).exitCode == 0);
  auto left = containerd.awaitNoLeftovers();
  INFO("left after task rm and container rm:" << listed(left));
  CHECK(left.empty());
}

TEST_CASE("oci: ctr task ps lists the init's pid", "[oci]") {
  Containerd containerd(runtimeUnderTest());

  CommandRun started =
      containerd.ctr(concat({{"run", "-d"}, containerd.runFlags(), {containerd.image(), "t6", "/bin/sleep", "60"}}));
  INFO(started.command << "\nstdout: " << started.out << "\nstderr: " << started.err << "\nruntime calls:"
                       << listed(containerd.runtimeCalls()) << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE(started.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t6", "RUNNING"));
  // The init's pid as the shim knows it (create's --pid-file), in the host's pid namespace.
  auto initPid = readFile(containerd.bundleDir("t6") + "/init.pid");
  REQUIRE(initPid);
  const std::string pid = trimmed(*initPid);
  REQUIRE_FALSE(pid.empty());

  CommandRun ps = containerd.ctr({"task", "ps", "t6"});
  INFO(ps.command << "\nstdout: " << ps.out << "\nstderr: " << ps.err << "\nruntime calls:"
                  << listed(containerd.runtimeCalls()));
  CHECK(ps.exitCode == 0);
  auto pids = psPids(ps.out);
  INFO("init pid " << pid << ", listed:" << listed(pids));
  CHECK(std::find(pids.begin(), pids.end(), pid) != pids.end());
  auto calls = containerd.runtimeCalls();
  CHECK(std::any_of(calls.begin(), calls.end(), [](const std::string& call) {
    return verbOf(call) == "ps" && call.find("--format json") != std::string::npos;
  }));

  CommandRun killed = containerd.ctr({"task", "kill", "-s", "SIGKILL", "t6"});
  CHECK(killed.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t6", "STOPPED"));
  CHECK(containerd.ctr({"task", "rm", "t6"}).exitCode == 0);
  CHECK(containerd.ctr({"container", "rm", "t6"}).exitCode == 0);
  auto left = containerd.awaitNoLeftovers();
  INFO("left after task rm and container rm:" << listed(left));
  CHECK(left.empty());
}

TEST_CASE("oci: ctr task kill --all -s SIGKILL stops a task and every process of it", "[oci]") {
  Containerd containerd(runtimeUnderTest());

  // Two processes: a background sleep of the shell's, and the init (the shell, exec'd into sleep).
  CommandRun started = containerd.ctr(concat(
      {{"run", "-d"}, containerd.runFlags(), {containerd.image(), "t7", "/bin/sh", "-c", "sleep 60 & exec sleep 61"}}));
  INFO(started.command << "\nstdout: " << started.out << "\nstderr: " << started.err << "\nruntime calls:"
                       << listed(containerd.runtimeCalls()) << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE(started.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t7", "RUNNING"));

  CommandRun killed = containerd.ctr({"task", "kill", "--all", "-s", "SIGKILL", "t7"});
  INFO(killed.command << "\nstderr: " << killed.err);
  CHECK(killed.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t7", "STOPPED"));
  auto calls = containerd.runtimeCalls();
  INFO("runtime calls:" << listed(calls));
  CHECK(std::any_of(calls.begin(), calls.end(), [](const std::string& call) {
    return verbOf(call) == "kill" && call.find("--all") != std::string::npos && call.substr(call.size() - 2) == " 9";
  }));
  // No process is left in the task's groups (the stopped task still has them until its delete).
  std::vector<std::string> busy;
  for (int i = 0; i < 100; ++i) {
    busy.clear();
    for (const auto& group : containerd.taskCgroups()) {
      auto procs = readFile(group + "/cgroup.procs");
      if (procs && !trimmed(*procs).empty()) busy.push_back(group + ": " + trimmed(*procs));
    }
    if (busy.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO("groups with processes after kill --all:" << listed(busy));
  CHECK(busy.empty());

  CHECK(containerd.ctr({"task", "rm", "t7"}).exitCode == 0);
  CHECK(containerd.ctr({"container", "rm", "t7"}).exitCode == 0);
  auto left = containerd.awaitNoLeftovers();
  INFO("left after task rm and container rm:" << listed(left));
  CHECK(left.empty());
}

TEST_CASE("oci: ctr run of a command that does not exist fails with a clear message and leaves nothing", "[oci]") {
  Containerd containerd(runtimeUnderTest());

  CommandRun run = containerd.ctr(
      concat({{"run", "--rm"}, containerd.runFlags(), {containerd.image(), "t8", "/no/such/binary"}}));
  INFO(run.command << "\nstdout: " << run.out << "\nstderr: " << run.err << "\nruntime calls:"
                   << listed(containerd.runtimeCalls()) << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE_FALSE(run.timedOut);
  CHECK(run.exitCode != 0);
  // runc: `... exec: "/no/such/binary": stat /no/such/binary: no such file or directory: unknown`.
  CHECK(run.err.find("/no/such/binary") != std::string::npos);
  CHECK(lowercase(run.err).find("no such file or directory") != std::string::npos);
  // The runtime refused at create: the task never started.
  auto verbs = verbsOf(containerd.runtimeCalls());
  CHECK(std::find(verbs.begin(), verbs.end(), "create") != verbs.end());
  CHECK(std::find(verbs.begin(), verbs.end(), "start") == verbs.end());
  CHECK(containerd.taskStatus("t8") == "");
  CommandRun containers = containerd.ctr({"container", "ls", "-q"});
  CHECK(containers.out == "");
  auto left = containerd.awaitNoLeftovers();
  INFO("left after the failed run:" << listed(left));
  CHECK(left.empty());
}

TEST_CASE("oci: ctr run --memory-limit sets the task cgroup's memory limit", "[oci]") {
  Containerd containerd(runtimeUnderTest());
  constexpr const char* kLimit = "67108864";  // 64 MiB

  CommandRun started = containerd.ctr(concat({{"run", "-d", "--memory-limit", kLimit},
                                              containerd.runFlags(),
                                              {containerd.image(), "t9", "/bin/sleep", "60"}}));
  INFO(started.command << "\nstdout: " << started.out << "\nstderr: " << started.err << "\nruntime calls:"
                       << listed(containerd.runtimeCalls()) << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE(started.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t9", "RUNNING"));

  auto spec = readFile(containerd.bundleDir("t9") + "/config.json");
  REQUIRE(spec);
  auto config = nlohmann::json::parse(*spec, nullptr, false);
  REQUIRE(config.is_object());
  CHECK(config["linux"]["resources"]["memory"].value("limit", int64_t{0}) == 67108864);

  // The memory controller's file for /<ns>/<id>: the v1 hierarchy's on a v1 or
  // hybrid host (it holds the controller there), memory.max on a unified one.
  const std::string group = "/" + containerd.ns() + "/t9";
  std::vector<std::string> candidates = {"/sys/fs/cgroup/memory" + group + "/memory.limit_in_bytes",
                                         "/sys/fs/cgroup/unified" + group + "/memory.max",
                                         "/sys/fs/cgroup" + group + "/memory.max"};
  std::string file;
  for (const auto& candidate : candidates)
    if (pathExists(candidate)) {
      file = candidate;
      break;
    }
  INFO("task cgroups:" << listed(containerd.taskCgroups()));
  REQUIRE_FALSE(file.empty());
  auto limit = readFile(file);
  REQUIRE(limit);
  INFO(file);
  CHECK(trimmed(*limit) == kLimit);

  CommandRun killed = containerd.ctr({"task", "kill", "-s", "SIGKILL", "t9"});
  CHECK(killed.exitCode == 0);
  REQUIRE(containerd.awaitTaskStatus("t9", "STOPPED"));
  CHECK(containerd.ctr({"task", "rm", "t9"}).exitCode == 0);
  CHECK(containerd.ctr({"container", "rm", "t9"}).exitCode == 0);
  auto left = containerd.awaitNoLeftovers();
  INFO("left after task rm and container rm:" << listed(left));
  CHECK(left.empty());
}
