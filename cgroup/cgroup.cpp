// Host detection and the Driver: where groups live and how they are made.
#include "cgroup/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include "common/files.hpp"
#include "common/scope_guard.hpp"

namespace berth::cgroup {

namespace {

constexpr std::string_view kUnifiedMountPoint = "/sys/fs/cgroup";
// The v1 controllers the hybrid driver uses: limits and stats, and the device policy.
constexpr std::array<std::string_view, 5> kRoutedControllers = {"memory", "cpu", "cpuacct", "pids", "devices"};
// Every v1 controller name: a v1 mount listing one is a controller hierarchy,
// while one with only "name=systemd" is not.
constexpr std::array<std::string_view, 14> kV1Controllers = {"cpu",     "cpuacct", "cpuset",     "memory",   "devices",
                                                             "freezer", "net_cls", "perf_event", "net_prio", "hugetlb",
                                                             "pids",    "rdma",    "misc",       "blkio"};
// The controllers a unified root hands down to its groups.
constexpr std::array<std::string_view, 3> kV2Controllers = {"memory", "cpu", "pids"};

bool contains(const auto& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeOctal(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      std::string_view digits = field.substr(i + 1, 3);
      if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out.push_back(static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

struct MountEntry {
  std::string mountPoint;
  std::string fsType;
  std::vector<std::string> superOptions;
};

// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
std::optional<MountEntry> parseMountLine(const std::string& line) {
  std::vector<std::string> fields = split(line, ' ');
  auto dash = std::find(fields.begin(), fields.end(), "-");
  if (fields.size() < 6 || dash == fields.end() || dash - fields.begin() < 6 || fields.end() - dash < 4)
    return std::nullopt;
  return MountEntry{unescapeOctal(fields[4]), *(dash + 1), split(*(dash + 3), ',')};
}

bool validRoot(std::string_view root) {
  if (root.empty() || root.front() == '/' || root.back() == '/') return false;
  for (const std::string& part : split(root, '/'))
    if (part == "." || part == "..") return false;
  return root.find("//") == std::string_view::npos;
}

// A group's interface files share the namespace of its child groups: a child
// named like one cannot be made ("tasks" is every v1 group's file).
bool isInterfaceFileName(std::string_view name) {
  if (name == "tasks" || name == "notify_on_release" || name == "release_agent") return true;
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos) return false;
  static constexpr std::string_view kPrefixes[] = {"cgroup",  "cpu",     "cpuacct",  "cpuset",    "memory",  "devices",
                                                   "freezer", "blkio",   "pids",     "io",        "hugetlb", "rdma",
                                                   "misc",    "net_cls", "net_prio", "perf_event"};
  const std::string_view prefix = name.substr(0, dot);
  for (std::string_view known : kPrefixes)
    if (prefix == known) return true;
  return false;
}

Result<void> checkGroupName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    return fail(Errc::invalid_argument, "invalid cgroup name '" + name + "'");
  if (isInterfaceFileName(name))
    return fail(Errc::invalid_argument, "invalid cgroup name '" + name + "': a cgroup interface file has that name");
  return {};
}

std::string join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

// Each v1 mount once, in a stable order (cpu and cpuacct may share one).
std::vector<std::string> distinctV1Mounts(const Mounts& mounts) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& [controller, mount] : mounts.v1)
    if (seen.insert(mount).second) out.push_back(mount);
  return out;
}

// Hands memory, cpu and pids down to our root's children where the parent
// delegated them (listed in our root's cgroup.controllers); never above our root.
Result<void> enableControllers(const std::string& v2Root) {
  BERTH_TRY(std::string available, readFile(join(v2Root, "cgroup.controllers")));
  BERTH_TRY(std::string enabled, readFile(join(v2Root, "cgroup.subtree_control")));
  std::vector<std::string> availableList = split(available.substr(0, available.find('\n')), ' ');
  std::vector<std::string> enabledList = split(enabled.substr(0, enabled.find('\n')), ' ');
  std::string request;
  for (std::string_view controller : kV2Controllers) {
    if (!contains(availableList, controller) || contains(enabledList, controller)) continue;
    if (!request.empty()) request += ' ';
    request += "+" + std::string(controller);
  }
  if (request.empty()) return {};
  return writeFile(join(v2Root, "cgroup.subtree_control"), request);
}

Result<void> removeEmptyDir(const std::string& dir) {
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
  // A cgroup dir with children refuses with EBUSY (cgroupfs) or ENOTEMPTY.
  if (errno == EBUSY || errno == ENOTEMPTY)
    return sysFail(Errc::state_conflict, "rmdir " + dir + " (still has groups)");
  return sysFail("rmdir " + dir);
}

}  // namespace

