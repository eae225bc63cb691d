// berth-oci's small rules: signal names as containerd and runtime-tools send
// them, container ids as runc takes them, a process's start time.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "oci/runtime.hpp"

namespace berth::oci {

TEST_CASE("signals come as numbers or names, with or without SIG") {
  CHECK(parseSignal("9").value() == SIGKILL);
  CHECK(parseSignal("TERM").value() == SIGTERM);
  CHECK(parseSignal("SIGTERM").value() == SIGTERM);
  CHECK(parseSignal("sigusr1").value() == SIGUSR1);
  CHECK_FALSE(parseSignal("0"));
  CHECK_FALSE(parseSignal("99"));
  CHECK_FALSE(parseSignal("NOPE"));
  CHECK_FALSE(parseSignal(""));
}

TEST_CASE("container ids as runc takes them") {
  CHECK(isValidContainerId("abc-1_2+3.4"));
  CHECK_FALSE(isValidContainerId(""));
  CHECK_FALSE(isValidContainerId(".hidden"));
  CHECK_FALSE(isValidContainerId("a/b"));
  CHECK_FALSE(isValidContainerId("../x"));
  CHECK_FALSE(isValidContainerId(std::string(1025, 'a')));
}

TEST_CASE("a process's start time is read from /proc, none for a pid that is gone") {
  auto self = processStartTime(::getpid());
  REQUIRE(self);
  CHECK(*self > 0);
  CHECK(processStartTime(::getpid()) == self);
  CHECK_FALSE(processStartTime(0x3fffffff));
}

}  // namespace berth::oci
