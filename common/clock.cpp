#include "common/clock.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace berth {

UnixMillis nowMillis() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<UnixMillis>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonicMillis() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {
class SystemClock final : public Clock {
 public:
  UnixMillis now() const override { return nowMillis(); }
  int64_t monotonicMillis() const override { return berth::monotonicMillis(); }
  void waitUntil(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                 UnixMillis deadline) const override {
    wake.wait_until(lock, std::chrono::system_clock::time_point(std::chrono::milliseconds(deadline)));
  }
};
}  // namespace

const Clock& systemClock() {
  static const SystemClock clock;
  return clock;
}

std::string formatIsoMillis(UnixMillis millis) {
  time_t seconds = static_cast<time_t>(millis / 1000);
  int ms = static_cast<int>(millis % 1000);
  if (ms < 0) {
    ms += 1000;
    seconds -= 1;
  }
  tm parts{};
  ::gmtime_r(&seconds, &parts);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, ms);
  return buf;
}

namespace {
bool readDigits(std::string_view text, size_t& pos, size_t count, int& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (size_t i = 0; i < count; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += count;
  return true;
}
bool expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}
}  // namespace

Result<UnixMillis> parseIsoMillis(std::string_view text) {
  auto bad = [&] { return fail(Errc::invalid_argument, "not an ISO-8601 UTC time: " + std::string(text)); };
  size_t pos = 0;
  int year, month, day, hour, minute, second, millis = 0;
  if (!readDigits(text, pos, 4, year) || !expect(text, pos, '-') || !readDigits(text, pos, 2, month) ||
      !expect(text, pos, '-') || !readDigits(text, pos, 2, day) || !expect(text, pos, 'T') ||
      !readDigits(text, pos, 2, hour) || !expect(text, pos, ':') || !readDigits(text, pos, 2, minute) ||
      !expect(text, pos, ':') || !readDigits(text, pos, 2, second))
    return bad();
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    int scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  int offsetMinutes = 0;
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!readDigits(text, pos, 2, oh) || !expect(text, pos, ':') || !readDigits(text, pos, 2, om)) return bad();
    offsetMinutes = sign * (oh * 60 + om);
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return bad();
  tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  time_t seconds = ::timegm(&parts);
  if (parts.tm_mday != day) return bad();  // timegm normalised an impossible date like 02-31
  return (static_cast<UnixMillis>(seconds) - offsetMinutes * 60) * 1000 + millis;
}

}  // namespace berth
