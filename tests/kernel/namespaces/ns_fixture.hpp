#pragma once
// Shared by the namespaces kernel tests: one busybox image per binary, a
// sandbox per container (upper, work and merged dirs), and a runner that
// captures the container's stdout and stderr.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "common/process.hpp"
#include "common/unique_fd.hpp"
#include "namespaces/spawn.hpp"
#include "support/test_support.hpp"

namespace berth::ns::testing {

using berth::testing::TempDir;

// Built once: copying busybox and linking its applets is the slow part.
inline const std::string& imageDir() {
  struct Image {
    TempDir dir{"berth-ns-image"};
    Image() { berth::testing::makeBusyboxRootfs(dir.sub("rootfs")); }
  };
  static Image image;
  static const std::string path = image.dir.sub("rootfs");
  return path;
}

class Sandbox {
 public:
  Sandbox() {
    for (const char* name : {"upper", "work", "merged"}) REQUIRE(::mkdir(dir_.sub(name).c_str(), 0755) == 0);
  }
  const TempDir& dir() const { return dir_; }
  std::string upper() const { return dir_.sub("upper"); }

  InitSpec spec(std::vector<std::string> argv) const {
    InitSpec spec;
    spec.rootfs = {imageDir(), dir_.sub("upper"), dir_.sub("work"), dir_.sub("merged")};
    spec.argv = std::move(argv);
    spec.env = {"PATH=/bin", "HOME=/root"};
    return spec;
  }
  InitSpec shell(const std::string& script) const { return spec({"/bin/sh", "-c", script}); }

 private:
  TempDir dir_{"berth-ns"};
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

inline Pipe makePipe() {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

inline std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct RunResult {
  ExitStatus status;
  std::string output;  // stdout and stderr together
};

// Runs the spec to completion with stdout and stderr captured.
inline RunResult run(InitSpec spec) {
  Pipe out = makePipe();
  spec.stdoutFd = out.write.get();
  spec.stderrFd = out.write.get();
  auto child = spawnInit(spec);
  out.write.reset();
  if (!child) FAIL(child.error().describe());
  RunResult result;
  result.output = readAll(out.read.get());
  auto status = child->wait(std::chrono::seconds(30));
  REQUIRE(status);
  REQUIRE(status->has_value());
  result.status = **status;
  return result;
}

}  // namespace berth::ns::testing
