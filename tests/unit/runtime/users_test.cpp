// `user` resolved against an image's /etc/passwd and /etc/group (API.md §14).
#include <catch2/catch.hpp>

#include "runtime/users.hpp"

using namespace berth;
using namespace berth::runtime;

namespace {

constexpr std::string_view kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "app:x:1000:1000:App:/home/app:/bin/sh\n"
    "svc:x:1001:50::/:/bin/false\n"
    "broken:x:nope:1\n";
constexpr std::string_view kGroup =
    "root:x:0:\n"
    "staff:x:50:app,svc\n"
    "app:x:1000:\n"
    "wheel:x:10:root,app\n"
    "big:x:70000:app\n";

store::ProcessUser resolved(const std::string& spec, uint32_t maxId = 0xfffffffeu) {
  auto user = resolveUser(spec, kPasswd, kGroup, maxId);
  if (!user) FAIL(user.error().describe());
  return *user;
}

}  // namespace

TEST_CASE("users: numbers, names, a group of one's own, the supplementary groups") {
  CHECK(resolved("0:0") == store::ProcessUser{"0:0", 0, 0, {10}});  // root is listed in wheel
  CHECK(resolved("1000") == store::ProcessUser{"1000", 1000, 1000, {50, 10, 70000}});
  CHECK(resolved("app") == store::ProcessUser{"app", 1000, 1000, {50, 10, 70000}});
  CHECK(resolved("app:staff") == store::ProcessUser{"app:staff", 1000, 50, {50, 10, 70000}});
  CHECK(resolved("svc:7") == store::ProcessUser{"svc:7", 1001, 7, {50}});
  // A uid the image does not name: gid 0 unless given, no supplementary groups.
  CHECK(resolved("4242") == store::ProcessUser{"4242", 4242, 0, {}});
  CHECK(resolved("4242:4343") == store::ProcessUser{"4242:4343", 4242, 4343, {}});
  // In a user namespace only the map's ids exist: a group above it is left out.
  CHECK(resolved("app", 65535).groups == std::vector<uint32_t>{50, 10});
}

TEST_CASE("users: refusals name `user`") {
  for (const std::string spec : {"nobody-here", "app:nogroup", ":1", "1:", "", "broken", "99999999999"}) {
    auto user = resolveUser(spec, kPasswd, kGroup, 0xfffffffeu);
    INFO(spec);
    REQUIRE_FALSE(user);
    CHECK(user.error().code == Errc::invalid_argument);
    CHECK(user.error().message.starts_with("user \""));
  }
  auto high = resolveUser("70000", kPasswd, kGroup, 65535);
  REQUIRE_FALSE(high);
  CHECK(high.error().message.find("0-65535") != std::string::npos);
  CHECK_FALSE(resolveUser("4294967295", kPasswd, kGroup, 0xfffffffeu));  // (uid_t)-1 is "no change"
  // No /etc files at all: numbers only.
  CHECK(resolveUser("12:34", "", "", 65535).value() == store::ProcessUser{"12:34", 12, 34, {}});
  CHECK_FALSE(resolveUser("app", "", "", 65535));
}

TEST_CASE("users: umask text and the host id ranges") {
  CHECK(formatUmask(022) == "0022");
  CHECK(formatUmask(0777) == "0777");
  CHECK(formatUmask(0) == "0000");
  const std::vector<uint32_t> ranges = idRangeCandidates();
  REQUIRE(ranges.size() == 4096);
  CHECK(ranges.front() == (1u << 28));
  for (size_t i = 1; i < ranges.size(); ++i) CHECK(ranges[i] == ranges[i - 1] + kIdMapSize);
  CHECK(maxContainerId(store::kUserNamespace) == 65535);
  CHECK(maxContainerId(store::kHostRoot) == 0xfffffffeu);
}
