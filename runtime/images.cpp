#include "runtime/images.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <vector>

#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/unique_fd.hpp"

namespace berth::runtime {

namespace {

// `busybox --list-full`: one applet path per line, e.g. "usr/bin/awk".
Result<std::string> listApplets(const std::string& busybox) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysFail("pipe2");
  UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), 1);
  std::vector<char*> argv{const_cast<char*>(busybox.c_str()), const_cast<char*>("--list-full"), nullptr};
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, busybox.c_str(), &actions, nullptr, argv.data(), nullptr);
  ::posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return sysFail(Errc::host_refused, "run " + busybox + " (install busybox-static)", err);
  writeEnd.reset();
  auto out = readFd(readEnd.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!out) return out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail(Errc::host_refused, busybox + " --list-full failed");
  return out;
}

Result<void> copyFile(const std::string& from, const std::string& to, mode_t mode) {
  BERTH_TRY(std::string content, readFile(from));
  return writeFileFast(to, content, mode);
}

}  // namespace

std::string imageRootfs(const std::string& imagesDir, const std::string& name) {
  return imagesDir + "/" + name + "/rootfs";
}

bool imageExists(const std::string& imagesDir, const std::string& name) {
  return isValidName(name) && pathExists(imageRootfs(imagesDir, name) + "/bin");
}

Result<void> ensureBusyboxImage(const std::string& imagesDir, const std::string& busyboxBinary) {
  if (imageExists(imagesDir, kDefaultImage)) return {};
  std::string imageDir = imagesDir + "/" + kDefaultImage;
  std::string building = imagesDir + "/." + kDefaultImage + ".building";
  BERTH_TRYV(removeTree(building));
  std::string rootfs = building + "/rootfs";
  for (const char* dir : {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run"})
    BERTH_TRYV(makeDirs(rootfs + "/" + dir));
  if (::chmod((rootfs + "/tmp").c_str(), 01777) != 0) return sysFail("chmod " + rootfs + "/tmp");
  BERTH_TRYV(copyFile(busyboxBinary, rootfs + "/bin/busybox", 0755));
  BERTH_TRY(std::string applets, listApplets(busyboxBinary));
  std::istringstream lines(applets);
  std::string applet;
  while (std::getline(lines, applet)) {
    if (applet.empty() || applet == "bin/busybox") continue;
    std::string link = rootfs + "/" + applet;
    if (::symlink("/bin/busybox", link.c_str()) != 0 && errno != EEXIST) return sysFail("symlink " + link);
  }
  BERTH_TRYV(writeFileFast(rootfs + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"));
  BERTH_TRYV(writeFileFast(rootfs + "/etc/group", "root:x:0:\nnogroup:x:65534:\n"));
  BERTH_TRYV(writeFileFast(rootfs + "/etc/hostname", "busybox\n"));
  if (::rename(building.c_str(), imageDir.c_str()) != 0) return sysFail("rename " + building);
  return {};
}

}  // namespace berth::runtime
