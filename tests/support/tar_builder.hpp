#pragma once
// Tar archives built byte by byte (ustar headers, pax records for long names
// and xattrs), so a test can make exactly the hostile entry it needs (`..`,
// absolute paths, links anywhere) that tar(1) or libarchive's writer would
// refuse or rewrite. Header-only: unit, kernel tests and benches use it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace berth::testing {

struct TarEntry {
  std::string path;
  char type = '0';  // '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo
  std::string data;
  std::string link;
  unsigned mode = 0644;
  unsigned uid = 0, gid = 0;
  int64_t mtime = 1700000000;
  std::map<std::string, std::string> xattrs;
  unsigned devMajor = 0, devMinor = 0;
};

class TarBuilder {
 public:
  TarBuilder& add(TarEntry entry) {
    if (entry.path.size() > 99 || entry.link.size() > 99 || !entry.xattrs.empty()) {
      std::string records;
      if (entry.path.size() > 99) records += record("path", entry.path);
      if (entry.link.size() > 99) records += record("linkpath", entry.link);
      for (const auto& [key, value] : entry.xattrs) records += record("SCHILY.xattr." + key, value);
      header("PaxHeader", 'x', records.size(), 0644, 0, 0, entry.mtime, "", 0, 0);
      pad(records);
    }
    header(entry.path.substr(0, 99), entry.type, entry.type == '0' ? entry.data.size() : 0, entry.mode, entry.uid,
           entry.gid, entry.mtime, entry.link.substr(0, 99), entry.devMajor, entry.devMinor);
    if (entry.type == '0') pad(entry.data);
    return *this;
  }
  TarBuilder& file(const std::string& path, const std::string& data, unsigned mode = 0644) {
    return add({.path = path, .type = '0', .data = data, .mode = mode});
  }
  TarBuilder& dir(const std::string& path, unsigned mode = 0755) { return add({.path = path, .type = '5', .mode = mode}); }
  TarBuilder& symlink(const std::string& path, const std::string& target) {
    return add({.path = path, .type = '2', .link = target, .mode = 0777});
  }
  TarBuilder& hardlink(const std::string& path, const std::string& target) {
    return add({.path = path, .type = '1', .link = target});
  }
  // The archive with its two zero end blocks.
  std::string finish() const { return bytes_ + std::string(1024, '\0'); }

 private:
  static std::string record(const std::string& key, const std::string& value) {
    std::string body = " " + key + "=" + value + "\n";
    size_t length = body.size() + 1;
    while (std::to_string(length).size() + body.size() != length) ++length;
    return std::to_string(length) + body;
  }
  static void octal(char* field, size_t width, uint64_t value) {
    // width-1 octal digits, zero-padded, then NUL.
    field[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0; value >>= 3) field[i] = static_cast<char>('0' + (value & 7));
  }
  void header(const std::string& name, char type, uint64_t size, unsigned mode, unsigned uid, unsigned gid,
              int64_t mtime, const std::string& link, unsigned devMajor, unsigned devMinor) {
    char block[512] = {};
    name.copy(block, 100);
    octal(block + 100, 8, mode);
    octal(block + 108, 8, uid);
    octal(block + 116, 8, gid);
    octal(block + 124, 12, size);
    octal(block + 136, 12, static_cast<uint64_t>(mtime));
    block[156] = type;
    link.copy(block + 157, 100);
    std::string("ustar").copy(block + 257, 6);
    block[263] = '0';
    block[264] = '0';
    octal(block + 329, 8, devMajor);
    octal(block + 337, 8, devMinor);
    std::fill(block + 148, block + 156, ' ');
    unsigned sum = 0;
    for (unsigned char c : block) sum += c;
    octal(block + 148, 7, sum);
    block[155] = ' ';
    bytes_.append(block, 512);
  }
  void pad(const std::string& data) {
    bytes_ += data;
    bytes_.append((512 - data.size() % 512) % 512, '\0');
  }
  std::string bytes_;
};

// gzip(1) over the bytes (-n: no name or time, so the output is reproducible).
inline std::string gzipBytes(const std::string& bytes) {
  char in[] = "/tmp/berth-gz-XXXXXX";
  int fd = ::mkstemp(in);
  if (fd < 0) throw std::runtime_error("mkstemp");
  ::close(fd);
  { std::ofstream(in, std::ios::binary) << bytes; }
  std::string command = std::string("gzip -n -f ") + in;
  if (std::system(command.c_str()) != 0) throw std::runtime_error("gzip failed");
  std::string out = std::string(in) + ".gz";
  std::ifstream file(out, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  ::unlink(out.c_str());
  return content.str();
}

}  // namespace berth::testing
