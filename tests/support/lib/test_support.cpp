#include "support/test_support.hpp"

#include <dirent.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <thread>

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

std::vector<std::string> loopDevicesBackedBy(const std::string& fragment) {
  std::vector<std::string> found;
  DIR* block = ::opendir("/sys/block");
  if (block == nullptr) return found;
  while (dirent* entry = ::readdir(block)) {
    std::string name = entry->d_name;
    if (name.rfind("loop", 0) != 0) continue;
    auto backing = readFile("/sys/block/" + name + "/loop/backing_file");
    if (backing && backing->find(fragment) != std::string::npos) found.push_back("/dev/" + name);
  }
  ::closedir(block);
  return found;
}

bool unmountStoragePool(const std::string& dataDir) {
  const std::string pool = dataDir + "/storage/pool";
  if (mountsContaining(pool).empty()) return true;
  // The last container's namespace may take a moment to let go of it.
  for (int i = 0; i < 100; ++i) {
    if (::umount2(pool.c_str(), 0) == 0) return loopDevicesBackedBy(dataDir).empty();
    if (errno != EBUSY) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::umount2(pool.c_str(), MNT_DETACH);
  return false;
}

}  // namespace berth::testing
