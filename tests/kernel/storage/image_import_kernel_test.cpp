// importImage as root: owners kept from the archive, device nodes skipped
// even though root could make them, and a real OCI layout written by umoci
// (two layers, the second removing a file) imported from its tar.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/files.hpp"
#include "storage/image_import.hpp"
#include "support/tar_builder.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::storage;
using berth::testing::TarBuilder;
using berth::testing::TempDir;

namespace {

// Streams a file from disk in 64 KiB chunks, as an HTTP body would arrive.
struct FileSource {
  std::ifstream in;
  std::string buffer = std::string(64 << 10, '\0');
  explicit FileSource(const std::string& path) : in(path, std::ios::binary) {}
  ChunkReader reader() {
    return [this]() -> Result<std::string_view> {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      return std::string_view(buffer.data(), static_cast<size_t>(in.gcount()));
    };
  }
};

struct StringSource {
  std::string bytes;
  bool done = false;
  ChunkReader reader() {
    return [this]() -> Result<std::string_view> {
      if (done) return std::string_view();
      done = true;
      return std::string_view(bytes);
    };
  }
};

}  // namespace

TEST_CASE("owners are kept; device nodes are skipped even as root") {
  TempDir dir("berth-import-root");
  StringSource source{TarBuilder()
                          .add({.path = "owned", .data = "x", .uid = 1234, .gid = 5678})
                          .add({.path = "odir", .type = '5', .mode = 0750, .uid = 42, .gid = 43})
                          .add({.path = "olink", .type = '2', .link = "owned", .uid = 7, .gid = 8})
                          .add({.path = "null", .type = '3', .mode = 0666, .devMajor = 1, .devMinor = 3})
                          .add({.path = "suid", .data = "x", .mode = 04755, .uid = 0, .gid = 0})
                          .finish()};
  auto image = importImage(source.reader(), dir.sub("img"), "", {});
  REQUIRE(image);
  std::string root = dir.sub("img") + "/rootfs";
  struct stat st {};
  REQUIRE(::lstat((root + "/owned").c_str(), &st) == 0);
  CHECK(st.st_uid == 1234);
  CHECK(st.st_gid == 5678);
  REQUIRE(::lstat((root + "/odir").c_str(), &st) == 0);
  CHECK(st.st_uid == 42);
  CHECK((st.st_mode & 07777) == 0750);
  REQUIRE(::lstat((root + "/olink").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(st.st_uid == 7);
  CHECK(!pathExists(root + "/null"));
  REQUIRE(::lstat((root + "/suid").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
}

TEST_CASE("a layout made by umoci imports with its layers and config") {
  if (std::system("command -v umoci >/dev/null") != 0) {
    WARN("umoci is not installed");
    return;
  }
  TempDir dir("berth-import-umoci");
  std::string script = "set -e; cd '" + dir.path() +
                       "'; umoci init --layout L; umoci new --image L:t;"
                       " umoci unpack --image L:t b1 >/dev/null;"
                       " echo hello > b1/rootfs/file; ln -s file b1/rootfs/link; echo bye > b1/rootfs/gone;"
                       " mkdir -p b1/rootfs/srv/app; echo app > b1/rootfs/srv/app/main;"
                       " umoci repack --image L:t b1; rm -rf b1;"
                       " umoci unpack --image L:t b2 >/dev/null; rm b2/rootfs/gone; echo two > b2/rootfs/second;"
                       " umoci repack --image L:t b2; rm -rf b2;"
                       " umoci config --image L:t --config.cmd /bin/app --config.cmd --serve"
                       " --config.env FOO=bar --config.workingdir /srv/app;"
                       " tar -C L -cf layout.tar .";
  REQUIRE(std::system(script.c_str()) == 0);
  FileSource source(dir.sub("layout.tar"));
  auto image = importImage(source.reader(), dir.sub("img"), "t", {});
  REQUIRE(image);
  CHECK(image->source == "oci-layout");
  CHECK(image->digest.starts_with("sha256:"));
  CHECK(image->config.command == std::vector<std::string>{"/bin/app", "--serve"});
  CHECK(std::find(image->config.env.begin(), image->config.env.end(), "FOO=bar") != image->config.env.end());
  CHECK(image->config.workingDir == "/srv/app");
  std::string root = dir.sub("img") + "/rootfs";
  CHECK(*readFile(root + "/file") == "hello\n");
  CHECK(*readFile(root + "/second") == "two\n");
  CHECK(*readFile(root + "/srv/app/main") == "app\n");
  char target[16] = {};
  CHECK(::readlink((root + "/link").c_str(), target, sizeof target - 1) == 4);
  CHECK(!pathExists(root + "/gone"));
  CHECK(!pathExists(root + "/.wh.gone"));
  CHECK(!pathExists(dir.sub("img.importing")));

  // umoci's tag is the ref; without one, a single image still imports.
  FileSource again(dir.sub("layout.tar"));
  auto unnamed = importImage(again.reader(), dir.sub("img2"), "", {});
  REQUIRE(unnamed);
  CHECK(unnamed->digest == image->digest);
}
