// importImage over archives built here byte by byte: rootfs tarballs (plain,
// gzip), every hostile entry, broken and oversized archives, OCI layouts
// (layers with whiteouts, digests, refs, platforms). After a failure nothing
// is left but what the test made.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "common/files.hpp"
#include "storage/image_import.hpp"
#include "storage/sha256.hpp"
#include "support/tar_builder.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::storage;
using berth::testing::TarBuilder;
using berth::testing::TarEntry;
using berth::testing::TempDir;

namespace {

// The body, handed out in chunks; counts how far it was read.
struct Source {
  std::string bytes;
  size_t chunk = 4096;
  size_t pos = 0;
  int calls = 0;
  ChunkReader reader() {
    return [this]() -> Result<std::string_view> {
      ++calls;
      std::string_view view(bytes);
      view = view.substr(pos, std::min(chunk, bytes.size() - pos));
      pos += view.size();
      return view;
    };
  }
};

Result<ImportedImage> importBytes(const std::string& bytes, const std::string& target, const std::string& ref = "",
                                  ImportLimits limits = {}) {
  Source source{bytes};
  return importImage(source.reader(), target, ref, limits);
}

std::vector<std::string> listDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = ::readdir(dir))
    if (std::string(entry->d_name) != "." && std::string(entry->d_name) != "..") names.push_back(entry->d_name);
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string readText(const std::string& path) {
  auto text = readFile(path);
  return text ? *text : "<missing>";
}

bool isSymlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::string sha256Of(const std::string& bytes) {
  Sha256 hash;
  hash.update(bytes);
  return hash.hexDigest();
}

// A scratch dir with an "outside" directory holding a sentinel, the place attacks aim at.
struct Scratch {
  TempDir dir{"berth-import"};
  std::string target = dir.sub("img");
  std::string outside = dir.sub("outside");
  Scratch() {
    REQUIRE(makeDirs(outside));
    REQUIRE(writeFileFast(outside + "/sentinel", "untouched"));
  }
  // After a failure: no image, no work dir, the outside as it was.
  void requireNothingLeft() const {
    CHECK(listDir(dir.path()) == std::vector<std::string>{"outside"});
    CHECK(listDir(outside) == std::vector<std::string>{"sentinel"});
    CHECK(readText(outside + "/sentinel") == "untouched");
  }
};

// --- OCI layout by hand ---------------------------------------------------

struct Blob {
  std::string content;
  std::string hex;
  std::string digest() const { return "sha256:" + hex; }
};

Blob blob(std::string content) {
  std::string hex = sha256Of(content);
  return {std::move(content), hex};
}

std::string descriptor(const std::string& mediaType, const Blob& b, const std::string& extra = "") {
  return R"({"mediaType":")" + mediaType + R"(","digest":")" + b.digest() + R"(","size":)" +
         std::to_string(b.content.size()) + extra + "}";
}

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kIndexType = "application/vnd.oci.image.index.v1+json";
constexpr const char* kLayerTar = "application/vnd.oci.image.layer.v1.tar";
constexpr const char* kLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

Blob configBlob() {
  return blob(R"({"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],)"
              R"("Env":["PATH=/usr/bin:/bin","A=b"],"WorkingDir":"/srv","User":"1000:1000"},)"
              R"("rootfs":{"type":"layers","diff_ids":[]}})");
}

Blob manifestBlob(const Blob& config, const std::vector<std::pair<Blob, std::string>>& layers) {
  std::string json = R"({"schemaVersion":2,"mediaType":")" + std::string(kManifestType) + R"(","config":)" +
                     descriptor("application/vnd.oci.image.config.v1+json", config) + R"(,"layers":[)";
  for (size_t i = 0; i < layers.size(); ++i) json += (i ? "," : "") + descriptor(layers[i].second, layers[i].first);
  return blob(json + "]}");
}

std::string refAnnotation(const std::string& ref) {
  return R"(,"annotations":{"org.opencontainers.image.ref.name":")" + ref + R"("})";
}

