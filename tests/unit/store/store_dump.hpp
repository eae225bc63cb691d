#pragma once
// Everything a store holds of containers, status logs and events, as text,
// through the public Store API only, so the same code dumps a store of any
// schema (tests/unit/store/fixtures/make_schema1.sh compiles it against the
// previous release to write the fixture's expected dump).
#include <sstream>
#include <string>

#include "store/store.hpp"

namespace berth::store::dump {

inline std::string optionalText(const std::optional<int>& value) { return value ? std::to_string(*value) : "-"; }
inline std::string optionalText(const std::optional<std::string>& value) { return value ? *value : "-"; }
inline std::string optionalText(const std::optional<bool>& value) { return value ? (*value ? "true" : "false") : "-"; }

inline std::string entryLine(const StatusLogEntry& e) {
  std::ostringstream out;
  out << "entry " << e.id << " container=" << e.containerId << " " << statusName(e.fromStatus) << "->"
      << statusName(e.toStatus) << " time=" << e.transitionTime << " created=" << e.createdAt
      << " duration=" << e.durationMs << " by=" << e.triggeredBy << " op=" << e.metadata.operation
      << " exit=" << optionalText(e.metadata.exitCode) << " signal=" << optionalText(e.metadata.signal)
      << " oom=" << optionalText(e.metadata.oomKilled) << " reason=" << optionalText(e.metadata.reason);
  return out.str();
}

// The lines, or the first error met.
inline Result<std::string> everything(const Store& store) {
  std::ostringstream out;
  BERTH_TRY(auto containers, store.allContainers());
  for (const auto& c : containers) {
    out << "container " << c.id << " project=" << c.projectId << " name=" << c.name
        << " status=" << statusName(c.status) << " runtime=" << c.runtimeId << " exit=" << optionalText(c.exitCode)
        << " created=" << c.createdAt << " updated=" << c.updatedAt << "\n";
    const LogSortBy sorts[] = {LogSortBy::created_at, LogSortBy::transition_time, LogSortBy::to_status,
                               LogSortBy::from_status};
    const char* sortNames[] = {"created_at", "transition_time", "to_status", "from_status"};
    for (size_t s = 0; s < 4; ++s) {
      for (SortOrder order : {SortOrder::asc, SortOrder::desc}) {
        // Pages of 2 walk the index across page boundaries from both ends.
        out << "  logs " << sortNames[s] << (order == SortOrder::asc ? " asc" : " desc") << ":";
        uint64_t total = 0;
        for (uint64_t page = 1;; ++page) {
          LogQuery query;
          query.sortBy = sorts[s];
          query.order = order;
          query.page = {page, 2};
          BERTH_TRY(auto got, store.statusLogs(c.id, query));
          total = got.pagination.total;
          if (got.logs.empty()) break;
          for (const auto& e : got.logs) out << " " << e.id;
        }
        out << " (total " << total << ")\n";
      }
    }
  }
  BERTH_TRY(auto entries, store.logEntriesAfter("", 1u << 20));
  for (const auto& e : entries) out << entryLine(e) << "\n";
  BERTH_TRY(auto events, store.eventsAfter("", 1u << 20));
  for (const auto& e : events.events)
    out << "event " << e.id << " " << e.type << " container=" << e.containerId << " project=" << e.projectId
        << " time=" << e.time << " data=" << e.data << "\n";
  BERTH_TRY(auto last, store.lastEventId());
  out << "last event " << (last ? *last : "-") << "\n";
  return out.str();
}

}  // namespace berth::store::dump
