// Status-log paging and commit latency of the LMDB store.
//   build/bench/bench_store_status_logs [entries] [parent-dir]   (default 100000, /var/tmp)
// Fills one container's log with `entries` entries through commitTransition
// with syncOnCommit=false (the fill only: LMDB skips fsync, every entry is
// still its own write transaction), then times statusLogs for page 1, the
// middle page (5000 at limit 10 for 100k) and the last page for every sort
// key and order, and finally commitTransition with syncOnCommit=true (fsync
// per commit), the service's default. Prints medians and p99s.
#include <sys/statfs.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "bench/stats.hpp"
#include "common/files.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"

using namespace berth;
using namespace berth::store;

namespace {

using SteadyClock = std::chrono::steady_clock;

double microsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count();
}

using bench::Stats;
using bench::statsOf;

[[noreturn]] void die(const char* what, const Error& error) {
  std::fprintf(stderr, "%s: %s\n", what, error.describe().c_str());
  std::exit(1);
}

const char* sortName(LogSortBy by) {
  switch (by) {
    case LogSortBy::transition_time: return "transition_time";
    case LogSortBy::created_at: return "created_at";
    case LogSortBy::to_status: return "to_status";
    case LogSortBy::from_status: return "from_status";
  }
  return "?";
}

std::string filesystemOf(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return "?";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    default: return "fs 0x" + toHex(&fs.f_type, sizeof fs.f_type);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t entries = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const std::string parent = argc > 2 ? argv[2] : "/var/tmp";
  constexpr uint64_t kLimit = 10;
  constexpr int kReps = 300;
  constexpr int kCommits = 200;

  std::string scratch = parent + "/berth-bench-store-XXXXXX";
  if (::mkdtemp(scratch.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dbDir = scratch + "/db";
  std::printf("store at %s (%s), %llu entries for one container\n", dbDir.c_str(), filesystemOf(scratch).c_str(),
              static_cast<unsigned long long>(entries));

  ContainerRecord record;
  record.id = newObjectId();
  record.runtimeId = newRuntimeId();
  record.name = "bench";
  record.projectId = newObjectId();
  record.ownerId = newObjectId();
  record.command = {"/bin/sh", "-c", "sleep 1000"};
  record.status = ContainerStatus::stopped;
  record.createdAt = record.updatedAt = nowMillis();

  // --- fill (syncOnCommit=false) ---
  {
    auto opened = Store::open(dbDir, {.syncOnCommit = false});
    if (!opened) die("open", opened.error());
    auto& store = **opened;
    if (auto created = store.createContainer(record, std::nullopt); !created) die("createContainer", created.error());
    // A start/pause/resume/stop cycle; every 8th transition shares its time
    // with the one before (ties for the index to break by id).
    const ContainerStatus cycle[] = {ContainerStatus::running, ContainerStatus::paused, ContainerStatus::running,
                                     ContainerStatus::stopped, ContainerStatus::running, ContainerStatus::failed,
                                     ContainerStatus::stopped};
    UnixMillis t = 1736937000000;
    auto start = SteadyClock::now();
    for (uint64_t i = 0; i < entries; ++i) {
      StatusLogEntry entry;
      entry.containerId = record.id;
      entry.fromStatus = record.status;
      entry.toStatus = cycle[i % std::size(cycle)];
      if (i % 8 != 0) t += 1000;
      entry.transitionTime = t;
      entry.durationMs = 30;
      entry.triggeredBy = record.ownerId;
      entry.metadata.operation = entry.toStatus == ContainerStatus::running ? "start" : "stop";
      record.status = entry.toStatus;
      record.updatedAt = t;
      auto written = store.commitTransition(record, std::move(entry));
      if (!written) die("commitTransition", written.error());
    }
    double seconds = microsSince(start) / 1e6;
    std::printf("fill: %.2f s, %.0f commits/s (syncOnCommit=false, one transaction per entry)\n", seconds,
                static_cast<double>(entries) / seconds);
  }
  struct stat st {};
  if (::stat((dbDir + "/data.mdb").c_str(), &st) == 0)
    std::printf("data.mdb: %.1f MiB\n", static_cast<double>(st.st_size) / (1 << 20));

  // --- paging ---
  auto opened = Store::open(dbDir, {.syncOnCommit = true});
  if (!opened) die("open", opened.error());
  auto& store = **opened;
  const uint64_t lastPage = (entries + kLimit - 1) / kLimit;
  const uint64_t middlePage = std::max<uint64_t>(1, lastPage / 2);
  std::printf("\nstatusLogs, limit %llu, %d reps each, microseconds (median / p99)\n",
              static_cast<unsigned long long>(kLimit), kReps);
  std::printf("%-16s %-5s | %20s | %20s | %20s\n", "sort_by", "order", "page 1",
              ("page " + std::to_string(middlePage)).c_str(), ("page " + std::to_string(lastPage)).c_str());
  for (auto by : {LogSortBy::transition_time, LogSortBy::created_at, LogSortBy::to_status, LogSortBy::from_status}) {
    for (auto order : {SortOrder::asc, SortOrder::desc}) {
      Stats cells[3];
      uint64_t pages[3] = {1, middlePage, lastPage};
      for (int c = 0; c < 3; ++c) {
        std::vector<double> samples;
        for (int rep = -5; rep < kReps; ++rep) {  // 5 warm-up runs
          auto start = SteadyClock::now();
          auto page = store.statusLogs(record.id, {{pages[c], kLimit}, by, order});
          double took = microsSince(start);
          if (!page) die("statusLogs", page.error());
          if (page->logs.empty() || page->pagination.total != entries) {
            std::fprintf(stderr, "unexpected page %llu\n", static_cast<unsigned long long>(pages[c]));
            return 1;
          }
          if (rep >= 0) samples.push_back(took);
        }
        cells[c] = statsOf(samples);
      }
      std::printf("%-16s %-5s | %9.1f / %8.1f | %9.1f / %8.1f | %9.1f / %8.1f\n", sortName(by),
                  order == SortOrder::asc ? "asc" : "desc", cells[0].median, cells[0].p99, cells[1].median,
                  cells[1].p99, cells[2].median, cells[2].p99);
    }
  }

  // --- commit latency with fsync ---
  std::vector<double> commits;
  for (int i = 0; i < kCommits; ++i) {
    StatusLogEntry entry;
    entry.containerId = record.id;
    entry.fromStatus = record.status;
    entry.toStatus = record.status == ContainerStatus::running ? ContainerStatus::stopped : ContainerStatus::running;
    entry.transitionTime = nowMillis();
    entry.triggeredBy = "system";
    entry.metadata.operation = "bench";
    record.status = entry.toStatus;
    auto start = SteadyClock::now();
    auto written = store.commitTransition(record, std::move(entry));
    double took = microsSince(start);
    if (!written) die("commitTransition", written.error());
    commits.push_back(took);
  }
  auto commitStats = statsOf(commits);
  std::printf("\ncommitTransition, syncOnCommit=true, %d commits: median %.3f ms, p99 %.3f ms\n", kCommits,
              commitStats.median / 1000, commitStats.p99 / 1000);

  opened->reset();
  if (auto removed = removeTree(scratch); !removed) die("cleanup", removed.error());
  return 0;
}