std::string indexOf(const std::vector<std::string>& descriptors) {
  std::string json = R"({"schemaVersion":2,"mediaType":")" + std::string(kIndexType) + R"(","manifests":[)";
  for (size_t i = 0; i < descriptors.size(); ++i) json += (i ? "," : "") + descriptors[i];
  return json + "]}";
}

// The layout as a tar: index.json first or last (it may come anywhere).
std::string layoutTar(const std::vector<Blob>& blobs, const std::string& index, bool indexFirst = false) {
  TarBuilder tar;
  if (indexFirst) tar.file("index.json", index);
  tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})").dir("blobs").dir("blobs/sha256");
  for (const Blob& b : blobs) tar.file("blobs/sha256/" + b.hex, b.content);
  if (!indexFirst) tar.file("index.json", index);
  return tar.finish();
}

Blob layerOne() {
  return blob(TarBuilder()
                  .dir("etc")
                  .file("etc/a", "gone later")
                  .file("etc/b", "stays")
                  .dir("d")
                  .file("d/old1", "1")
                  .dir("d/sub")
                  .file("d/sub/old2", "2")
                  .dir("keep")
                  .file("keep/x", "x")
                  .symlink("keep/link", "/etc/b")
                  .finish());
}

Blob layerTwo() {
  return blob(testing::gzipBytes(TarBuilder()
                                     .file("etc/.wh.a", "")
                                     .file("d/new", "new")
                                     .file("d/.wh..wh..opq", "")
                                     .file("keep/x", "x2")
                                     .file("etc/.wh.never-was", "")
                                     .finish()));
}

}  // namespace

