#pragma once
// Running the built client (BERTH_BUILD_DIR/cmd/berth) and other programs
// from e2e tests: with pipes (stdout, stderr, exit code) or on a pseudo-
// terminal of the test's (what a user at a terminal sees).
#include <sys/ioctl.h>

#include <map>
#include <string>
#include <vector>

#include "e2e/service_fixture.hpp"

namespace berth::e2e {

struct ProgramRun {
  int exitCode = -1;
  std::string out;
  std::string err;  // empty on a pty (everything is in `out`)

  Json json() const { return Json::parse(out, nullptr, false); }
};

// `argv[0]` with the test's environment less BERTH_*, HOME and XDG_CONFIG_HOME,
// plus `env`; `input` on stdin. Waits for it to exit.
ProgramRun runProgram(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                      const std::string& input = {});

struct CliOptions {
  bool withUrl = true;        // BERTH_URL of the service
  std::string configHome;     // XDG_CONFIG_HOME; empty: a scratch dir of the call
  std::map<std::string, std::string> env;  // more variables
};

// berth `args` against the service as `token` (empty: no BERTH_TOKEN).
ProgramRun runCli(const Service& service, const std::string& token, const std::vector<std::string>& args,
                  const std::string& input = {}, const CliOptions& options = {});

// berth on a new pseudo-terminal of `columns` x 24 as its controlling
// terminal (stdin, stdout and stderr): types `input` once `waitFor` has
// appeared in the output (at once when empty), then reads until it exits.
ProgramRun runCliOnPty(const Service& service, const std::string& token, const std::vector<std::string>& args,
                       const std::string& waitFor, const std::string& input, unsigned short columns = 120);

bool contains(const std::string& text, const std::string& part);

}  // namespace berth::e2e
