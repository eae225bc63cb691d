// What a commit of the store costs against the disk's floor, on one file system:
//   build/bench/bench_store_commit [iterations=200] [parent-dir=/var/tmp] [parallel=100]
// Rows (median and p99 in ms, pages = bytes handed to write(2) per commit / 4096):
//   - floor: a 4 KiB pwrite + fdatasync of one file, back to back and after 50 ms idle;
//   - one synced commit of the smallest write the store has (a meta key);
//   - a pause's commit (commitTransition with its entry and event, as the
//     runtime writes it), synced (back to back, and 0.2 s after the last, as
//     a settled pause finds the disk) and deferred (Sync::deferred);
//   - `parallel` threads committing one transition each at once, synced and
//     deferred: the wall time of all, and the transactions they took.
// A scratch store under parent-dir, removed at the end.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/stats.hpp"
#include "common/files.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"

using namespace berth;
using namespace berth::store;

namespace {

using SteadyClock = std::chrono::steady_clock;

double millisSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

using bench::Stats;
using bench::statsOf;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_store_commit: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T must(Result<T> result, const char* what) {
  if (!result) die(std::string(what) + ": " + result.error().describe());
  return std::move(*result);
}
void must(Result<void> result, const char* what) {
  if (!result) die(std::string(what) + ": " + result.error().describe());
}

// Bytes this process handed to write(2) and friends so far (/proc/self/io wchar).
uint64_t bytesWritten() {
  std::ifstream io("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value)
    if (key == "wchar:") return value;
  die("no wchar in /proc/self/io");
}

void row(const char* what, const Stats& stats, const std::string& extra = "") {
  std::printf("%-58s median %7.3f ms  p99 %7.3f ms%s\n", what, stats.median, stats.p99, extra.c_str());
}

ContainerRecord benchRecord(const std::string& id, int n) {
  ContainerRecord record;
  record.id = id;
  record.runtimeId = "0123456789ab";
  record.name = "bench-" + std::to_string(n);
  record.projectId = "p-bench";
  record.ownerId = "u-bench";
  record.command = {"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"};
  record.env = {{"PATH", "/usr/bin:/bin"}, {"HOME", "/root"}};
  record.status = ContainerStatus::running;
  record.pid = 4242;
  record.createdAt = record.updatedAt = 1764650000000;
  record.startedAt = 1764650000000;
  return record;
}

StatusLogEntry pauseEntry(const ContainerRecord& record, ContainerStatus from) {
  StatusLogEntry entry;
  entry.containerId = record.id;
  entry.fromStatus = from;
  entry.toStatus = record.status;
  entry.transitionTime = 1764650000000;
  entry.durationMs = 1;
  entry.triggeredBy = "u-bench";
  entry.metadata.operation = from == ContainerStatus::running ? "pause" : "resume";
  return entry;
}

std::vector<EventRecord> eventOf(const ContainerRecord& record, ContainerStatus from) {
  EventRecord event;
  event.type = record.status == ContainerStatus::paused ? "container_paused" : "container_resumed";
  event.data = R"({"id":")" + record.id + R"(","name":")" + record.name + R"(","status":")" +
               std::string(statusName(record.status)) + R"(","project_id":"p-bench","previous_status":")" +
               std::string(statusName(from)) + R"(","operation":"pause"})";
  return {event};
}

// Pause and resume of one container, alternating, `iterations` times, each
// after `idle` (a settled pause finds the disk idle: its sync costs more).
Stats pauseCommits(Store& store, ContainerRecord& record, int iterations, Sync sync, double* pages,
                   std::chrono::milliseconds idle = std::chrono::milliseconds(0)) {
  std::vector<double> samples;
  uint64_t bytesBefore = bytesWritten();
  for (int i = 0; i < iterations; ++i) {
    std::this_thread::sleep_for(idle);
    ContainerStatus from = record.status;
    record.status = from == ContainerStatus::running ? ContainerStatus::paused : ContainerStatus::running;
    auto start = SteadyClock::now();
    must(store.commitTransition(record, pauseEntry(record, from), eventOf(record, from), nullptr, sync), "commit");
    samples.push_back(millisSince(start));
  }
  *pages = static_cast<double>(bytesWritten() - bytesBefore) / 4096.0 / iterations;
  return statsOf(samples);
}

