// libFuzzer target over storage/image_import.cpp: the input is the body of
// an import (the first byte picks the chunk size, the rest is the archive),
// into a fresh scratch directory holding an "outside" directory with a
// sentinel. The properties: never a crash, a hang, a sanitizer report or an
// exception; no error but invalid_argument or resource_exhausted (the host
// is fine, so a host_refused or internal would be a bug, except for a body
// that names something the filesystem refuses); nothing written outside the
// target: afterwards the scratch dir holds "outside" (unchanged) and, only on
// success, the image, and no work directory.
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/files.hpp"
#include "storage/image_import.hpp"

namespace {

using namespace berth;

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

std::vector<std::string> listDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = ::readdir(dir))
    if (std::string_view(entry->d_name) != "." && std::string_view(entry->d_name) != "..") names.push_back(entry->d_name);
  ::closedir(dir);
  return names;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64 * 37;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  char pattern[] = "/tmp/berth-fuzz-import-XXXXXX";
  require(::mkdtemp(pattern) != nullptr, "mkdtemp");
  const std::string scratch = pattern;
  const std::string outside = scratch + "/outside";
  require(makeDirs(outside).has_value(), "mkdir outside");
  require(writeFileFast(outside + "/sentinel", "untouched").has_value(), "write sentinel");

  size_t pos = 0;
  storage::ChunkReader reader = [&]() -> Result<std::string_view> {
    std::string_view piece = body.substr(pos, std::min(chunk, body.size() - pos));
    pos += piece.size();
    return piece;
  };
  auto image = storage::importImage(reader, scratch + "/img", "", {.maxArchiveBytes = 1 << 20, .maxUnpackedBytes = 8 << 20});
  if (!image) {
    Errc code = image.error().code;
    require(code == Errc::invalid_argument || code == Errc::resource_exhausted, image.error().describe().c_str());
  }

  std::vector<std::string> names = listDir(scratch);
  for (const std::string& name : names)
    require(name == "outside" || (image && name == "img"), "something beside the image in the scratch dir");
  require(listDir(outside) == std::vector<std::string>{"sentinel"}, "the outside dir changed");
  auto sentinel = readFile(outside + "/sentinel");
  require(sentinel && *sentinel == "untouched", "the sentinel changed");
  require(removeTree(scratch).has_value(), "remove scratch");
  return 0;
}
