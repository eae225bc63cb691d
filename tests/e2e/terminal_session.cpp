#include "common/percent_encoding.hpp"
#include "e2e/terminal_session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string_view>
#include <thread>

#include "common/unique_fd.hpp"
#include "support/test_support.hpp"

extern char** environ;

namespace berth::e2e {

namespace {

// The client gives up by itself after 30 s; this is for a node that hangs.
constexpr auto kClientDeadline = std::chrono::seconds(60);
constexpr std::string_view kTokenVariable = "TERMINAL_TOKEN_HEADER=";

std::string scriptPath() { return std::string(BERTH_SOURCE_DIR) + "/tests/e2e/terminal_client.mjs"; }


// Reaps the child; kills it first when it is still there at the deadline. The exit code, or 128 + signal.
int reap(pid_t child, std::chrono::steady_clock::time_point deadline, bool& timedOut) {
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      timedOut = true;
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The last line that is not empty: the client's result.
std::string lastLine(const std::string& text) {
  size_t end = text.find_last_not_of("\r\n");
  if (end == std::string::npos) return {};
  size_t start = text.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, end + 1 - start);
}

}  // namespace

TerminalRun runTerminalClient(const std::string& url, const std::string& bearerToken, const nlohmann::json& steps) {
  REQUIRE(steps.is_array());
  const std::string script = scriptPath();
  REQUIRE(::access(script.c_str(), R_OK) == 0);

  // The steps go in as a file: node reads its stdin to the end before it connects.
  testing::TempDir scratch("berth-terminal");
  const std::string stepsPath = scratch.sub("steps.json");
  {
    std::ofstream file(stepsPath, std::ios::binary);
    file << steps.dump();
    REQUIRE(file.good());
  }
  int outPipe[2], errPipe[2];
  REQUIRE(::pipe2(outPipe, O_CLOEXEC) == 0);
  UniqueFd outRead(outPipe[0]), outWrite(outPipe[1]);
  REQUIRE(::pipe2(errPipe, O_CLOEXEC) == 0);
  UniqueFd errRead(errPipe[0]), errWrite(errPipe[1]);

  // argv and the environment as they are, no shell: the URL and token reach node untouched.
  std::string program = "node";
  std::vector<std::string> args = {program, script, url};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment;
  for (char** entry = environ; *entry; ++entry) {
    std::string_view pair(*entry);
    if (pair.rfind(kTokenVariable, 0) != 0) environment.emplace_back(pair);
  }
  if (!bearerToken.empty()) environment.push_back(std::string(kTokenVariable) + bearerToken);
  std::vector<char*> envp;
  for (auto& pair : environment) envp.push_back(pair.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  REQUIRE(::posix_spawn_file_actions_init(&actions) == 0);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stepsPath.c_str(), O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, outWrite.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, errWrite.get(), STDERR_FILENO);
  pid_t child = -1;
  int spawned = ::posix_spawnp(&child, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0)
    FAIL("cannot run node (scripts/install-deps.sh installs nodejs and node-ws): " << std::strerror(spawned));
  outWrite.reset();
  errWrite.reset();

  const auto deadline = std::chrono::steady_clock::now() + kClientDeadline;
  std::string out, err;
  bool drained = testing::drainPipes(outRead.get(), errRead.get(), out, err, deadline);
  bool timedOut = false;
  int exitCode = reap(child, drained ? deadline : std::chrono::steady_clock::now(), timedOut);
  INFO("terminal client: node " << script << " " << url << "\nsteps: " << steps.dump() << "\nstdout: " << out
                                << "\nstderr: " << err);
  if (!drained || timedOut) FAIL("the terminal client did not finish within " << kClientDeadline.count() << " s");
  if (exitCode != 0) FAIL("the terminal client exited with " << exitCode);
  nlohmann::json reply = nlohmann::json::parse(lastLine(out), nullptr, false);
  if (!reply.is_object()) FAIL("the terminal client printed no JSON result");

  TerminalRun run;
  run.opened = reply.value("opened", false);
  run.httpStatus = reply.value("httpStatus", 0);
  run.httpBody = reply.value("httpBody", "");
  run.closeCode = reply.value("closeCode", 0);
  run.closeReason = reply.value("closeReason", "");
  run.closedBy = reply.value("closedBy", "");
  run.output = reply.value("output", "");
  run.texts = reply.value("texts", std::vector<std::string>{});
  run.error = reply.value("error", "");
  return run;
}


std::string terminalUrl(int port, const std::string& containerId, const std::vector<std::string>& command, int cols,
                        int rows, const std::string& queryToken) {
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/api/v1/containers/" + containerId + "/terminal?";
  if (!command.empty()) url += "command=" + percentEncode(nlohmann::json(command).dump()) + "&";
  url += "cols=" + std::to_string(cols) + "&rows=" + std::to_string(rows);
  if (!queryToken.empty()) url += "&token=" + percentEncode(queryToken);
  return url;
}

}  // namespace berth::e2e
