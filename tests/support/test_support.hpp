#pragma once
// Shared test helpers: scratch directories that remove themselves, unique
// names for per-test cgroup roots, and checks for leftovers on the host.
#include <chrono>
#include <string>
#include <vector>

namespace berth::testing {

// A fresh directory under /tmp (or the given parent), removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "berth-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// "berth-test-<pid>-<counter>": a cgroup root no other test or service shares.
std::string uniqueCgroupRoot(const std::string& tag = "t");
// Directories named like the root left in any cgroup hierarchy (v1 and v2).
std::vector<std::string> leftoverCgroups(const std::string& root);
// Mount points whose path contains the fragment (from /proc/self/mountinfo).
std::vector<std::string> mountsContaining(const std::string& fragment);
// Loop devices whose backing file's path contains the fragment (/sys/block/loop*/loop/backing_file).
std::vector<std::string> loopDevicesBackedBy(const std::string& fragment);
// What a service leaves mounted when it exits (containers may live on): the
// storage pool of <dataDir>. Unmounted once the containers are gone, which
// frees its loop device; true when nothing was left or it went.
bool unmountStoragePool(const std::string& dataDir);
// Reads two pipes (a child's stdout and stderr) to their end; false if the deadline came first.
bool drainPipes(int outFd, int errFd, std::string& out, std::string& err, std::chrono::steady_clock::time_point deadline);
// Builds a minimal busybox root filesystem (busybox-static + applet links, /etc files).
void makeBusyboxRootfs(const std::string& dir);

}  // namespace berth::testing
