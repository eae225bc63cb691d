// The atomic writer of common/files: exact modes, replace or keep, no temp files left.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "common/files.hpp"
#include "support/test_support.hpp"

using namespace berth;

namespace {

unsigned modeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::vector<std::string> namesIn(const std::string& dir) {
  std::vector<std::string> names;
  DIR* listing = ::opendir(dir.c_str());
  REQUIRE(listing != nullptr);
  while (struct dirent* entry = ::readdir(listing)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(listing);
  return names;
}

// Sets the umask for one scope.
struct ScopedUmask {
  explicit ScopedUmask(mode_t mask) : previous(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous); }
  mode_t previous;
};

}  // namespace

TEST_CASE("writeFileAtomic gives the file exactly its mode, whatever the umask") {
  testing::TempDir dir{"berth-files"};
  {
    ScopedUmask mask(0277);  // would leave the owner unable to write
    REQUIRE(writeFileAtomic(dir.sub("secret"), "s3cret", 0600));
  }
  CHECK(modeOf(dir.sub("secret")) == 0600);
  {
    ScopedUmask mask(0);  // takes nothing away
    REQUIRE(writeFileAtomic(dir.sub("public"), "hello", 0644, Durability::processCrash));
  }
  CHECK(modeOf(dir.sub("public")) == 0644);
  CHECK(readFile(dir.sub("secret")).value() == "s3cret");
  CHECK(namesIn(dir.path()).size() == 2);  // no temp file left behind
}

TEST_CASE("writeFileAtomic replaces a file, or keeps it and says already_exists") {
  testing::TempDir dir{"berth-files"};
  const std::string path = dir.sub("jwt.secret");
  REQUIRE(writeFileAtomic(path, "first", 0600, Durability::hostCrash, IfExists::keep));
  auto again = writeFileAtomic(path, "second", 0600, Durability::hostCrash, IfExists::keep);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::already_exists);
  CHECK(readFile(path).value() == "first");

  REQUIRE(writeFileAtomic(path, "third", 0600));
  CHECK(readFile(path).value() == "third");
  CHECK(namesIn(dir.path()) == std::vector<std::string>{"jwt.secret"});

  // A dangling symlink where the file should be: kept means not followed either.
  REQUIRE(::symlink(dir.sub("elsewhere").c_str(), dir.sub("link").c_str()) == 0);
  auto refused = writeFileAtomic(dir.sub("link"), "x", 0600, Durability::hostCrash, IfExists::keep);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::already_exists);
  CHECK_FALSE(pathExists(dir.sub("elsewhere")));
}
