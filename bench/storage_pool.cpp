// Times the btrfs pool's primitives on a real loop device: Pool::open cold
// (mkfs + attach + mount), re-attach (a host boot) and warm (a service
// restart); createLayer alone and with setLimit; destroyLayer; snapshot,
// copyLayer, restore and destroy of a filled layer; usage (it syncs) idle and
// with dirty data; how stale qgroup numbers are without a commit.
//   build/bench/bench_storage_pool [iterations] [layer MiB]   (root; default 20, 1024)
// Prints median and p99 per primitive in milliseconds; removes its pool after.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "storage/btrfs_ops.hpp"
#include "storage/pool.hpp"

using namespace berth;
using namespace berth::storage;

namespace {

constexpr uint64_t kMiB = 1ull << 20;

struct Samples {
  std::vector<double> ms;
  void print(const char* name) {
    if (ms.empty()) return;
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))]; };
    std::printf("%-34s n=%-4zu median %9.3f ms   p99 %9.3f ms\n", name, ms.size(), at(0.5), at(0.99));
  }
};

// The bench's scratch dir and pool mount: removed on every way out.
std::string gScratchDir, gMountPoint;

void cleanUp() {
  if (gScratchDir.empty()) return;
  // Unmounting frees the loop device (it auto-clears on the last unmount).
  ::umount2(gMountPoint.c_str(), MNT_DETACH);
  if (auto removed = removeTree(gScratchDir); !removed) std::fprintf(stderr, "bench: %s\n", removed.error().describe().c_str());
  gScratchDir.clear();
}

[[noreturn]] void die(const std::string& what, const Error& error) {
  std::fprintf(stderr, "bench: %s: %s\n", what.c_str(), error.describe().c_str());
  cleanUp();
  std::exit(1);
}

template <typename F>
auto timed(Samples& samples, const char* what, F&& body) {
  auto t0 = std::chrono::steady_clock::now();
  auto result = body();
  samples.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  if (!result) die(what, result.error());
  return result;
}

template <typename T>
T must(Result<T> result, const char* what) {
  if (!result) die(what, result.error());
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

// Buffered writes of `bytes` (no sync): dirty page cache for the pool.
void writeFile(const std::string& path, uint64_t bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    cleanUp();
    std::exit(1);
  }
  std::string block(kMiB, 'z');
  for (uint64_t done = 0; done < bytes; done += kMiB) {
    // Varying bytes so nothing could ever be deduplicated or compressed away.
    std::memcpy(block.data(), &done, sizeof done);
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n != static_cast<ssize_t>(block.size())) {
      std::fprintf(stderr, "bench: write %s at %llu MiB: %s\n", path.c_str(), static_cast<unsigned long long>(done / kMiB),
                   n < 0 ? std::strerror(errno) : "short write");
      cleanUp();
      std::exit(1);
    }
  }
  ::close(fd);
}

