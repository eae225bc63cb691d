#include "cmd/cli_output.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <regex>

namespace berth::cli {

namespace {

// Columns are counted in code points: names are ASCII, but commands and
// env values may hold UTF-8, and "…" is one column.
size_t displayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}

std::string cut(const std::string& text, size_t width) {
  if (displayWidth(text) <= width) return text;
  if (width == 0) return {};
  std::string out;
  size_t kept = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool starts = (c & 0xC0) != 0x80;
    if (starts && kept == width - 1) break;
    kept += starts;
    out += text[i];
  }
  return out + "…";
}

std::string plural(int64_t n, const char* unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

void emitYaml(const Json& value, int indent, std::string& out);

// A scalar on one line, quoted when YAML would otherwise read another type.
std::string yamlScalar(const Json& value) {
  if (!value.is_string()) return value.dump();
  const std::string& text = value.get_ref<const std::string&>();
  static const std::regex plainSafe(R"([A-Za-z_/][A-Za-z0-9_./@+-]*)");
  static const std::regex special(R"((true|false|yes|no|on|off|null|y|n|~))", std::regex::icase);
  if (std::regex_match(text, plainSafe) && !std::regex_match(text, special)) return text;
  return Json(text).dump();  // a JSON string is a valid double-quoted YAML scalar
}

bool isEmptyCollection(const Json& value) { return (value.is_object() || value.is_array()) && value.empty(); }

void emitYaml(const Json& value, int indent, std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      out += pad + yamlScalar(Json(key)) + ":";
      if (isEmptyCollection(item)) {
        out += item.is_object() ? " {}\n" : " []\n";
      } else if (item.is_object() || item.is_array()) {
        out += "\n";
        emitYaml(item, indent + 2, out);
      } else {
        out += " " + yamlScalar(item) + "\n";
      }
    }
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (isEmptyCollection(item)) {
        out += pad + (item.is_object() ? "- {}\n" : "- []\n");
      } else if (item.is_object() || item.is_array()) {
        // The first line of the nested block goes right after "- ".
        std::string nested;
        emitYaml(item, indent + 2, nested);
        out += pad + "- " + nested.substr(static_cast<size_t>(indent) + 2);
      } else {
        out += pad + "- " + yamlScalar(item) + "\n";
      }
    }
  } else {
    out += pad + yamlScalar(value) + "\n";
  }
}

}  // namespace

std::optional<Format> parseFormat(const std::string& text) {
  if (text == "table") return Format::table;
  if (text == "wide") return Format::wide;
  if (text == "json") return Format::json;
  if (text == "yaml") return Format::yaml;
  if (text == "name") return Format::name;
  return std::nullopt;
}

std::string renderTable(const std::vector<Column>& all, const std::vector<Json>& rows, bool wide,
                        std::optional<size_t> maxWidth) {
  std::vector<const Column*> columns;
  for (const Column& column : all)
    if (wide || !column.wideOnly) columns.push_back(&column);
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths;
  for (const Column* column : columns) widths.push_back(displayWidth(column->header));
  for (const Json& row : rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < columns.size(); ++c) {
      line.push_back(columns[c]->cell(row));
      widths[c] = std::max(widths[c], displayWidth(line.back()));
    }
    cells.push_back(std::move(line));
  }
  constexpr size_t kGap = 3;
  if (maxWidth && !columns.empty() && !wide) {
    auto total = [&] {
      size_t sum = kGap * (columns.size() - 1);
      for (size_t w : widths) sum += w;
      return sum;
    };
    // Narrow the widest shrinkable column by one until it fits or none can give more.
    while (total() > *maxWidth) {
      size_t widest = columns.size();
      for (size_t c = 0; c < columns.size(); ++c) {
        if (!columns[c]->shrinkable || widths[c] <= std::max<size_t>(displayWidth(columns[c]->header), 4)) continue;
        if (widest == columns.size() || widths[c] > widths[widest]) widest = c;
      }
      if (widest == columns.size()) break;
      --widths[widest];
    }
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& line) {
    std::string text;
    for (size_t c = 0; c < line.size(); ++c) {
      std::string cell = cut(line[c], widths[c]);
      text += cell;
      if (c + 1 < line.size()) text += std::string(widths[c] - displayWidth(cell) + kGap, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  std::vector<std::string> headers;
  for (const Column* column : columns) headers.push_back(column->header);
  emit(headers);
  for (const auto& line : cells) emit(line);
  return out;
}

std::optional<size_t> outputWidth() {
  winsize size{};
  if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
    return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS"); columns && *columns) {
    char* end = nullptr;
    unsigned long value = std::strtoul(columns, &end, 10);
    if (*end == '\0' && value > 0) return value;
  }
  return std::nullopt;
}

std::string relativeTime(const Json& isoTime, UnixMillis now) {
  if (!isoTime.is_string()) return "-";
  auto then = parseIsoMillis(isoTime.get<std::string>());
  if (!then) return "-";
  int64_t seconds = (now - *then) / 1000;
  bool future = seconds < 0;
  int64_t s = future ? -seconds : seconds;
  if (s < 1) return "just now";
  std::string amount;
  if (s < 60) amount = plural(s, "second");
  else if (s < 3600) amount = plural(s / 60, "minute");
  else if (s < 86400) amount = plural(s / 3600, "hour");
  else if (s < 14 * 86400) amount = plural(s / 86400, "day");
  else if (s < 60 * 86400) amount = plural(s / (7 * 86400), "week");
  else if (s < 365 * 86400) amount = plural(s / (30 * 86400), "month");
  else amount = plural(s / (365 * 86400), "year");
  return future ? "in " + amount : amount + " ago";
}

std::string humanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  if (unit == 0) std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  else std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string toYaml(const Json& value) {
  std::string out;
  if (isEmptyCollection(value)) return value.is_object() ? "{}\n" : "[]\n";
  emitYaml(value, 0, out);
  return out;
}

std::atomic<Progress*> Progress::current_{nullptr};

Progress::Progress(std::string label, std::function<std::string()> detail)
    : label_(std::move(label)), detail_(std::move(detail)) {
  if (!::isatty(STDOUT_FILENO) || !::isatty(STDERR_FILENO)) return;
  current_ = this;
  drawer_ = std::thread([this] {
    static constexpr const char* kFrames[] = {"|", "/", "-", "\\"};
    auto start = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    for (size_t frame = 0; !done_; ++frame) {
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::string extra = detail_ ? "  " + detail_() : std::string();
      std::fprintf(stderr, "\r\033[K%s %s %.0fs%s", kFrames[frame % 4], label_.c_str(), elapsed, extra.c_str());
      std::fflush(stderr);
      wake_.wait_for(lock, std::chrono::milliseconds(100));
    }
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  });
}

Progress::~Progress() {
  Progress* self = this;
  current_.compare_exchange_strong(self, nullptr);
  finish();
}

void Progress::finish() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  if (drawer_.joinable()) drawer_.join();
}

void Progress::endCurrent() {
  if (Progress* progress = current_.exchange(nullptr)) progress->finish();
}

}  // namespace berth::cli
