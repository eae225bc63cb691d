// Restart policies: their names, and the backoff and decisions of
// runtime/restart_policy.hpp, as pure logic.
#include <catch2/catch.hpp>

#include "runtime/restart_policy.hpp"

using namespace berth;
using namespace berth::runtime;
using store::RestartMode;
using store::RestartPolicy;

TEST_CASE("restart policies: the names Docker uses round-trip, anything else is refused") {
  for (const char* name : {"no", "on-failure", "on-failure:1", "on-failure:3", "on-failure:1000000", "always",
                           "unless-stopped"}) {
    auto policy = store::parseRestartPolicy(name);
    REQUIRE(policy);
    CHECK(store::restartPolicyName(*policy) == name);
  }
  CHECK(store::parseRestartPolicy("on-failure:3")->mode == RestartMode::on_failure);
  CHECK(store::parseRestartPolicy("on-failure:3")->maxRetries == 3);
  CHECK(store::parseRestartPolicy("on-failure")->maxRetries == 0);
  CHECK(store::parseRestartPolicy("unless-stopped")->mode == RestartMode::unless_stopped);
  for (const char* bad : {"", "yes", "No", "always:3", "no:1", "unless-stopped:2", "on-failure:", "on-failure:0",
                          "on-failure:-1", "on-failure:+2", "on-failure:3x", "on-failure: 3", "on-failure:1000001",
                          "on-failure:99999999999", "on_failure", "on-failure:3:4"})
    CHECK_FALSE(store::parseRestartPolicy(bad));
}

TEST_CASE("restart backoff: 100 ms, doubling to 30 s, back to 100 ms after a run of 10 s") {
  std::vector<int64_t> waits;
  int64_t last = 0;
  for (int i = 0; i < 12; ++i) waits.push_back(last = nextRestartBackoffMs(last, 0));
  CHECK(waits == std::vector<int64_t>{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000});
  CHECK(nextRestartBackoffMs(3200, 9999) == 6400);
  CHECK(nextRestartBackoffMs(3200, 10000) == 100);
  CHECK(nextRestartBackoffMs(30000, 60000) == 100);
}

TEST_CASE("restart decisions: no never, on-failure on a failure up to its bound, always and unless-stopped on any exit") {
  RestartPolicy no;
  CHECK_FALSE(planRestart(no, 0, 0, true, 0));

  RestartPolicy onFailure{RestartMode::on_failure, 2};
  CHECK_FALSE(planRestart(onFailure, 0, 0, false, 0));  // exit code 0 is no failure
  auto first = planRestart(onFailure, 0, 0, true, 0);
  REQUIRE(first);
  CHECK(first->attempt == 1);
  CHECK(first->backoffMs == 100);
  auto second = planRestart(onFailure, 1, 100, true, 50);
  REQUIRE(second);
  CHECK(second->attempt == 2);
  CHECK(second->backoffMs == 200);
  CHECK_FALSE(planRestart(onFailure, 2, 200, true, 0));  // on-failure:2 stops after 2

  RestartPolicy unbounded{RestartMode::on_failure, 0};
  auto many = planRestart(unbounded, 5000, 30000, true, 0);
  REQUIRE(many);
  CHECK(many->attempt == 5001);
  CHECK(many->backoffMs == 30000);

  for (RestartMode mode : {RestartMode::always, RestartMode::unless_stopped}) {
    RestartPolicy policy{mode, 0};
    for (bool failed : {false, true}) {
      auto plan = planRestart(policy, 3, 800, failed, 20000);
      REQUIRE(plan);
      CHECK(plan->attempt == 4);
      CHECK(plan->backoffMs == 100);  // it ran long enough: the backoff starts over
    }
  }
}

TEST_CASE("restart at a service start: always even after a user's stop, unless-stopped only without one") {
  store::ContainerRecord record;
  record.status = store::ContainerStatus::stopped;
  record.startedAt = 1000;
  record.stoppedByUser = true;
  record.restartPolicy = {RestartMode::always, 0};
  CHECK(restartsAtServiceStart(record));
  record.restartPolicy = {RestartMode::unless_stopped, 0};
  CHECK_FALSE(restartsAtServiceStart(record));
  record.stoppedByUser = false;
  CHECK(restartsAtServiceStart(record));
  record.restartPolicy = {RestartMode::on_failure, 0};
  CHECK_FALSE(restartsAtServiceStart(record));
  record.restartPolicy = {};
  CHECK_FALSE(restartsAtServiceStart(record));

  record.restartPolicy = {RestartMode::always, 0};
  record.restartDueAt = 2000;  // pending: the scheduler's, not a second start
  CHECK_FALSE(restartsAtServiceStart(record));
  record.restartDueAt.reset();
  record.startedAt.reset();  // never ran
  CHECK_FALSE(restartsAtServiceStart(record));
  record.startedAt = 1000;
  for (auto status : {store::ContainerStatus::running, store::ContainerStatus::failed, store::ContainerStatus::expired}) {
    record.status = status;
    CHECK_FALSE(restartsAtServiceStart(record));
  }
}
