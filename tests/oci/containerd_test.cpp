// The OCI runtime under test (runtimeUnderTest(): berth-oci, or whatever
// BERTH_OCI_RUNTIME names, e.g. /usr/sbin/runc) driven by the real
// containerd through its io.containerd.runc.v2 shim, as `ctr run
// --runc-binary` selects it: exit codes, output, exec, pause and resume,
// kill and delete, and nothing left on the host afterwards.
#include <catch2/catch.hpp>
#include <algorithm>
#include <string>
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

}  // namespace

TEST_CASE("oci: ctr run --rm exits with the container's exit code", "[oci]") {
  auto runtime = runtimeUnderTest();
  if (!runtime) return;
  Containerd containerd(*runtime);

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
  auto runtime = runtimeUnderTest();
  if (!runtime) return;
  Containerd containerd(*runtime);
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
  auto runtime = runtimeUnderTest();
  if (!runtime) return;
  Containerd containerd(*runtime);

  CommandRun run =
      containerd.ctr(concat({{"run", "--rm"}, containerd.runFlags(), {containerd.image(), "t3", "/bin/echo", "hello"}}));
  INFO(run.command << "\nstderr: " << run.err << "\nruntime calls:" << listed(containerd.runtimeCalls())
                   << "\ncontainerd log:\n" << containerd.logText(40));
  REQUIRE_FALSE(run.timedOut);
  CHECK(run.exitCode == 0);
  CHECK(run.out == "hello\n");
}