Result<Mounts> detectMounts(const std::string& mountinfoPath) {
  BERTH_TRY(std::string text, withContext(readFile(mountinfoPath), "detecting cgroup mounts"));
  Mounts mounts;
  bool anyV1Controller = false;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::optional<MountEntry> entry = parseMountLine(line);
    if (!entry) continue;  // not a line we understand: it cannot be a cgroup mount we need
    if (entry->fsType == "cgroup2") {
      if (mounts.v2.empty() || entry->mountPoint == kUnifiedMountPoint) mounts.v2 = entry->mountPoint;
    } else if (entry->fsType == "cgroup") {
      std::string controllers;
      bool routed = false;
      for (const std::string& option : entry->superOptions) {
        if (!contains(kV1Controllers, option)) continue;
        anyV1Controller = true;
        controllers += (controllers.empty() ? "" : ",") + option;
        if (contains(kRoutedControllers, option)) routed |= mounts.v1.try_emplace(option, entry->mountPoint).second;
      }
      if (routed) mounts.v1Controllers[entry->mountPoint] = controllers;
    }
  }
  if (mounts.v2.empty())
    return fail(Errc::host_refused, "no cgroup2 mount in " + mountinfoPath + ": berth needs a unified or hybrid host");
  if (mounts.v2 == kUnifiedMountPoint || !anyV1Controller) {
    mounts.layout = Layout::unified;
    mounts.v1.clear();
    mounts.v1Controllers.clear();
  } else {
    mounts.layout = Layout::hybrid;
  }
  // cgroup-bpf works on any cgroup2 tree, but where a v1 devices hierarchy
  // exists its groups start as "allow all" and are what runc and Docker use.
  mounts.devices = mounts.v1.contains("devices") ? DeviceControl::v1 : DeviceControl::ebpf;
  return mounts;
}

Result<Driver> Driver::create(Mounts mounts, std::string root) {
  if (mounts.v2.empty()) return fail(Errc::invalid_argument, "cgroup driver: no cgroup2 mount given");
  if (!validRoot(root))
    return fail(Errc::invalid_argument, "cgroup root must be a relative path without '.' or '..': '" + root + "'");
  if (mounts.layout == Layout::unified) mounts.v1.clear();
  std::erase_if(mounts.v1, [](const auto& entry) { return !contains(kRoutedControllers, entry.first); });
  if (mounts.devices == DeviceControl::v1 && !mounts.v1.contains("devices"))
    return fail(Errc::invalid_argument, "cgroup driver: v1 device control without a v1 devices hierarchy");
  Driver driver;
  driver.mounts_ = std::move(mounts);
  driver.root_ = std::move(root);
  return driver;
}

Result<Driver> Driver::detect(std::string root) {
  BERTH_TRY(Mounts mounts, detectMounts());
  return create(std::move(mounts), std::move(root));
}

