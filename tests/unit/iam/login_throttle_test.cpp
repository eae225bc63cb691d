#include <catch2/catch.hpp>

#include "iam/login_throttle.hpp"

using namespace berth::iam;
using namespace std::chrono_literals;

TEST_CASE("failed logins lock a username out for a while; others and successes are unaffected") {
  LoginThrottle throttle({.failuresAllowed = 3, .window = 60s, .lockout = 30s, .maxTracked = 100});
  auto t0 = LoginThrottle::Clock::time_point{} + 1000s;
  for (int i = 0; i < 2; ++i) {
    CHECK_FALSE(throttle.retryAfter("alice", t0));
    throttle.recordFailure("alice", t0);
  }
  CHECK_FALSE(throttle.retryAfter("alice", t0));
  throttle.recordFailure("alice", t0 + 1s);
  REQUIRE(throttle.retryAfter("alice", t0 + 1s));
  CHECK(*throttle.retryAfter("alice", t0 + 1s) == 30s);
  CHECK(*throttle.retryAfter("alice", t0 + 20s) == 11s);
  CHECK_FALSE(throttle.retryAfter("alice", t0 + 31s));  // the lockout has passed
  CHECK_FALSE(throttle.retryAfter("bob", t0 + 1s));     // another name is not touched

  // A success forgets the failures.
  throttle.recordFailure("carol", t0);
  throttle.recordFailure("carol", t0);
  throttle.recordSuccess("carol");
  throttle.recordFailure("carol", t0);
  CHECK_FALSE(throttle.retryAfter("carol", t0));
}

TEST_CASE("failures spread wider than the window do not add up") {
  LoginThrottle throttle({.failuresAllowed = 3, .window = 10s, .lockout = 30s, .maxTracked = 100});
  auto t0 = LoginThrottle::Clock::time_point{} + 1000s;
  throttle.recordFailure("dave", t0);
  throttle.recordFailure("dave", t0 + 5s);
  throttle.recordFailure("dave", t0 + 20s);  // a new window
  CHECK_FALSE(throttle.retryAfter("dave", t0 + 20s));
}

TEST_CASE("the throttle tracks a bounded number of usernames, dropping the stalest") {
  LoginThrottle throttle({.failuresAllowed = 1, .window = 60s, .lockout = 60s, .maxTracked = 2});
  auto t0 = LoginThrottle::Clock::time_point{} + 1000s;
  throttle.recordFailure("first", t0);
  throttle.recordFailure("second", t0 + 1s);
  throttle.recordFailure("third", t0 + 2s);  // "first" makes room
  CHECK_FALSE(throttle.retryAfter("first", t0 + 3s));
  CHECK(throttle.retryAfter("second", t0 + 3s));
  CHECK(throttle.retryAfter("third", t0 + 3s));
}