uint64_t committedReferenced(const Pool& pool, const std::string& id) {
  auto root = must(openFile(pool.mountPoint(), O_RDONLY | O_DIRECTORY), "open pool");
  auto layer = must(openFile(pool.mountPoint() + "/layers/" + id, O_RDONLY | O_DIRECTORY), "open layer");
  uint64_t subvolume = must(btrfs::subvolumeId(layer.get()), "subvolume id");
  return must(btrfs::readQgroup(root.get(), subvolume), "read qgroup").referenced;
}

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char* argv[]) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 20;
  uint64_t layerMiB = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_storage_pool needs root\n");
    return 2;
  }
  char dirTemplate[] = "/tmp/berth-bench-pool-XXXXXX";
  if (!::mkdtemp(dirTemplate)) return 1;
  std::string dir = dirTemplate;
  PoolOptions options;
  options.dir = dir + "/storage";
  options.sizeBytes = std::max<uint64_t>(16ull << 30, layerMiB * kMiB * 4);
  gScratchDir = dir;
  gMountPoint = options.dir + "/pool";

  Samples openCold, openReattach, openWarm, close;
  std::optional<Pool> pool = std::move(*timed(openCold, "open cold", [&] { return Pool::open(options); }));
  for (int i = 0; i < std::min(iterations, 10); ++i) {
    timed(close, "close", [&] { return pool->close(); });
    pool = std::move(*timed(openReattach, "open re-attach", [&] { return Pool::open(options); }));
  }
  for (int i = 0; i < iterations; ++i) {
    pool.reset();
    pool = std::move(*timed(openWarm, "open warm", [&] { return Pool::open(options); }));
  }
  Pool& p = *pool;

  Samples create, createLimit, setLimit, destroyEmpty, usageIdle;
  for (int i = 0; i < iterations; ++i) {
    std::string a = "a" + std::to_string(i), b = "b" + std::to_string(i);
    timed(create, "createLayer", [&] { return p.createLayer(a); });
    timed(createLimit, "createLayer+setLimit", [&]() -> Result<void> {
      BERTH_TRYV(p.createLayer(b));
      return p.setLimit(b, 10ull << 30);
    });
    timed(setLimit, "setLimit", [&] { return p.setLimit(b, 20ull << 30); });
    timed(usageIdle, "usage idle", [&] { return p.usage(b); });
  }
  for (int i = 0; i < iterations; ++i) {
    timed(destroyEmpty, "destroyLayer", [&] { return p.destroyLayer("a" + std::to_string(i)); });
    must(p.destroyLayer("b" + std::to_string(i)), "destroy");
  }

  // Qgroup freshness: numbers move only at a commit.
  must(p.createLayer("fresh"), "create");
  writeFile(p.upperDir("fresh") + "/f", 64 * kMiB);
  uint64_t before = committedReferenced(p, "fresh");
  Samples usageDirty;
  timed(usageDirty, "usage 64 MiB dirty", [&] { return p.usage("fresh"); });
  uint64_t after = committedReferenced(p, "fresh");
  std::printf("qgroup referenced after 64 MiB buffered writes: %.1f MiB before a commit, %.1f MiB after usage()\n",
              static_cast<double>(before) / kMiB, static_cast<double>(after) / kMiB);
  for (int i = 1; i < std::min(iterations, 5); ++i) {
    writeFile(p.upperDir("fresh") + "/f" + std::to_string(i), 64 * kMiB);
    timed(usageDirty, "usage 64 MiB dirty", [&] { return p.usage("fresh"); });
  }
  must(p.destroyLayer("fresh"), "destroy");

  // A filled layer.
  must(p.createLayer("big"), "create");
  must(p.setLimit("big", layerMiB * kMiB * 4), "limit");
  auto t0 = std::chrono::steady_clock::now();
  writeFile(p.upperDir("big") + "/data", layerMiB * kMiB);
  must(p.sync(), "sync");
  std::printf("filling the layer with %llu MiB and syncing: %.0f ms\n", static_cast<unsigned long long>(layerMiB), msSince(t0));
  std::printf("layer usage: %.1f MiB\n", static_cast<double>(must(p.usage("big"), "usage")) / kMiB);

  Samples snapshot, snapshotDirty, deleteSnapshot, copy, destroyCopy, restore;
  for (int i = 0; i < iterations; ++i) {
    std::string s = "s" + std::to_string(i);
    timed(snapshot, "snapshot", [&] { return p.snapshot("big", s); });
    timed(deleteSnapshot, "deleteSnapshot", [&] { return p.deleteSnapshot("big", s); });
    std::string c = "copy" + std::to_string(i);
    timed(copy, "copyLayer", [&] { return p.copyLayer("big", c); });
    timed(destroyCopy, "destroyLayer (copy)", [&] { return p.destroyLayer(c); });
  }
  must(p.snapshot("big", "base"), "snapshot");
  for (int i = 0; i < iterations; ++i) {
    writeFile(p.upperDir("big") + "/scratch", 16 * kMiB);
    timed(restore, "restore", [&] { return p.restore("big", "base"); });
  }
  for (int i = 0; i < std::min(iterations, 5); ++i) {
    writeFile(p.upperDir("big") + "/dirty" + std::to_string(i), 256 * kMiB);
    std::string s = "dirty" + std::to_string(i);
    timed(snapshotDirty, "snapshot, 256 MiB dirty", [&] { return p.snapshot("big", s); });
  }
  must(p.deleteSnapshots("big"), "delete snapshots");
  must(p.sync(), "sync");

  Samples destroyBig, spaceBack;
  {
    auto freeNow = [&] {
      struct ::statvfs info{};
      ::statvfs(p.mountPoint().c_str(), &info);
      return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
    };
    uint64_t freeBefore = freeNow();
    timed(destroyBig, "destroyLayer (filled)", [&] { return p.destroyLayer("big"); });
    auto start = std::chrono::steady_clock::now();
    while (freeNow() < freeBefore + layerMiB * kMiB * 9 / 10 && msSince(start) < 60000) {
      must(p.sync(), "sync");
      ::usleep(10000);
    }
    spaceBack.ms.push_back(msSince(start));
  }

  openCold.print("open cold (mkfs+attach+mount)");
  openReattach.print("open re-attach (host boot)");
  openWarm.print("open warm (service restart)");
  close.print("close (unmount)");
  create.print("createLayer");
  createLimit.print("createLayer+setLimit");
  setLimit.print("setLimit (change)");
  destroyEmpty.print("destroyLayer (empty)");
  usageIdle.print("usage (idle pool)");
  usageDirty.print("usage (64 MiB dirty)");
  std::string layer = std::to_string(layerMiB) + " MiB";
  snapshot.print(("snapshot " + layer).c_str());
  snapshotDirty.print(("snapshot " + layer + ", 256 MiB dirty").c_str());
  deleteSnapshot.print("deleteSnapshot");
  copy.print(("copyLayer " + layer).c_str());
  destroyCopy.print("destroyLayer (copy)");
  restore.print(("restore " + layer).c_str());
  destroyBig.print(("destroyLayer " + layer).c_str());
  spaceBack.print("  ... until its space is free");
  must(p.close(), "close");
  pool.reset();
  cleanUp();
  return 0;
}