// `parallel` threads, one container each, all committing one transition at once.
void parallelCommits(Store& store, const std::vector<ContainerRecord>& records, Sync sync, const char* what) {
  std::vector<double> walls;
  uint64_t transactions = 0;
  constexpr int kRounds = 5;
  std::vector<ContainerRecord> current = records;
  for (int round = 0; round < kRounds; ++round) {
    std::barrier sync_point(static_cast<std::ptrdiff_t>(current.size() + 1));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (auto& record : current) {
      threads.emplace_back([&] {
        sync_point.arrive_and_wait();
        ContainerStatus from = record.status;
        record.status = from == ContainerStatus::running ? ContainerStatus::paused : ContainerStatus::running;
        if (!store.commitTransition(record, pauseEntry(record, from), eventOf(record, from), nullptr, sync)) ++failures;
      });
    }
    auto before = store.writeStats();
    auto start = SteadyClock::now();
    sync_point.arrive_and_wait();
    for (auto& t : threads) t.join();
    walls.push_back(millisSince(start));
    transactions += store.writeStats().transactions - before.transactions;
    if (failures != 0) die("a parallel commit failed");
  }
  char extra[96];
  std::snprintf(extra, sizeof extra, "  (%zu commits in %.1f transactions)", current.size(),
                static_cast<double>(transactions) / kRounds);
  row(what, statsOf(walls), extra);
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  std::string parent = argc > 2 ? argv[2] : "/var/tmp";
  int parallel = argc > 3 ? std::atoi(argv[3]) : 100;
  if (iterations < 1 || parallel < 1) die("iterations and parallel must be positive");
  char pattern[4096];
  std::snprintf(pattern, sizeof pattern, "%s/berth-bench-commit-XXXXXX", parent.c_str());
  if (::mkdtemp(pattern) == nullptr) die("mkdtemp under " + parent);
  std::string dir = pattern;

  {
    std::string path = dir + "/floor";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) die("open " + path);
    std::string page(4096, 'x');
    auto floorRow = [&](int n, std::chrono::milliseconds idle, const char* what) {
      std::vector<double> samples;
      for (int i = 0; i < n; ++i) {
        std::this_thread::sleep_for(idle);
        auto start = SteadyClock::now();
        if (::pwrite(fd, page.data(), page.size(), 4096 * (i % 16)) != 4096 || ::fdatasync(fd) != 0)
          die("pwrite/fdatasync " + path);
        samples.push_back(millisSince(start));
      }
      row(what, statsOf(samples));
    };
    floorRow(iterations, std::chrono::milliseconds(0), "floor: 4 KiB pwrite + fdatasync, back to back");
    floorRow(std::max(iterations / 10, 10), std::chrono::milliseconds(50), "floor: 4 KiB pwrite + fdatasync, after 50 ms idle");
    ::close(fd);
  }

  {
    auto store = must(Store::open(dir + "/db"), "open the store");
    std::vector<double> samples;
    uint64_t bytesBefore = bytesWritten();
    for (int i = 0; i < iterations; ++i) {
      auto start = SteadyClock::now();
      must(store->putMeta("bench", std::to_string(i)), "putMeta");
      samples.push_back(millisSince(start));
    }
    char extra[64];
    std::snprintf(extra, sizeof extra, "  %.1f pages", static_cast<double>(bytesWritten() - bytesBefore) / 4096.0 / iterations);
    row("one synced commit (the smallest write: one meta key)", statsOf(samples), extra);

    std::vector<ContainerRecord> records;
    for (int n = 0; n < std::max(parallel, 1); ++n) {
      records.push_back(benchRecord(makeObjectId(0x69000000, static_cast<uint64_t>(n + 1)), n));
      StatusLogEntry created;
      created.fromStatus = ContainerStatus::creating;
      created.toStatus = ContainerStatus::running;
      created.triggeredBy = "u-bench";
      created.metadata.operation = "create";
      must(store->createContainer(records.back(), created), "create");
    }
    double pages = 0;
    auto synced = pauseCommits(*store, records[0], iterations, Sync::now, &pages);
    char pagesText[64];
    std::snprintf(pagesText, sizeof pagesText, "  %.1f pages", pages);
    row("a pause's commit, synced (durability host)", synced, pagesText);
    auto settled = pauseCommits(*store, records[0], std::max(iterations / 5, 10), Sync::now, &pages,
                                std::chrono::milliseconds(200));
    std::snprintf(pagesText, sizeof pagesText, "  %.1f pages", pages);
    row("a pause's commit, synced, 0.2 s after the last", settled, pagesText);
    auto deferred = pauseCommits(*store, records[0], iterations, Sync::deferred, &pages);
    std::snprintf(pagesText, sizeof pagesText, "  %.1f pages", pages);
    row("a pause's commit, deferred (durability process)", deferred, pagesText);

    std::vector<ContainerRecord> many(records.begin(), records.begin() + parallel);
    char what[96];
    std::snprintf(what, sizeof what, "%d pause commits at once, synced: all done", parallel);
    parallelCommits(*store, many, Sync::now, what);
    std::snprintf(what, sizeof what, "%d pause commits at once, deferred: all done", parallel);
    parallelCommits(*store, many, Sync::deferred, what);
  }
  if (auto removed = removeTree(dir); !removed) die("remove " + dir + ": " + removed.error().describe());
  return 0;
}
