// berth-shim: the per-container monitor, started by berthd only:
//   berth-shim --instance <run-dir>/<runtime_id> --report-fd 3
#include <CLI/CLI.hpp>
#include <string>

#include "runtime/shim.hpp"

int main(int argc, char* argv[]) {
  CLI::App app{"berth per-container monitor (started by berthd)"};
  std::string instance;
  int reportFd = -1;
  app.add_option("--instance", instance, "the instance's run dir")->required();
  app.add_option("--report-fd", reportFd, "fd to report the start on")->required();
  CLI11_PARSE(app, argc, argv);
  return berth::runtime::runShim(instance, reportFd);
}
