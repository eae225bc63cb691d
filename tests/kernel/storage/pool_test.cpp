// The btrfs pool on a real loop device: lifecycle (cold open, service restart,
// host boot), quotas, usage, snapshots, restore, copies, deletion.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include "kernel/storage/pool_fixture.hpp"

using namespace berth;
using namespace berth::storage;
using berth::testing::PoolFixture;

namespace {

constexpr uint64_t kMiB = 1ull << 20;

std::string describe(const Error& error) { return error.describe(); }

#define REQUIRE_OK(expr)                                             \
  do {                                                               \
    auto requireOk_ = (expr);                                        \
    INFO(#expr << ": " << (requireOk_ ? std::string() : describe(requireOk_.error()))); \
    REQUIRE(requireOk_);                                             \
  } while (0)

struct WriteOutcome {
  uint64_t written = 0;
  int err = 0;  // errno of the write that failed, 0 when all went in
};

// Writes `bytes` with O_DIRECT in 1 MiB blocks, so the quota sees every block
// now and not at some later writeback.
WriteOutcome writeDirect(const std::string& path, uint64_t bytes) {
  WriteOutcome out;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) {
    out.err = errno;
    return out;
  }
  void* buf = nullptr;
  if (::posix_memalign(&buf, 4096, kMiB) != 0) std::abort();
  std::memset(buf, 0x5a, kMiB);
  while (out.written < bytes) {
    ssize_t n = ::write(fd, buf, kMiB);
    if (n < 0) {
      out.err = errno;
      break;
    }
    out.written += static_cast<uint64_t>(n);
  }
  std::free(buf);
  ::close(fd);
  return out;
}

void writeText(const std::string& path, const std::string& text) { REQUIRE_OK(writeFileFast(path, text)); }

std::string readText(const std::string& path) {
  auto content = readFile(path);
  return content ? *content : "<" + content.error().describe() + ">";
}

uint64_t freeBytes(const std::string& path) {
  struct statvfs info{};
  REQUIRE(::statvfs(path.c_str(), &info) == 0);
  return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

void syncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::syncfs(fd) == 0);
  ::close(fd);
}

// One line per entry: path, type and mode, owner, link count, size, symlink
// target, device number, xattrs (with values) and a hash of the content.
void listTree(const std::string& root, const std::string& rel, std::map<std::string, std::string>& out) {
  std::string path = rel.empty() ? root : root + "/" + rel;
  struct stat st{};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  std::string line = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) +
                     " nlink=" + std::to_string(st.st_nlink);
  if (S_ISREG(st.st_mode)) {
    line += " size=" + std::to_string(st.st_size) + " hash=" + std::to_string(std::hash<std::string>{}(readText(path)));
  } else if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlink(path.c_str(), target, sizeof target);
    REQUIRE(n >= 0);
    line += " -> " + std::string(target, static_cast<size_t>(n));
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    line += " rdev=" + std::to_string(major(st.st_rdev)) + "," + std::to_string(minor(st.st_rdev));
  }
  char names[4096];
  ssize_t len = ::llistxattr(path.c_str(), names, sizeof names);
  REQUIRE(len >= 0);
  std::vector<std::string> keys;
  for (ssize_t i = 0; i < len; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) keys.emplace_back(names + i);
  std::sort(keys.begin(), keys.end());
  for (auto& key : keys) {
    char value[1024];
    ssize_t vlen = ::lgetxattr(path.c_str(), key.c_str(), value, sizeof value);
    REQUIRE(vlen >= 0);
    line += " " + key + "=" + std::string(value, static_cast<size_t>(vlen));
  }
  out[rel.empty() ? "." : rel] = line;
  if (S_ISDIR(st.st_mode)) {
    auto dirFd = openFile(path, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirFd);
    DIR* dir = ::fdopendir(dirFd->release());
    REQUIRE(dir != nullptr);
    std::vector<std::string> children;
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") children.push_back(name);
    }
    ::closedir(dir);
    for (auto& child : children) listTree(root, rel.empty() ? child : rel + "/" + child, out);
  }
}

std::map<std::string, std::string> listTree(const std::string& root) {
  std::map<std::string, std::string> out;
  listTree(root, "", out);
  return out;
}

