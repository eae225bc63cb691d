#pragma once
// A pool of its own per test, in a TempDir, with a small sparse image. The
// fixture closes it at the end, also when the test failed, and fails the test
// when a mount under its dir or a loop device on its image is left over.
#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "storage/loop_device.hpp"
#include "storage/pool.hpp"
#include "support/test_support.hpp"

namespace berth::testing {

// Loop devices whose backing file lies under `dirFragment` ("/dev/loop3").
inline std::vector<std::string> loopDevicesBackedBy(const std::string& dirFragment) {
  std::vector<std::string> found;
  DIR* dir = ::opendir("/sys/block");
  if (dir == nullptr) return found;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.rfind("loop", 0) != 0) continue;
    auto backing = storage::loopBackingFile("/dev/" + name);
    if (backing && backing->find(dirFragment) != std::string::npos) found.push_back("/dev/" + name);
  }
  ::closedir(dir);
  return found;
}

class PoolFixture {
 public:
  explicit PoolFixture(uint64_t sizeBytes = 1ull << 30) {
    options.dir = dir.sub("storage");
    options.sizeBytes = sizeBytes;
  }
  PoolFixture(const PoolFixture&) = delete;
  PoolFixture& operator=(const PoolFixture&) = delete;

  storage::Pool& open() {
    auto opened = storage::Pool::open(options);
    INFO((opened ? std::string() : opened.error().describe()));
    REQUIRE(opened);
    pool.emplace(std::move(*opened));
    return *pool;
  }
  void close() {
    REQUIRE(pool);
    auto closed = pool->close();
    INFO((closed ? std::string() : closed.error().describe()));
    REQUIRE(closed);
    pool.reset();
  }
  // Mounts under the test's dir and loop devices on its image.
  std::vector<std::string> leftovers() const {
    auto found = mountsContaining(dir.path());
    for (auto& loop : loopDevicesBackedBy(dir.path())) found.push_back(loop);
    return found;
  }

  ~PoolFixture() {
    std::string closeError;
    if (pool) {
      auto closed = pool->close();
      if (!closed) closeError = closed.error().describe();
      pool.reset();
    }
    auto left = leftovers();
    forceClean();
    if (std::uncaught_exceptions() == 0) {
      INFO("closing the pool: " << closeError);
      CHECK(closeError.empty());
      std::string list;
      for (auto& item : left) list += item + " ";
      INFO("left over: " << list);
      CHECK(left.empty());
    }
  }

  TempDir dir{"berth-pool"};
  storage::PoolOptions options;
  std::optional<storage::Pool> pool;

 private:
  // Whatever a failed test left: unmounted (deepest first) and detached, so the TempDir can go.
  void forceClean() const {
    auto mounts = mountsContaining(dir.path());
    std::sort(mounts.begin(), mounts.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (auto& mount : mounts) ::umount2(mount.c_str(), MNT_DETACH);
    for (auto& loop : loopDevicesBackedBy(dir.path())) {
      int fd = ::open(loop.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        ::ioctl(fd, LOOP_CLR_FD, 0);
        ::close(fd);
      }
    }
  }
};

}  // namespace berth::testing
