#pragma once
// How `berth` shows what the service answered (`-o table|wide|json|yaml|name`,
// `--quiet`), and the progress line of a long wait. Pure formatting: no
// requests are made here.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"

namespace berth::cli {

using Json = nlohmann::ordered_json;

enum class Format { table, wide, json, yaml, name };

// "table" (default), "wide", "json", "yaml" or "name"; nullopt for anything else.
std::optional<Format> parseFormat(const std::string& text);

struct Column {
  std::string header;
  std::function<std::string(const Json&)> cell;
  bool wideOnly = false;    // shown with -o wide only
  bool shrinkable = false;  // cut (with "…") when the table is wider than the terminal
};

// Rows under headers, each column as wide as its widest cell and columns
// three spaces apart. When `maxWidth` is set and the table is wider, the
// shrinkable columns are cut, widest first, down to their header's width.
std::string renderTable(const std::vector<Column>& columns, const std::vector<Json>& rows, bool wide,
                        std::optional<size_t> maxWidth);

// The terminal's width when stdout is one; else $COLUMNS when set; else nullopt (no cutting).
std::optional<size_t> outputWidth();

// "3 minutes ago", "in 2 hours", "just now"; "-" for null or an unreadable time.
std::string relativeTime(const Json& isoTime, UnixMillis now);
// 1536 -> "1.5 KiB"
std::string humanBytes(uint64_t bytes);

// Block-style YAML of a JSON value; strings that YAML would read as
// something else (numbers, true, null, "") are quoted, so it reads back equal.
std::string toYaml(const Json& value);

// A one-line spinner with the elapsed time (and `detail()` when given) on
// stderr, redrawn every 100 ms, while the object lives; only when stdout and
// stderr are terminals, never otherwise. The line is erased at the end.
class Progress {
 public:
  explicit Progress(std::string label, std::function<std::string()> detail = {});
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Erases the line of the progress being drawn, if any, for good (before
  // an error is printed and berth exits under it).
  static void endCurrent();

 private:
  void finish();

  static std::atomic<Progress*> current_;
  std::string label_;
  std::function<std::string()> detail_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread drawer_;
};

}  // namespace berth::cli
