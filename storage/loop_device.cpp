#include "storage/loop_device.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>

#include <cstring>

#include "common/files.hpp"

namespace berth::storage {

namespace {

Result<void> configure(int loopFd, int imageFd, const std::string& imagePath, bool directIo) {
  loop_config config{};
  config.fd = static_cast<__u32>(imageFd);
  config.block_size = 4096;  // btrfs's sector size; also what direct I/O to the image needs at most
  config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (directIo ? LO_FLAGS_DIRECT_IO : 0);
  std::strncpy(reinterpret_cast<char*>(config.info.lo_file_name), imagePath.c_str(), LO_NAME_SIZE - 1);
  if (::ioctl(loopFd, LOOP_CONFIGURE, &config) != 0) return sysFail("LOOP_CONFIGURE");
  return {};
}

}  // namespace

Result<LoopAttachment> attachLoop(const std::string& imagePath) {
  BERTH_TRY(UniqueFd image, openFile(imagePath, O_RDWR | O_CLOEXEC));
  BERTH_TRY(UniqueFd control, openFile("/dev/loop-control", O_RDWR | O_CLOEXEC));
  // Another process may configure the free device between GET_FREE and
  // CONFIGURE (EBUSY): ask again, a bounded number of times.
  for (int attempt = 0; attempt < 16; ++attempt) {
    int index = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (index < 0) return sysFail("LOOP_CTL_GET_FREE");
    std::string devicePath = "/dev/loop" + std::to_string(index);
    BERTH_TRY(UniqueFd loop, openFile(devicePath, O_RDWR | O_CLOEXEC));
    auto configured = configure(loop.get(), image.get(), imagePath, true);
    // Without direct I/O support underneath (tmpfs), buffered I/O does.
    if (!configured && configured.error().sysErrno == EINVAL) configured = configure(loop.get(), image.get(), imagePath, false);
    if (!configured) {
      if (configured.error().sysErrno == EBUSY) continue;
      return tl::unexpected(configured.error().wrap("attaching " + imagePath + " to " + devicePath));
    }
    return LoopAttachment{devicePath, std::move(loop)};
  }
  return fail(Errc::host_refused, "attaching " + imagePath + ": every free loop device was taken before it could be configured");
}

std::optional<std::string> loopBackingFile(const std::string& devicePath) {
  auto slash = devicePath.rfind('/');
  std::string name = slash == std::string::npos ? devicePath : devicePath.substr(slash + 1);
  auto content = readFile("/sys/block/" + name + "/loop/backing_file");
  if (!content) return std::nullopt;
  std::string path = *content;
  while (!path.empty() && path.back() == '\n') path.pop_back();
  return path;
}

}  // namespace berth::storage