Result<NewGroup> Driver::createGroup(const std::string& name) {
  BERTH_TRYV(checkGroupName(name));
  std::string v2Root = join(mounts_.v2, root_);
  BERTH_TRYV(withContext(makeDirs(v2Root), "creating cgroup root"));
  if (mounts_.layout == Layout::unified) BERTH_TRYV(withContext(enableControllers(v2Root), "enabling controllers"));

  Group group;
  group.name_ = name;
  group.layout_ = mounts_.layout;
  group.devices_ = mounts_.devices;
  group.v2Path_ = join(v2Root, name);
  for (const auto& [controller, mount] : mounts_.v1) group.v1Paths_[controller] = join(join(mount, root_), name);

  std::vector<std::string> made;
  ScopeGuard undo([&made] {
    for (auto dir = made.rbegin(); dir != made.rend(); ++dir) ::rmdir(dir->c_str());
  });
  if (::mkdir(group.v2Path_.c_str(), 0755) != 0) {
    if (errno == EEXIST) return fail(Errc::already_exists, "cgroup " + name + " exists already");
    return sysFail("mkdir " + group.v2Path_);
  }
  made.push_back(group.v2Path_);
  for (const std::string& mount : distinctV1Mounts(mounts_)) {
    std::string dir = join(join(mount, root_), name);
    BERTH_TRYV(withContext(makeDirs(join(mount, root_)), "creating cgroup root"));
    // A v1 dir without its v2 twin can only be a leftover of ours: adopt it.
    if (::mkdir(dir.c_str(), 0755) != 0) {
      if (errno != EEXIST) return sysFail("mkdir " + dir);
    } else {
      made.push_back(dir);
    }
  }
  int fd = ::open(group.v2Path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sysFail("open " + group.v2Path_);
  group.v2Dir_.reset(fd);
  BERTH_TRYV(group.setDevices(defaultDeviceRules()));
  undo.dismiss();
  return NewGroup(std::move(group));
}

Result<Group> Driver::openGroup(const std::string& name) {
  BERTH_TRYV(checkGroupName(name));
  Group group;
  group.name_ = name;
  group.layout_ = mounts_.layout;
  group.devices_ = mounts_.devices;
  group.v2Path_ = join(join(mounts_.v2, root_), name);
  for (const auto& [controller, mount] : mounts_.v1) group.v1Paths_[controller] = join(join(mount, root_), name);
  int fd = ::open(group.v2Path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fail(Errc::not_found, "cgroup " + name + " does not exist");
    return sysFail("opening cgroup " + group.v2Path_);
  }
  group.v2Dir_.reset(fd);
  // A group made before berth had a device cgroup has no v1 devices dir:
  // made now with the default policy, so its next init can join it.
  if (auto devices = group.v1Paths_.find("devices"); devices != group.v1Paths_.end()) {
    const std::string& dir = devices->second;
    int made = ::mkdir(dir.c_str(), 0755);
    if (made != 0 && errno == ENOENT) {
      BERTH_TRYV(makeDirs(dir.substr(0, dir.rfind('/'))));
      made = ::mkdir(dir.c_str(), 0755);
    }
    if (made == 0) {
      BERTH_TRYV(withContext(group.setDevices(defaultDeviceRules()), "cgroup " + name + " of an older berth"));
    } else if (errno != EEXIST) {
      return sysFail("mkdir " + dir);
    }
  }
  group.mayBeKilled_ = true;
  return group;
}

bool Driver::groupExists(const std::string& name) const {
  if (!checkGroupName(name)) return false;
  struct stat st {};
  return ::stat(join(join(mounts_.v2, root_), name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> Driver::listGroups() const {
  std::string v2Root = join(mounts_.v2, root_);
  std::vector<std::string> names;
  DIR* dir = ::opendir(v2Root.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return names;  // no group was ever made
    return sysFail("opendir " + v2Root);
  }
  errno = 0;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string_view entryName = entry->d_name;
    if (entry->d_type == DT_DIR && entryName != "." && entryName != "..") names.emplace_back(entryName);
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return sysFail("readdir " + v2Root, err);
  std::sort(names.begin(), names.end());
  return names;
}

std::string groupDirIn(const Hierarchy& hierarchy, const std::vector<std::string>& joinFiles) {
  if (hierarchy.mountPoint.empty()) return "";
  for (const std::string& file : joinFiles)
    if (file.starts_with(hierarchy.mountPoint + "/")) return file.substr(0, file.rfind('/'));
  return "";
}

std::vector<Hierarchy> Driver::containerHierarchies() const {
  if (mounts_.layout == Layout::unified) return {Hierarchy{"", "cgroup2", "", {}, mounts_.v2}};
  std::vector<Hierarchy> hierarchies;
  for (const std::string& mount : distinctV1Mounts(mounts_)) {
    Hierarchy hierarchy{mount.substr(mount.rfind('/') + 1), "cgroup", "", {}, mount};
    std::string routed;
    for (const auto& [controller, at] : mounts_.v1) {
      if (at != mount) continue;
      routed += (routed.empty() ? "" : ",") + controller;
      if (controller != hierarchy.name) hierarchy.aliases.push_back(controller);
    }
    auto known = mounts_.v1Controllers.find(mount);
    hierarchy.controllers = known != mounts_.v1Controllers.end() ? known->second : routed;
    hierarchies.push_back(std::move(hierarchy));
  }
  hierarchies.push_back(Hierarchy{"unified", "cgroup2", "", {}, mounts_.v2});
  return hierarchies;
}

Result<void> Driver::removeRoot() {
  std::vector<std::string> dirs;
  for (const std::string& mount : distinctV1Mounts(mounts_)) dirs.push_back(join(mount, root_));
  dirs.push_back(join(mounts_.v2, root_));
  Result<void> first;
  for (const std::string& dir : dirs) {
    Result<void> removed = removeEmptyDir(dir);
    if (!removed && first) first = removed;
  }
  return first;
}

}  // namespace berth::cgroup
