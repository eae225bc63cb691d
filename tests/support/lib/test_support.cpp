#include "support/test_support.hpp"

#include <dirent.h>
#include <poll.h>
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
  for (const char* hierarchy : {"unified", "memory", "cpu", "cpuacct", "pids", "freezer", "devices"}) {
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

bool drainPipes(int outFd, int errFd, std::string& out, std::string& err, std::chrono::steady_clock::time_point deadline) {
  pollfd fds[2] = {{outFd, POLLIN, 0}, {errFd, POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open = 2;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
      } else {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      }
    }
  }
  return true;
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
