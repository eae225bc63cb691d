#include "support/test_support.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/files.hpp"

namespace berth::testing {

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  auto removed = removeTree(path_);
  if (!removed) std::fprintf(stderr, "TempDir: %s\n", removed.error().describe().c_str());
}

std::string uniqueCgroupRoot(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "berth-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

std::vector<std::string> leftoverCgroups(const std::string& root) {
  std::vector<std::string> found;
  for (const char* hierarchy : {"unified", "memory", "cpu", "cpuacct", "pids", "freezer"}) {
    std::string path = std::string("/sys/fs/cgroup/") + hierarchy + "/" + root;
    if (pathExists(path)) found.push_back(path);
  }
  if (pathExists("/sys/fs/cgroup/" + root)) found.push_back("/sys/fs/cgroup/" + root);
  return found;
}

std::vector<std::string> mountsContaining(const std::string& fragment) {
  std::vector<std::string> found;
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::istringstream fields(line);
    std::string id, parent, devices, root, mountPoint;
    fields >> id >> parent >> devices >> root >> mountPoint;
    if (mountPoint.find(fragment) != std::string::npos) found.push_back(mountPoint);
  }
  return found;
}

void makeBusyboxRootfs(const std::string& dir) {
  std::string command = "set -e; d='" + dir +
                        "'; mkdir -p \"$d/bin\" \"$d/etc\" \"$d/proc\" \"$d/sys\" \"$d/dev\" \"$d/tmp\" \"$d/root\";"
                        " cp /bin/busybox \"$d/bin/busybox\";"
                        " for a in $(/bin/busybox --list); do [ -e \"$d/bin/$a\" ] || ln -s busybox \"$d/bin/$a\"; done;"
                        " echo 'root:x:0:0:root:/root:/bin/sh' > \"$d/etc/passwd\";"
                        " echo 'root:x:0:' > \"$d/etc/group\"; echo busybox > \"$d/etc/hostname\"";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("makeBusyboxRootfs failed for " + dir);
}

}  // namespace berth::testing
