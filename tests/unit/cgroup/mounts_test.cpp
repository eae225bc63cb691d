// detectMounts against mountinfo fixtures of the host kinds berth meets.
#include <catch2/catch.hpp>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::cgroup;

namespace {

Result<Mounts> detectFrom(const std::string& mountinfo) {
  testing::TempDir dir("berth-mountinfo");
  std::string path = dir.sub("mountinfo");
  REQUIRE(writeFileAtomic(path, mountinfo));
  return detectMounts(path);
}

// This development host: every v1 controller on its own mount, cpu and cpuacct apart.
const char* kHybridSeparate =
    "22 1 259:1 / / rw,relatime - ext4 /dev/vda rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// systemd's hybrid layout on Debian/Ubuntu: cpu and cpuacct co-mounted, optional fields present.
const char* kHybridCoMounted =
    "28 23 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "29 28 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
    "30 28 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "33 28 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct\n"
    "34 28 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory\n"
    "35 28 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids\n"
    "36 28 0:33 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,freezer\n";

const char* kPureV2 =
    "24 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "26 24 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=4000k\n";

}  // namespace

TEST_CASE("a hybrid host with separate cpu and cpuacct mounts") {
  auto mounts = detectFrom(kHybridSeparate);
  REQUIRE(mounts);
  CHECK(mounts->layout == Layout::hybrid);
  CHECK(mounts->v2 == "/sys/fs/cgroup/unified");
  CHECK(mounts->v1 == std::map<std::string, std::string>{{"cpu", "/sys/fs/cgroup/cpu"},
                                                         {"cpuacct", "/sys/fs/cgroup/cpuacct"},
                                                         {"devices", "/sys/fs/cgroup/devices"},
                                                         {"memory", "/sys/fs/cgroup/memory"},
                                                         {"pids", "/sys/fs/cgroup/pids"}});
  CHECK(mounts->devices == DeviceControl::v1);
  CHECK(mounts->v1Controllers.at("/sys/fs/cgroup/cpu") == "cpu");
  CHECK(mounts->v1Controllers.at("/sys/fs/cgroup/devices") == "devices");
  CHECK(mounts->v1Controllers.count("/sys/fs/cgroup/freezer") == 0);
}

TEST_CASE("a hybrid host with cpu,cpuacct co-mounted") {
  auto mounts = detectFrom(kHybridCoMounted);
  REQUIRE(mounts);
  CHECK(mounts->layout == Layout::hybrid);
  CHECK(mounts->v2 == "/sys/fs/cgroup/unified");
  CHECK(mounts->v1.at("cpu") == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(mounts->v1.at("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(mounts->v1.at("memory") == "/sys/fs/cgroup/memory");
  CHECK(mounts->v1.at("pids") == "/sys/fs/cgroup/pids");
  CHECK(mounts->v1.count("freezer") == 0);  // never freeze through v1
  // The container mounts the hierarchy by exactly these controllers.
  CHECK(mounts->v1Controllers.at("/sys/fs/cgroup/cpu,cpuacct") == "cpu,cpuacct");
  // No v1 devices hierarchy here: the device policy is an eBPF program on the v2 group.
  CHECK(mounts->devices == DeviceControl::ebpf);
}

TEST_CASE("a pure cgroup v2 host") {
  auto mounts = detectFrom(kPureV2);
  REQUIRE(mounts);
  CHECK(mounts->layout == Layout::unified);
  CHECK(mounts->v2 == "/sys/fs/cgroup");
  CHECK(mounts->v1.empty());
  CHECK(mounts->devices == DeviceControl::ebpf);
}

TEST_CASE("cgroup2 at /sys/fs/cgroup wins over a second cgroup2 mount and stray v1 mounts") {
  auto mounts = detectFrom(
      "50 1 0:40 / /mnt/other rw - cgroup2 cgroup2 rw\n"
      "51 1 0:41 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
      "52 1 0:42 / /mnt/v1mem rw - cgroup cgroup rw,memory\n");
  REQUIRE(mounts);
  CHECK(mounts->layout == Layout::unified);
  CHECK(mounts->v2 == "/sys/fs/cgroup");
  CHECK(mounts->v1.empty());
}

TEST_CASE("only a named v1 hierarchy beside cgroup2 is a unified host") {
  auto mounts = detectFrom(
      "30 28 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
      "29 28 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n");
  REQUIRE(mounts);
  CHECK(mounts->layout == Layout::unified);
  CHECK(mounts->v2 == "/sys/fs/cgroup/unified");
  CHECK(mounts->v1.empty());
}

TEST_CASE("escaped mount points are decoded and malformed lines skipped") {
  auto mounts = detectFrom(
      "garbage line\n"
      "\n"
      "29 28 0:26 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n"
      "34 28 0:31 / /mnt/mem\\134x rw - cgroup cgroup rw,memory\n"
      "35 28 0:32 / /mnt/short rw - cgroup\n");
  REQUIRE(mounts);
  CHECK(mounts->layout == Layout::hybrid);
  CHECK(mounts->v2 == "/mnt/my cgroup");
  CHECK(mounts->v1 == std::map<std::string, std::string>{{"memory", "/mnt/mem\\x"}});
}

TEST_CASE("a host without cgroup2 or without mountinfo is refused") {
  auto v1Only = detectFrom("34 28 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
  REQUIRE_FALSE(v1Only);
  CHECK(v1Only.error().code == Errc::host_refused);

  auto missing = detectMounts("/nonexistent/berth/mountinfo");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::host_refused);
  CHECK(missing.error().sysErrno == ENOENT);
  CHECK(missing.error().message.find("/nonexistent/berth/mountinfo") != std::string::npos);
}