// What an overlayfs upper dir holds: files, modes, owners, links, xattrs, an
// opaque dir, a whiteout (char device 0/0), a fifo.
void populate(const std::string& upper) {
  REQUIRE_OK(makeDirs(upper + "/etc/conf.d"));
  REQUIRE_OK(makeDirs(upper + "/opaque"));
  REQUIRE_OK(makeDirs(upper + "/empty"));
  writeText(upper + "/etc/hostname", "box\n");
  writeText(upper + "/etc/conf.d/app.conf", std::string(10000, 'c'));
  writeText(upper + "/secret", "s");
  REQUIRE(::chmod((upper + "/secret").c_str(), 0600) == 0);
  REQUIRE(::chown((upper + "/secret").c_str(), 1000, 1001) == 0);
  writeText(upper + "/setuid", "x");
  REQUIRE(::chmod((upper + "/setuid").c_str(), 04755) == 0);
  REQUIRE(::link((upper + "/etc/hostname").c_str(), (upper + "/hardlink").c_str()) == 0);
  REQUIRE(::symlink("../etc/hostname", (upper + "/empty/../link").c_str()) == 0);
  REQUIRE(::symlink("/does/not/exist", (upper + "/dangling").c_str()) == 0);
  REQUIRE(::mknod((upper + "/removed-file").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
  REQUIRE(::mkfifo((upper + "/fifo").c_str(), 0640) == 0);
  REQUIRE(::lsetxattr((upper + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
  REQUIRE(::lsetxattr((upper + "/etc/hostname").c_str(), "user.note", "hello", 5, 0) == 0);
  REQUIRE(::lsetxattr((upper + "/etc").c_str(), "trusted.overlay.origin", "\0\1\2", 3, 0) == 0);
  REQUIRE(::lchown((upper + "/dangling").c_str(), 7, 8) == 0);
}

// The names in layers/: the pool's temporaries would show there too.
std::vector<std::string> layerDirEntries(const Pool& pool) {
  std::vector<std::string> names;
  DIR* dir = ::opendir((pool.mountPoint() + "/layers").c_str());
  REQUIRE(dir != nullptr);
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("pool: a cold open makes the image, mounts it on a loop device, and close frees both", "[storage][pool]") {
  PoolFixture fixture;
  REQUIRE_FALSE(pathExists(fixture.options.dir + "/pool.img"));
  Pool& pool = fixture.open();
  CHECK(pool.mountPoint() == fixture.options.dir + "/pool");
  CHECK(pathExists(pool.imagePath()));
  struct stat image{};
  REQUIRE(::stat(pool.imagePath().c_str(), &image) == 0);
  CHECK(static_cast<uint64_t>(image.st_size) == fixture.options.sizeBytes);
  CHECK(static_cast<uint64_t>(image.st_blocks) * 512 < 64 * kMiB);  // sparse
  CHECK(berth::testing::mountsContaining(fixture.dir.path()) == std::vector<std::string>{pool.mountPoint()});
  CHECK(berth::testing::loopDevicesBackedBy(fixture.dir.path()).size() == 1);
  REQUIRE_OK(pool.createLayer("c1"));
  CHECK(pool.hasLayer("c1"));
  CHECK(pathExists(pool.upperDir("c1")));
  CHECK(pathExists(pool.workDir("c1")));
  fixture.close();
  CHECK(fixture.leftovers().empty());
}

TEST_CASE("pool: a service restart finds the mounted pool and keeps its data", "[storage][pool]") {
  PoolFixture fixture;
  {
    Pool& pool = fixture.open();
    REQUIRE_OK(pool.createLayer("c1"));
    REQUIRE_OK(pool.setLimit("c1", 32 * kMiB));
    writeText(pool.upperDir("c1") + "/data", "kept");
    fixture.pool.reset();  // the service goes away; the filesystem stays mounted
  }
  REQUIRE(berth::testing::mountsContaining(fixture.dir.path()).size() == 1);
  Pool& pool = fixture.open();
  CHECK(berth::testing::mountsContaining(fixture.dir.path()).size() == 1);
  CHECK(berth::testing::loopDevicesBackedBy(fixture.dir.path()).size() == 1);
  CHECK(readText(pool.upperDir("c1") + "/data") == "kept");
  auto limit = pool.limit("c1");
  REQUIRE(limit);
  CHECK(*limit == std::optional<uint64_t>(32 * kMiB));
}

TEST_CASE("pool: after a host boot (nothing mounted, no loop device) open re-attaches the image", "[storage][pool]") {
  PoolFixture fixture;
  {
    Pool& pool = fixture.open();
    REQUIRE_OK(pool.createLayer("c1"));
    REQUIRE_OK(pool.setLimit("c1", 16 * kMiB));
    writeText(pool.upperDir("c1") + "/data", "survives");
    REQUIRE_OK(pool.snapshot("c1", "s1"));
    fixture.close();
  }
  REQUIRE(fixture.leftovers().empty());
  Pool& pool = fixture.open();
  CHECK(readText(pool.upperDir("c1") + "/data") == "survives");
  CHECK(pool.hasSnapshot("c1", "s1"));
  // The limit is in the filesystem, so it holds after the boot too.
  auto outcome = writeDirect(pool.upperDir("c1") + "/big", 64 * kMiB);
  CHECK(outcome.err != 0);
  CHECK(outcome.written < 17 * kMiB);
}

TEST_CASE("pool: open refuses a mount point holding another filesystem", "[storage][pool]") {
  PoolFixture fixture;
  REQUIRE_OK(makeDirs(fixture.options.dir + "/pool"));
  REQUIRE(::mount("tmpfs", (fixture.options.dir + "/pool").c_str(), "tmpfs", 0, "size=1m") == 0);
  auto opened = Pool::open(fixture.options);
  ::umount2((fixture.options.dir + "/pool").c_str(), 0);
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code == Errc::state_conflict);
}

TEST_CASE("pool: ids are checked, create twice is already_exists, destroying an absent layer is fine", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  for (const char* bad : {"", ".hidden", "a/b", "..", "x y"}) {
    auto made = pool.createLayer(bad);
    REQUIRE_FALSE(made);
    CHECK(made.error().code == Errc::invalid_argument);
  }
  REQUIRE_OK(pool.createLayer("c1"));
  auto again = pool.createLayer("c1");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::already_exists);
  REQUIRE_OK(pool.destroyLayer("nothing-here"));
  auto limit = pool.setLimit("nothing-here", kMiB);
  REQUIRE_FALSE(limit);
  CHECK(limit.error().code == Errc::not_found);
  REQUIRE_OK(pool.destroyLayer("c1"));
  CHECK_FALSE(pool.hasLayer("c1"));
}

TEST_CASE("pool: the limit stops writes, raising it live lets more in, usage follows", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  REQUIRE_OK(pool.createLayer("c1"));
  REQUIRE_OK(pool.setLimit("c1", 32 * kMiB));
  auto usage0 = pool.usage("c1");
  REQUIRE(usage0);
  CHECK(*usage0 < kMiB);

  auto below = writeDirect(pool.upperDir("c1") + "/a", 16 * kMiB);
  CHECK(below.err == 0);
  auto usage1 = pool.usage("c1");
  REQUIRE(usage1);
  CHECK(*usage1 >= 16 * kMiB);
  CHECK(*usage1 < 17 * kMiB);

  auto past = writeDirect(pool.upperDir("c1") + "/b", 64 * kMiB);
  WARN("write past a 32 MiB limit stopped after " << past.written / kMiB << " MiB more with " << std::strerror(past.err));
  CHECK((past.err == EDQUOT || past.err == ENOSPC));
  CHECK(past.written >= 14 * kMiB);
  CHECK(past.written <= 16 * kMiB);
  auto usage2 = pool.usage("c1");
  REQUIRE(usage2);
  CHECK(*usage2 <= 32 * kMiB);
  CHECK(*usage2 >= 30 * kMiB);

  REQUIRE_OK(pool.setLimit("c1", 64 * kMiB));
  auto more = writeDirect(pool.upperDir("c1") + "/c", 16 * kMiB);
  CHECK(more.err == 0);
  auto usage3 = pool.usage("c1");
  REQUIRE(usage3);
  CHECK(*usage3 >= *usage2 + 16 * kMiB);

  REQUIRE_OK(pool.setLimit("c1", std::nullopt));
  auto limit = pool.limit("c1");
  REQUIRE(limit);
  CHECK_FALSE(limit->has_value());
  auto unlimited = writeDirect(pool.upperDir("c1") + "/d", 64 * kMiB);
  CHECK(unlimited.err == 0);

  // Buffered writes hit the limit too: btrfs reserves quota at write(2), not at writeback.
  REQUIRE_OK(pool.createLayer("c2"));
  REQUIRE_OK(pool.setLimit("c2", 8 * kMiB));
  int fd = ::open((pool.upperDir("c2") + "/buffered").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  std::string block(kMiB, 'b');
  uint64_t written = 0;
  int err = 0;
  for (int i = 0; i < 32; ++i) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n < 0) {
      err = errno;
      break;
    }
    written += static_cast<uint64_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  WARN("buffered write past an 8 MiB limit stopped after " << written / kMiB << " MiB with " << std::strerror(err));
  CHECK(err != 0);
  CHECK(written <= 8 * kMiB);
}

TEST_CASE("pool: snapshot and restore round-trip a whole upper tree", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  REQUIRE_OK(pool.createLayer("c1"));
  REQUIRE_OK(pool.setLimit("c1", 64 * kMiB));
  std::string upper = pool.upperDir("c1");
  populate(upper);
  auto before = listTree(upper);
  REQUIRE(before.size() >= 14);
  auto size = pool.snapshot("c1", "s1");
  REQUIRE(size);
  CHECK(*size > 10000);
  auto again = pool.snapshot("c1", "s1");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::already_exists);

  // The container goes on: adds, removes, changes.
  writeText(upper + "/added-later", "new");
  REQUIRE(::unlink((upper + "/secret").c_str()) == 0);
  REQUIRE(::unlink((upper + "/removed-file").c_str()) == 0);
  writeText(upper + "/etc/hostname", "changed\n");
  REQUIRE(::chmod((upper + "/setuid").c_str(), 0644) == 0);
  REQUIRE(::lremovexattr((upper + "/opaque").c_str(), "trusted.overlay.opaque") == 0);
  REQUIRE_OK(removeTree(upper + "/etc/conf.d"));
  REQUIRE(listTree(upper) != before);

  REQUIRE_OK(pool.restore("c1", "s1"));
  auto after = listTree(pool.upperDir("c1"));
  CHECK(after == before);
  CHECK_FALSE(pathExists(upper + "/added-later"));
  CHECK(readText(upper + "/secret") == "s");
  CHECK(readText(upper + "/etc/hostname") == "box\n");
  CHECK(pathExists(pool.workDir("c1")));
  // The limit came along to the new subvolume; the snapshot is still there; no temporaries.
  auto limit = pool.limit("c1");
  REQUIRE(limit);
  CHECK(*limit == std::optional<uint64_t>(64 * kMiB));
  CHECK(pool.hasSnapshot("c1", "s1"));
  CHECK(layerDirEntries(pool) == std::vector<std::string>{"c1"});
  auto stillLimited = writeDirect(upper + "/big", 128 * kMiB);
  CHECK(stillLimited.err != 0);

  auto missing = pool.restore("c1", "nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  auto noLayer = pool.restore("c9", "s1");
  REQUIRE_FALSE(noLayer);
  CHECK(noLayer.error().code == Errc::not_found);
}

TEST_CASE("pool: a snapshot is not counted in the layer's usage or limit", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  REQUIRE_OK(pool.createLayer("c1"));
  REQUIRE_OK(pool.setLimit("c1", 64 * kMiB));
  REQUIRE(writeDirect(pool.upperDir("c1") + "/first", 40 * kMiB).err == 0);
  auto size = pool.snapshot("c1", "s1");
  REQUIRE(size);
  CHECK(*size >= 40 * kMiB);
  CHECK(*size < 41 * kMiB);
  REQUIRE(::unlink((pool.upperDir("c1") + "/first").c_str()) == 0);
  auto usage = pool.usage("c1");
  REQUIRE(usage);
  CHECK(*usage < kMiB);
  // 40 MiB more on top of the 40 the snapshot holds: 80 on disk, 40 in the layer's limit.
  auto second = writeDirect(pool.upperDir("c1") + "/second", 40 * kMiB);
  CHECK(second.err == 0);
  auto usage2 = pool.usage("c1");
  REQUIRE(usage2);
  CHECK(*usage2 >= 40 * kMiB);
  CHECK(*usage2 < 41 * kMiB);
}

TEST_CASE("pool: copyLayer makes an independent writable copy with no limit", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  REQUIRE_OK(pool.createLayer("a"));
  REQUIRE_OK(pool.setLimit("a", 8 * kMiB));
  writeText(pool.upperDir("a") + "/file", "from a");
  REQUIRE_OK(pool.copyLayer("a", "b"));
  CHECK(pool.hasLayer("b"));
  CHECK(readText(pool.upperDir("b") + "/file") == "from a");
  CHECK(pathExists(pool.workDir("b")));
  auto limit = pool.limit("b");
  REQUIRE(limit);
  CHECK_FALSE(limit->has_value());
  CHECK(writeDirect(pool.upperDir("b") + "/big", 32 * kMiB).err == 0);

  writeText(pool.upperDir("b") + "/file", "changed in b");
  CHECK(readText(pool.upperDir("a") + "/file") == "from a");
  writeText(pool.upperDir("a") + "/only-a", "a");
  CHECK_FALSE(pathExists(pool.upperDir("b") + "/only-a"));

  auto taken = pool.copyLayer("a", "b");
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == Errc::already_exists);
  auto absent = pool.copyLayer("zz", "c");
  REQUIRE_FALSE(absent);
  CHECK(absent.error().code == Errc::not_found);
  REQUIRE_OK(pool.destroyLayer("a"));
  CHECK(readText(pool.upperDir("b") + "/file") == "changed in b");
}

TEST_CASE("pool: deleteSnapshot and deleteSnapshots", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  REQUIRE_OK(pool.createLayer("c1"));
  auto absent = pool.deleteSnapshot("c1", "s1");
  REQUIRE_FALSE(absent);
  CHECK(absent.error().code == Errc::not_found);
  REQUIRE_OK(pool.snapshot("c1", "s1"));
  REQUIRE_OK(pool.snapshot("c1", "s2"));
  REQUIRE_OK(pool.deleteSnapshot("c1", "s1"));
  CHECK_FALSE(pool.hasSnapshot("c1", "s1"));
  CHECK(pool.hasSnapshot("c1", "s2"));
  auto gone = pool.deleteSnapshot("c1", "s1");
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == Errc::not_found);
  REQUIRE_OK(pool.snapshot("c1", "s3"));
  REQUIRE_OK(pool.deleteSnapshots("c1"));
  CHECK_FALSE(pool.hasSnapshot("c1", "s2"));
  CHECK_FALSE(pool.hasSnapshot("c1", "s3"));
  CHECK_FALSE(pathExists(pool.mountPoint() + "/snapshots/c1"));
  REQUIRE_OK(pool.deleteSnapshots("c1"));
  REQUIRE_OK(pool.deleteSnapshots("never-had-any"));
}

TEST_CASE("pool: destroyLayer gives the space back", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  syncPath(pool.mountPoint());
  uint64_t initial = freeBytes(pool.mountPoint());
  REQUIRE_OK(pool.createLayer("c1"));
  REQUIRE(writeDirect(pool.upperDir("c1") + "/big", 256 * kMiB).err == 0);
  syncPath(pool.mountPoint());
  uint64_t used = freeBytes(pool.mountPoint());
  REQUIRE(used + 250 * kMiB < initial);
  REQUIRE_OK(pool.destroyLayer("c1"));
  CHECK_FALSE(pool.hasLayer("c1"));
  // The cleaner thread frees a deleted subvolume's extents after the commit.
  auto start = std::chrono::steady_clock::now();
  uint64_t now = used;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    REQUIRE_OK(pool.sync());
    now = freeBytes(pool.mountPoint());
    if (now + 16 * kMiB >= initial) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  WARN("space of a destroyed 256 MiB layer back after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count() << " ms");
  CHECK(now + 16 * kMiB >= initial);
}

TEST_CASE("pool: open removes the temporary subvolume of an interrupted restore", "[storage][pool]") {
  PoolFixture fixture;
  Pool& pool = fixture.open();
  REQUIRE_OK(pool.createLayer("c1"));
  writeText(pool.upperDir("c1") + "/data", "old");
  // A crash after the writable snapshot was made, before the exchange.
  REQUIRE_OK(pool.copyLayer("c1", "tmp"));
  std::string layers = pool.mountPoint() + "/layers";
  REQUIRE(::rename((layers + "/tmp").c_str(), (layers + "/.restoring-c1").c_str()) == 0);
  fixture.pool.reset();
  Pool& reopened = fixture.open();
  CHECK_FALSE(pathExists(layers + "/.restoring-c1"));
  CHECK(readText(reopened.upperDir("c1") + "/data") == "old");
}
