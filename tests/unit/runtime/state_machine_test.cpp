#include <catch2/catch.hpp>

#include "runtime/state_machine.hpp"

using namespace berth::runtime;
using berth::store::ContainerStatus;

namespace {
constexpr ContainerStatus kAll[] = {ContainerStatus::creating, ContainerStatus::running, ContainerStatus::paused,
                                    ContainerStatus::stopped,  ContainerStatus::failed,  ContainerStatus::copying,
                                    ContainerStatus::expired,  ContainerStatus::deleted};
constexpr Operation kOps[] = {Operation::start, Operation::stop,  Operation::force_stop,
                              Operation::restart, Operation::pause, Operation::resume};
}  // namespace

TEST_CASE("every operation from every status follows API.md section 4") {
  struct Expected {
    Operation op;
    std::vector<ContainerStatus> from;
    ContainerStatus to;
  };
  const std::vector<Expected> table{
      {Operation::start, {ContainerStatus::stopped, ContainerStatus::failed}, ContainerStatus::running},
      {Operation::stop, {ContainerStatus::running, ContainerStatus::paused}, ContainerStatus::stopped},
      {Operation::force_stop, {ContainerStatus::running, ContainerStatus::paused}, ContainerStatus::stopped},
      {Operation::restart, {ContainerStatus::running, ContainerStatus::stopped}, ContainerStatus::running},
      {Operation::pause, {ContainerStatus::running}, ContainerStatus::paused},
      {Operation::resume, {ContainerStatus::paused}, ContainerStatus::running},
  };
  for (const auto& row : table) {
    CHECK(resultOf(row.op) == row.to);
    for (ContainerStatus status : kAll) {
      bool expected = std::find(row.from.begin(), row.from.end(), status) != row.from.end();
      INFO(operationName(row.op) << " from " << berth::store::statusName(status));
      CHECK(isAllowed(row.op, status) == expected);
    }
  }
}

TEST_CASE("nothing is allowed from expired, deleted, creating or copying") {
  for (Operation op : kOps)
    for (ContainerStatus status :
         {ContainerStatus::expired, ContainerStatus::deleted, ContainerStatus::creating, ContainerStatus::copying})
      CHECK_FALSE(isAllowed(op, status));
}

TEST_CASE("operation names round-trip with the wire names") {
  for (Operation op : kOps) CHECK(parseOperation(operationName(op)) == op);
  CHECK(operationName(Operation::force_stop) == "force-stop");
  CHECK_FALSE(parseOperation("force_stop"));
  CHECK_FALSE(parseOperation("explode"));
  CHECK_FALSE(parseOperation(""));
}
