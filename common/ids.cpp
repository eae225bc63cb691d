#include "common/ids.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace berth {

void randomBytes(void* buf, size_t len) {
  auto* out = static_cast<unsigned char*>(buf);
  while (len > 0) {
    ssize_t n = ::getrandom(out, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no entropy source at all: ids would not be unique
    }
    out += n;
    len -= static_cast<size_t>(n);
  }
}

std::string toHex(const void* data, size_t len) {
  static constexpr char digits[] = "0123456789abcdef";
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::string out(len * 2, '0');
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  return out;
}

std::string makeObjectId(uint32_t unixSeconds, uint64_t low) {
  unsigned char bytes[12];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<unsigned char>(unixSeconds >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) bytes[4 + i] = static_cast<unsigned char>(low >> (56 - 8 * i));
  return toHex(bytes, sizeof bytes);
}

std::string newObjectId() {
  uint64_t low = 0;
  randomBytes(&low, sizeof low);
  return makeObjectId(static_cast<uint32_t>(::time(nullptr)), low);
}

std::string newRuntimeId() {
  unsigned char bytes[6];
  randomBytes(bytes, sizeof bytes);
  return toHex(bytes, sizeof bytes);
}

namespace {
bool isLowerHex(std::string_view text, size_t length) {
  if (text.size() != length) return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

bool isObjectId(std::string_view text) { return isLowerHex(text, 24); }
bool isRuntimeId(std::string_view text) { return isLowerHex(text, 12); }

bool isValidName(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace berth