TEST_CASE("a rootfs tarball unpacks with modes, times, links, fifos and its digest") {
  Scratch scratch;
  std::string tar = TarBuilder()
                        .add({.path = "./", .type = '5', .mode = 0755})
                        .dir("bin")
                        .file("bin/tool", "#!/bin/sh\necho tool\n", 0755)
                        .add({.path = "etc/conf", .data = "k=v\n", .mode = 0640, .mtime = 1600000000})
                        .symlink("bin/alias", "tool")
                        .symlink("dangling", "/nowhere/at/all")
                        .hardlink("bin/tool2", "bin/tool")
                        .add({.path = "run/pipe", .type = '6', .mode = 0620})
                        .add({.path = std::string(120, 'n') + "/deep", .data = "long name"})
                        .finish();
  auto image = importBytes(tar, scratch.target);
  REQUIRE(image);
  CHECK(image->source == "rootfs-tar");
  CHECK(image->digest == "sha256:" + sha256Of(tar));
  CHECK(image->config.command.empty());
  // tool once (its hard link shares the inode), conf, the long-named file.
  CHECK(image->sizeBytes == 20 + 4 + 9);
  std::string root = scratch.target + "/rootfs";
  CHECK(listDir(scratch.target) == std::vector<std::string>{"image.json", "rootfs"});
  CHECK(!pathExists(scratch.target + ".importing"));
  CHECK(readText(root + "/bin/tool") == "#!/bin/sh\necho tool\n");
  struct stat st {};
  REQUIRE(::stat((root + "/etc/conf").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_mtime == 1600000000);
  REQUIRE(::stat((root + "/bin/tool").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(st.st_nlink == 2);
  char link[64] = {};
  CHECK(::readlink((root + "/bin/alias").c_str(), link, sizeof link - 1) == 4);
  CHECK(std::string(link) == "tool");
  CHECK(isSymlink(root + "/dangling"));
  REQUIRE(::lstat((root + "/run/pipe").c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK((st.st_mode & 07777) == 0620);
  CHECK(readText(root + "/" + std::string(120, 'n') + "/deep") == "long name");

  auto reread = readImportedImage(scratch.target);
  REQUIRE(reread);
  CHECK(reread->digest == image->digest);
  CHECK(reread->sizeBytes == image->sizeBytes);
  CHECK(reread->source == "rootfs-tar");
}

TEST_CASE("a gzip rootfs tarball unpacks; its digest is of the compressed bytes") {
  Scratch scratch;
  std::string gz = testing::gzipBytes(TarBuilder().file("hello", "world").finish());
  auto image = importBytes(gz, scratch.target);
  REQUIRE(image);
  CHECK(image->digest == "sha256:" + sha256Of(gz));
  CHECK(readText(scratch.target + "/rootfs/hello") == "world");
}

TEST_CASE("an existing target is refused and left alone") {
  Scratch scratch;
  REQUIRE(makeDirs(scratch.target));
  auto image = importBytes(TarBuilder().file("x", "y").finish(), scratch.target);
  REQUIRE(!image);
  CHECK(image.error().code == Errc::already_exists);
  CHECK(listDir(scratch.target).empty());
}

TEST_CASE("hostile entries never write outside the rootfs") {
  Scratch scratch;
  const std::string out = scratch.outside;

  SECTION("a '..' component refuses the import") {
    auto image = importBytes(TarBuilder().file("ok", "1").file("a/../../outside/evil", "x").finish(), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("'..'") != std::string::npos);
    scratch.requireNothingLeft();
  }
  SECTION("an absolute path lands beneath the rootfs") {
    auto image = importBytes(TarBuilder().file(out + "/abs", "inside").finish(), scratch.target);
    REQUIRE(image);
    CHECK(readText(scratch.target + "/rootfs" + out + "/abs") == "inside");
    CHECK(listDir(out) == std::vector<std::string>{"sentinel"});
  }
  SECTION("a file under a symlink to an outside directory is refused") {
    auto image = importBytes(TarBuilder().symlink("a", out).file("a/pwned", "x").finish(), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("symlink") != std::string::npos);
    scratch.requireNothingLeft();
  }
  SECTION("a relative symlink climbing out, then a file under it, is refused") {
    auto image = importBytes(TarBuilder().symlink("up", "../../outside").file("up/pwned", "x").finish(), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    scratch.requireNothingLeft();
  }
  SECTION("a directory entry over a symlink replaces the link, not the outside directory's mode") {
    struct stat before {};
    REQUIRE(::stat(out.c_str(), &before) == 0);
    auto image = importBytes(TarBuilder().symlink("d", out).dir("d", 0700).finish(), scratch.target);
    REQUIRE(image);
    struct stat after {};
    REQUIRE(::stat(out.c_str(), &after) == 0);
    CHECK(after.st_mode == before.st_mode);
    CHECK(!isSymlink(scratch.target + "/rootfs/d"));
  }
  SECTION("a file entry over a symlink replaces the link instead of writing through it") {
    auto image = importBytes(TarBuilder().symlink("f", out + "/sentinel").file("f", "mine").finish(), scratch.target);
    REQUIRE(image);
    CHECK(readText(out + "/sentinel") == "untouched");
    CHECK(!isSymlink(scratch.target + "/rootfs/f"));
    CHECK(readText(scratch.target + "/rootfs/f") == "mine");
  }
  SECTION("a hard link climbing out is refused") {
    auto image = importBytes(TarBuilder().hardlink("h", "../outside/sentinel").finish(), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    scratch.requireNothingLeft();
  }
  SECTION("an absolute hard link resolves beneath the rootfs, where its target does not exist") {
    auto image = importBytes(TarBuilder().hardlink("h", out + "/sentinel").finish(), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("did not create") != std::string::npos);
    scratch.requireNothingLeft();
  }
  SECTION("a hard link through a symlinked directory is refused") {
    auto image = importBytes(TarBuilder().symlink("l", out).hardlink("h", "l/sentinel").finish(), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("symlink") != std::string::npos);
    struct stat st {};
    REQUIRE(::stat((out + "/sentinel").c_str(), &st) == 0);
    CHECK(st.st_nlink == 1);
    scratch.requireNothingLeft();
  }
  SECTION("device nodes are skipped") {
    auto image = importBytes(TarBuilder()
                                 .add({.path = "dev/mem", .type = '3', .mode = 0666, .devMajor = 1, .devMinor = 1})
                                 .add({.path = "dev/sda", .type = '4', .mode = 0666, .devMajor = 8, .devMinor = 0})
                                 .file("dev/ok", "")
                                 .finish(),
                             scratch.target);
    REQUIRE(image);
    CHECK(listDir(scratch.target + "/rootfs/dev") == std::vector<std::string>{"ok"});
  }
  SECTION("setuid and setgid bits are dropped, sticky kept") {
    auto image = importBytes(
        TarBuilder().file("suid", "x", 04755).file("sgid", "x", 02755).dir("tmp", 01777).dir("g", 02775).finish(),
        scratch.target);
    REQUIRE(image);
    auto modeOf = [&](const char* name) {
      struct stat st {};
      REQUIRE(::lstat((scratch.target + "/rootfs/" + name).c_str(), &st) == 0);
      return st.st_mode & 07777;
    };
    CHECK(modeOf("suid") == 0755);
    CHECK(modeOf("sgid") == 0755);
    CHECK(modeOf("tmp") == 01777);
    CHECK(modeOf("g") == 0775);
  }
  SECTION("only user.* xattrs are kept") {
    auto image = importBytes(TarBuilder()
                                 .add({.path = "x",
                                       .data = "x",
                                       .xattrs = {{"user.note", "kept"},
                                                  {"security.capability", std::string("\x01\x00\x00\x02", 4)},
                                                  {"trusted.overlay.opaque", "y"}}})
                                 .finish(),
                             scratch.target);
    REQUIRE(image);
    std::string path = scratch.target + "/rootfs/x";
    char value[16] = {};
    ssize_t size = ::getxattr(path.c_str(), "user.note", value, sizeof value);
    if (size < 0 && errno == ENOTSUP) WARN("the filesystem keeps no user xattrs");
    else CHECK(std::string(value, size > 0 ? size : 0) == "kept");
    CHECK(::getxattr(path.c_str(), "security.capability", nullptr, 0) < 0);
    CHECK(::getxattr(path.c_str(), "trusted.overlay.opaque", nullptr, 0) < 0);
  }
}

TEST_CASE("broken archives are the client's fault and leave nothing") {
  Scratch scratch;
  std::string tar = TarBuilder().file("a", std::string(5000, 'a')).file("b", std::string(5000, 'b')).finish();

  SECTION("truncated") {
    auto image = importBytes(tar.substr(0, 3000), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
  }
  SECTION("corrupt gzip") {
    std::string gz = testing::gzipBytes(tar + std::string(20000, 'z'));
    for (size_t i = 40; i < gz.size() - 20; i += 7) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
    auto image = importBytes(gz, scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
  }
  SECTION("not a tar at all") {
    std::string junk(10000, '\0');
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919) % 251 + 1);
    auto image = importBytes(junk, scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
  }
  SECTION("empty body") {
    auto image = importBytes("", scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
  }
  SECTION("the reader's own failure comes back as it was") {
    int calls = 0;
    ChunkReader reader = [&]() -> Result<std::string_view> {
      if (calls++ == 0) return std::string_view(tar).substr(0, 1024);
      return fail(Errc::deadline_exceeded, "client went quiet");
    };
    auto image = importImage(reader, scratch.target, "", {});
    REQUIRE(!image);
    CHECK(image.error().code == Errc::deadline_exceeded);
  }
  scratch.requireNothingLeft();
}

TEST_CASE("an archive over the limit is stopped while streaming") {
  Scratch scratch;
  TarBuilder big;
  for (int i = 0; i < 40; ++i) big.file("f" + std::to_string(i), std::string(256 << 10, 'x'));
  Source source{big.finish(), 64 << 10};
  REQUIRE(source.bytes.size() > (8u << 20));
  auto image = importImage(source.reader(), scratch.target, "", {.maxArchiveBytes = 1 << 20});
  REQUIRE(!image);
  CHECK(image.error().code == Errc::resource_exhausted);
  CHECK(image.error().message.starts_with(kArchiveTooLarge));
  // 16 chunks fill the limit, the 17th passes it: not one more.
  CHECK(source.calls == 17);
  scratch.requireNothingLeft();
}

TEST_CASE("a gzip bomb stops at the unpacked limit") {
  Scratch scratch;
  std::string gz = testing::gzipBytes(TarBuilder().file("zeros", std::string(20 << 20, '\0')).finish());
  REQUIRE(gz.size() < (1u << 20));
  auto image = importBytes(gz, scratch.target, "", {.maxUnpackedBytes = 4 << 20});
  REQUIRE(!image);
  CHECK(image.error().code == Errc::resource_exhausted);
  CHECK(image.error().message.starts_with(kUnpackedTooLarge));
  scratch.requireNothingLeft();
}

TEST_CASE("an OCI layout applies its layers in order, with whiteouts and an opaque directory") {
  Scratch scratch;
  Blob config = configBlob(), one = layerOne(), two = layerTwo();
  Blob manifest = manifestBlob(config, {{one, kLayerTar}, {two, kLayerGzip}});
  bool indexFirst = GENERATE(false, true);
  std::string index = indexOf({descriptor(kManifestType, manifest, refAnnotation("latest"))});
  auto image = importBytes(layoutTar({config, one, two, manifest}, index, indexFirst), scratch.target);
  REQUIRE(image);
  CHECK(image->source == "oci-layout");
  CHECK(image->digest == manifest.digest());
  CHECK(image->config.command == std::vector<std::string>{"/bin/sh", "-c", "echo hi"});
  CHECK(image->config.env == std::vector<std::string>{"PATH=/usr/bin:/bin", "A=b"});
  CHECK(image->config.workingDir == "/srv");
  CHECK(image->config.user == "1000:1000");
  std::string root = scratch.target + "/rootfs";
  CHECK(listDir(scratch.target) == std::vector<std::string>{"image.json", "rootfs"});
  CHECK(listDir(root) == std::vector<std::string>{"d", "etc", "keep"});
  CHECK(listDir(root + "/etc") == std::vector<std::string>{"b"});
  CHECK(listDir(root + "/d") == std::vector<std::string>{"new"});
  CHECK(listDir(root + "/keep") == std::vector<std::string>{"link", "x"});
  CHECK(readText(root + "/keep/x") == "x2");
  CHECK(isSymlink(root + "/keep/link"));
  CHECK(image->sizeBytes == 5 + 3 + 2);
  auto reread = readImportedImage(scratch.target);
  REQUIRE(reread);
  CHECK(reread->config.command == image->config.command);
}

TEST_CASE("an OCI layout's blobs are verified") {
  Scratch scratch;
  Blob config = configBlob(), one = layerOne();
  Blob manifest = manifestBlob(config, {{one, kLayerTar}});
  std::string index = indexOf({descriptor(kManifestType, manifest)});

  SECTION("a blob whose content does not hash to its name") {
    Blob forged = one;
    forged.content[600] ^= 1;
    auto image = importBytes(layoutTar({config, forged, manifest}, index), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("does not match") != std::string::npos);
  }
  SECTION("a descriptor whose size is not the blob's") {
    std::string json = manifest.content;
    std::string size = "\"size\":" + std::to_string(one.content.size());
    json.replace(json.find(size), size.size(), "\"size\":" + std::to_string(one.content.size() + 1));
    Blob lying = blob(json);
    auto image = importBytes(layoutTar({config, one, lying}, indexOf({descriptor(kManifestType, lying)})), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("the descriptor says") != std::string::npos);
  }
  SECTION("a missing layer blob") {
    auto image = importBytes(layoutTar({config, manifest}, index), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("missing blob " + one.digest()) != std::string::npos);
  }
  SECTION("a blob that is a symlink counts as missing") {
    std::string tar = TarBuilder()
                          .file("oci-layout", "{}")
                          .file("index.json", index)
                          .file("blobs/sha256/" + config.hex, config.content)
                          .file("blobs/sha256/" + one.hex, one.content)
                          .symlink("blobs/sha256/" + manifest.hex, scratch.outside + "/sentinel")
                          .finish();
    auto image = importBytes(tar, scratch.target);
    REQUIRE(!image);
    CHECK(image.error().message.find("missing blob " + manifest.digest()) != std::string::npos);
  }
  SECTION("bad JSON in index.json") {
    auto image = importBytes(layoutTar({config, one, manifest}, "{\"manifests\": [ nope"), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("index is not valid JSON") != std::string::npos);
  }
  SECTION("an unknown layer media type") {
    Blob odd = manifestBlob(config, {{one, "application/x-mystery"}});
    auto image = importBytes(layoutTar({config, one, odd}, indexOf({descriptor(kManifestType, odd)})), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("application/x-mystery") != std::string::npos);
  }
  SECTION("a hostile layer is refused like a hostile tarball") {
    Blob evil = blob(TarBuilder().symlink("x", scratch.outside).file("x/pwned", "1").finish());
    Blob bad = manifestBlob(config, {{evil, kLayerTar}});
    auto image = importBytes(layoutTar({config, evil, bad}, indexOf({descriptor(kManifestType, bad)})), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
  }
  scratch.requireNothingLeft();
}

TEST_CASE("an index with several images is picked from by ref") {
  Scratch scratch;
  Blob config = configBlob();
  Blob first = blob(TarBuilder().file("which", "first").finish());
  Blob second = blob(TarBuilder().file("which", "second").finish());
  Blob m1 = manifestBlob(config, {{first, kLayerTar}}), m2 = manifestBlob(config, {{second, kLayerTar}});
  std::string index = indexOf({descriptor(kManifestType, m1, refAnnotation("v1")),
                               descriptor(kManifestType, m2, refAnnotation("v2"))});
  std::string tar = layoutTar({config, first, second, m1, m2}, index);

  SECTION("by ref") {
    auto image = importBytes(tar, scratch.target, "v2");
    REQUIRE(image);
    CHECK(image->digest == m2.digest());
    CHECK(readText(scratch.target + "/rootfs/which") == "second");
    return;
  }
  SECTION("no ref names the refs") {
    auto image = importBytes(tar, scratch.target, "");
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("'v1', 'v2'") != std::string::npos);
  }
  SECTION("an unknown ref names the refs") {
    auto image = importBytes(tar, scratch.target, "v3");
    REQUIRE(!image);
    CHECK(image.error().message.find("'v3'") != std::string::npos);
    CHECK(image.error().message.find("'v1', 'v2'") != std::string::npos);
  }
  scratch.requireNothingLeft();
}

TEST_CASE("a multi-platform index resolves to the host's platform") {
  Scratch scratch;
  Blob config = configBlob();
  Blob arm = blob(TarBuilder().file("arch", "arm64").finish());
  Blob amd = blob(TarBuilder().file("arch", "amd64").finish());
  Blob mArm = manifestBlob(config, {{arm, kLayerTar}}), mAmd = manifestBlob(config, {{amd, kLayerTar}});
  auto platform = [](const char* arch) { return std::string(R"(,"platform":{"os":"linux","architecture":")") + arch + "\"}"; };
  Blob nested = blob(indexOf({descriptor(kManifestType, mArm, platform("arm64")),
                              descriptor(kManifestType, mAmd, platform("amd64"))}));
  std::string index = indexOf({descriptor(kIndexType, nested, refAnnotation("multi"))});

  SECTION("the host's") {
    auto image = importBytes(layoutTar({config, arm, amd, mArm, mAmd, nested}, index), scratch.target);
    REQUIRE(image);
    CHECK(image->digest == mAmd.digest());
    CHECK(readText(scratch.target + "/rootfs/arch") == "amd64");
    return;
  }
  SECTION("none for the host") {
    Blob onlyArm = blob(indexOf({descriptor(kManifestType, mArm, platform("arm64"))}));
    auto image = importBytes(
        layoutTar({config, arm, mArm, onlyArm}, indexOf({descriptor(kIndexType, onlyArm)})), scratch.target);
    REQUIRE(!image);
    CHECK(image.error().code == Errc::invalid_argument);
    CHECK(image.error().message.find("no manifest for linux/amd64") != std::string::npos);
  }
  scratch.requireNothingLeft();
}
