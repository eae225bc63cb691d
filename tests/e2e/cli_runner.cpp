#include "e2e/cli_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

namespace berth::e2e {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

bool dropped(std::string_view pair) {
  for (std::string_view prefix : {"BERTH_", "HOME=", "XDG_CONFIG_HOME=", "COLUMNS="})
    if (pair.rfind(prefix, 0) == 0) return true;
  return false;
}

// Made before fork: the child only opens, dups and execs.
std::vector<std::string> environmentWith(const std::map<std::string, std::string>& env) {
  std::vector<std::string> environment;
  for (char** entry = environ; *entry; ++entry)
    if (!dropped(*entry)) environment.emplace_back(*entry);
  for (const auto& [key, value] : env) environment.push_back(key + "=" + value);
  return environment;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& text : strings) out.push_back(text.data());
  out.push_back(nullptr);
  return out;
}

int exitCodeOf(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

std::map<std::string, std::string> cliEnvironment(const Service& service, const std::string& token,
                                                  const std::string& configHome, const CliOptions& options) {
  std::map<std::string, std::string> env = options.env;
  if (options.withUrl) env["BERTH_URL"] = "http://127.0.0.1:" + std::to_string(service.port());
  if (!token.empty()) env["BERTH_TOKEN"] = token;
  env["XDG_CONFIG_HOME"] = configHome;
  env["HOME"] = configHome;
  return env;
}

}  // namespace

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

ProgramRun runProgram(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                      const std::string& input) {
  testing::TempDir scratch("berth-run");
  std::string outPath = scratch.sub("stdout"), errPath = scratch.sub("stderr"), inPath = scratch.sub("stdin");
  std::ofstream(inPath, std::ios::binary) << input;
  std::vector<std::string> argvStrings = args;
  std::vector<char*> argv = pointers(argvStrings);
  std::vector<std::string> environment = environmentWith(env);
  std::vector<char*> envp = pointers(environment);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int in = ::open(inPath.c_str(), O_RDONLY);
    int out = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) ::_exit(126);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execvpe(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  ProgramRun run;
  run.exitCode = exitCodeOf(status);
  run.out = slurp(outPath);
  run.err = slurp(errPath);
  return run;
}

ProgramRun runCli(const Service& service, const std::string& token, const std::vector<std::string>& args,
                  const std::string& input, const CliOptions& options) {
  testing::TempDir scratch("berth-cli-home");
  std::vector<std::string> argv = {std::string(BERTH_BUILD_DIR) + "/cmd/berth"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runProgram(argv, cliEnvironment(service, token, options.configHome.empty() ? scratch.path() : options.configHome, options),
                    input);
}

ProgramRun runCliOnPty(const Service& service, const std::string& token, const std::vector<std::string>& args,
                       const std::string& waitFor, const std::string& input, unsigned short columns) {
  testing::TempDir scratch("berth-cli-home");
  std::vector<std::string> argvStrings = {std::string(BERTH_BUILD_DIR) + "/cmd/berth"};
  argvStrings.insert(argvStrings.end(), args.begin(), args.end());
  std::vector<char*> argv = pointers(argvStrings);
  std::vector<std::string> environment = environmentWith(cliEnvironment(service, token, scratch.path(), {}));
  environment.push_back("TERM=xterm");
  std::vector<char*> envp = pointers(environment);
  winsize size{};
  size.ws_col = columns;
  size.ws_row = 24;
  int master = -1, slave = -1;
  REQUIRE(::openpty(&master, &slave, nullptr, nullptr, &size) == 0);
  ::fcntl(master, F_SETFD, FD_CLOEXEC);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::setsid();
    ::ioctl(slave, TIOCSCTTY, 0);
    ::dup2(slave, STDIN_FILENO);
    ::dup2(slave, STDOUT_FILENO);
    ::dup2(slave, STDERR_FILENO);
    if (slave > STDERR_FILENO) ::close(slave);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(slave);
  ProgramRun run;
  bool typed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  // Reads until the slave's last holder (berth) is gone: then read() fails with EIO.
  for (;;) {
    if (!typed && (waitFor.empty() || contains(run.out, waitFor))) {
      REQUIRE(::write(master, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
      typed = true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      break;
    }
    pollfd fd{master, POLLIN, 0};
    if (::poll(&fd, 1, 200) <= 0) continue;
    char buffer[4096];
    ssize_t got = ::read(master, buffer, sizeof buffer);
    if (got <= 0) break;
    run.out.append(buffer, static_cast<size_t>(got));
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  ::close(master);
  run.exitCode = exitCodeOf(status);
  INFO("pty output: " << run.out);
  CHECK(typed);
  return run;
}

}  // namespace berth::e2e
