// Import throughput of storage/image_import: a ~200 MiB OCI layout made by
// umoci from random files (two layers; gzip as umoci writes them), and the
// same tree as a plain rootfs tarball, each streamed from a file in 1 MiB
// chunks into a fresh target, syncfs included.
//   build/bench/bench_storage_import [runs] [parent-dir] [MiB]   (default 3, /var/tmp, 200)
// Prints MiB/s of the archive as received and of the unpacked rootfs.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "storage/image_import.hpp"

using namespace berth;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::exit(1);
}

void run(const std::string& command) {
  if (std::system(command.c_str()) != 0) die("failed: " + command);
}

// Files of 64 KiB to 4 MiB of random bytes (incompressible: gzip can only store them).
void makeTree(const std::string& dir, uint64_t bytes, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> block((4u << 20) / 8);
  uint64_t written = 0;
  for (int i = 0; written < bytes; ++i) {
    std::string sub = dir + "/d" + std::to_string(i % 16);
    if (!makeDirs(sub)) die("mkdir " + sub);
    size_t size = std::min<uint64_t>(bytes - written, (64u << 10) << (rng() % 7));
    for (size_t w = 0; w < size / 8 + 1 && w < block.size(); ++w) block[w] = rng();
    std::ofstream(sub + "/f" + std::to_string(i), std::ios::binary).write(reinterpret_cast<const char*>(block.data()),
                                                                           static_cast<std::streamsize>(size));
    written += size;
  }
}

struct Run {
  double seconds;
  uint64_t archiveBytes;
  uint64_t unpackedBytes;
};

Run importFile(const std::string& archive, const std::string& target, const std::string& ref) {
  std::ifstream in(archive, std::ios::binary);
  std::string buffer(1 << 20, '\0');
  uint64_t total = 0;
  storage::ChunkReader reader = [&]() -> Result<std::string_view> {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    total += static_cast<uint64_t>(in.gcount());
    return std::string_view(buffer.data(), static_cast<size_t>(in.gcount()));
  };
  auto start = std::chrono::steady_clock::now();
  auto image = storage::importImage(reader, target, ref, {.maxArchiveBytes = 8ull << 30});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!image) die("import: " + image.error().describe());
  return {seconds, total, image->sizeBytes};
}

void report(const char* name, std::vector<Run> runs) {
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
  const Run& median = runs[runs.size() / 2];
  constexpr double kMiB = 1 << 20;
  std::printf("%-22s archive %7.1f MiB  unpacked %7.1f MiB  median %6.2f s  %7.1f MiB/s archive  %7.1f MiB/s unpacked"
              "  (best %.2f s)\n",
              name, median.archiveBytes / kMiB, median.unpackedBytes / kMiB, median.seconds,
              median.archiveBytes / kMiB / median.seconds, median.unpackedBytes / kMiB / median.seconds,
              runs.front().seconds);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 3;
  std::string parent = argc > 2 ? argv[2] : "/var/tmp";
  uint64_t mib = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 200;
  std::string pattern = parent + "/berth-bench-import-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp under " + parent);
  const std::string dir = pattern;

  std::printf("building a %llu MiB tree and its umoci layout in %s\n", static_cast<unsigned long long>(mib), dir.c_str());
  makeTree(dir + "/tree1", mib * 3 / 4 << 20, 1);
  makeTree(dir + "/tree2", mib / 4 << 20, 2);
  run("cd '" + dir + "' && umoci init --layout L && umoci new --image L:bench && umoci insert --image L:bench tree1 /data1"
      " >/dev/null && umoci insert --image L:bench tree2 /data2 >/dev/null && tar -C L -cf layout.tar . &&"
      " mkdir root && cp -r tree1 root/data1 && cp -r tree2 root/data2 && tar -C root -cf rootfs.tar .");

  std::vector<Run> layout, tarball;
  for (int i = 0; i < runs; ++i) {
    layout.push_back(importFile(dir + "/layout.tar", dir + "/img-l" + std::to_string(i), "bench"));
    tarball.push_back(importFile(dir + "/rootfs.tar", dir + "/img-t" + std::to_string(i), ""));
    // Removed between runs so every run writes to an equally full filesystem.
    if (!removeTree(dir + "/img-l" + std::to_string(i)) || !removeTree(dir + "/img-t" + std::to_string(i)))
      die("cleanup");
  }
  report("oci layout (gzip)", layout);
  report("rootfs tarball", tarball);
  if (!removeTree(dir)) die("remove " + dir);
  return 0;
}
