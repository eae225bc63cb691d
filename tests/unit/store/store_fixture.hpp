#pragma once
// Helpers shared by the store's unit tests.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"
#include "support/test_support.hpp"

namespace berth::store::testfix {

inline std::unique_ptr<Store> openStore(const std::string& dir, StoreOptions options = {.syncOnCommit = false}) {
  auto opened = Store::open(dir, options);
  if (!opened) FAIL("Store::open: " << opened.error().describe());
  return std::move(*opened);
}

// Deterministic, increasing container ids.
inline std::string containerId(uint64_t n) { return makeObjectId(0x65000000, n); }

inline ContainerRecord makeContainer(const std::string& id, const std::string& projectId, const std::string& name,
                                     ContainerStatus status = ContainerStatus::stopped) {
  ContainerRecord record;
  record.id = id;
  record.runtimeId = "abcdef012345";
  record.name = name;
  record.projectId = projectId;
  record.ownerId = "owner";
  record.status = status;
  record.createdAt = 1736937000000;
  record.updatedAt = 1736937000000;
  return record;
}

inline StatusLogEntry makeEntry(const ContainerRecord& record, ContainerStatus from, ContainerStatus to,
                                UnixMillis transitionTime, std::string operation = "start") {
  StatusLogEntry entry;
  entry.containerId = record.id;
  entry.fromStatus = from;
  entry.toStatus = to;
  entry.transitionTime = transitionTime;
  entry.durationMs = 7;
  entry.triggeredBy = "system";
  entry.metadata.operation = std::move(operation);
  return entry;
}

// Commits a transition of `record` to `to`, updating the record as the runtime would.
inline StatusLogEntry transition(Store& store, ContainerRecord& record, ContainerStatus to, UnixMillis transitionTime) {
  auto entry = makeEntry(record, record.status, to, transitionTime);
  record.status = to;
  auto written = store.commitTransition(record, entry);
  if (!written) FAIL("commitTransition: " << written.error().describe());
  return *written;
}

// API.md §5 order computed the obvious way: sort everything, ties by id.
inline std::vector<StatusLogEntry> bruteSorted(std::vector<StatusLogEntry> entries, LogSortBy by, SortOrder order) {
  auto key = [by](const StatusLogEntry& e) {
    switch (by) {
      case LogSortBy::transition_time: return std::make_tuple(e.transitionTime, std::string(), e.id);
      case LogSortBy::created_at: return std::make_tuple(e.createdAt, std::string(), e.id);
      case LogSortBy::to_status: return std::make_tuple(int64_t{0}, std::string(statusName(e.toStatus)), e.id);
      case LogSortBy::from_status: return std::make_tuple(int64_t{0}, std::string(statusName(e.fromStatus)), e.id);
    }
    return std::make_tuple(int64_t{0}, std::string(), e.id);
  };
  std::sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  if (order == SortOrder::desc) std::reverse(entries.begin(), entries.end());
  return entries;
}

inline std::vector<std::string> idsOf(const std::vector<StatusLogEntry>& entries) {
  std::vector<std::string> ids;
  for (const auto& e : entries) ids.push_back(e.id);
  return ids;
}

inline const char* sortName(LogSortBy by) {
  switch (by) {
    case LogSortBy::transition_time: return "transition_time";
    case LogSortBy::created_at: return "created_at";
    case LogSortBy::to_status: return "to_status";
    case LogSortBy::from_status: return "from_status";
  }
  return "?";
}

inline constexpr LogSortBy kAllSortKeys[] = {LogSortBy::transition_time, LogSortBy::created_at, LogSortBy::to_status,
                                             LogSortBy::from_status};
inline constexpr SortOrder kBothOrders[] = {SortOrder::asc, SortOrder::desc};

}  // namespace berth::store::testfix
