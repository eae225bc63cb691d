// The pure parts of the store: record encoding and paging arithmetic.
#include <catch2/catch.hpp>

#include <limits>

#include "store/codec.hpp"
#include "store/keys.hpp"
#include "store/paging.hpp"

using namespace berth;
using namespace berth::store;

namespace {

ContainerRecord fullContainer() {
  ContainerRecord r;
  r.id = "65000000000000000000002a";
  r.runtimeId = "abcdef012345";
  r.name = "web-1";
  r.projectId = "p1";
  r.ownerId = "u1";
  r.image = "busybox";
  r.command = {"/bin/sh", "-c", "echo \"hi\" && sleep 1"};
  r.env = {{"A", "1"}, {"EMPTY", ""}, {"UNICODE", "h\xc3\xa9"}};
  r.workingDir = "/srv";
  r.hostname = "web";
  r.status = ContainerStatus::running;
  r.exitCode = 137;
  r.exitSignal = "SIGKILL";
  r.oomKilled = true;
  r.pid = 4242;
  r.resources = {512, 1500, 64, 2048};
  r.networkMode = "bridge";
  r.networkIp = "10.88.0.2";
  r.autostart = false;
  r.createdAt = 1736937000123;
  r.updatedAt = 1736937000456;
  r.startedAt = 1736937000200;
  r.finishedAt = 1736937000300;
  r.expiresAt = 1736937999999;
  return r;
}

}  // namespace

TEST_CASE("codec: container records round-trip with and without optional fields") {
  auto full = fullContainer();
  auto bytes = codec::encode(full);
  REQUIRE(bytes);
  auto back = codec::decodeContainer(*bytes);
  REQUIRE(back);
  CHECK(*back == full);

  ContainerRecord minimal;
  minimal.id = "65000000000000000000002b";
  auto minimalBytes = codec::encode(minimal);
  REQUIRE(minimalBytes);
  CHECK(minimalBytes->find("\"exit_code\":null") != std::string::npos);  // absent optionals are null
  auto minimalBack = codec::decodeContainer(*minimalBytes);
  REQUIRE(minimalBack);
  CHECK(*minimalBack == minimal);
  CHECK_FALSE(minimalBack->exitCode.has_value());
  CHECK_FALSE(minimalBack->resources.memoryMb.has_value());
}

TEST_CASE("codec: a missing optional field reads as absent") {
  auto back = codec::decodeContainer(R"({"id":"65000000000000000000002a","status":"paused"})");
  REQUIRE(back);
  CHECK(back->status == ContainerStatus::paused);
  CHECK_FALSE(back->pid.has_value());
  CHECK(back->image == "busybox");  // defaults kept
}

TEST_CASE("codec: entries, users, projects and memberships round-trip") {
  StatusLogEntry entry;
  entry.id = "650000000000000000000001";
  entry.containerId = "65000000000000000000002a";
  entry.fromStatus = ContainerStatus::running;
  entry.toStatus = ContainerStatus::stopped;
  entry.transitionTime = 1736937000000;
  entry.createdAt = 1736937000004;
  entry.durationMs = 35;
  entry.triggeredBy = "system";
  entry.metadata = {"exit", 0, "SIGTERM", false, "exited"};
  auto entryBack = codec::decodeEntry(*codec::encode(entry));
  REQUIRE(entryBack);
  CHECK(*entryBack == entry);
  entry.metadata = {"stop", std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  entryBack = codec::decodeEntry(*codec::encode(entry));
  REQUIRE(entryBack);
  CHECK(*entryBack == entry);

  UserRecord user{"u1", "alice", "$argon2id$v=19$m=65536,t=2,p=1$abc$def", UserRole::guest, true, 1736937000000,
                  "p1", 1736930000000};
  auto userBack = codec::decodeUser(*codec::encode(user));
  REQUIRE(userBack);
  CHECK(*userBack == user);
  user.guestExpiresAt.reset();
  user.role = UserRole::admin;
  userBack = codec::decodeUser(*codec::encode(user));
  REQUIRE(userBack);
  CHECK(*userBack == user);

  ProjectRecord project{"p1", "Alice's project", "u1", 1736930000000};
  auto projectBack = codec::decodeProject(*codec::encode(project));
  REQUIRE(projectBack);
  CHECK(*projectBack == project);

  for (auto role : {ProjectRole::viewer, ProjectRole::operator_, ProjectRole::owner}) {
    Membership membership{"p1", "u1", role};
    auto membershipBack = codec::decodeMembership(*codec::encode(membership));
    REQUIRE(membershipBack);
    CHECK(*membershipBack == membership);
  }
}

TEST_CASE("codec: corrupt records are Errc::internal, never an exception") {
  for (std::string_view bad : {"", "not json", "[1,2]", "{\"id\":5,\"status\":\"running\"}",
                               "{\"id\":\"x\",\"status\":\"sleeping\"}", "{\"status\":\"running\"}",
                               "{\"id\":\"x\",\"status\":\"running\",\"pid\":\"many\"}",
                               "{\"id\":\"x\",\"status\":\"running\",\"resources\":7}"}) {
    auto decodedRecord = codec::decodeContainer(bad);
    REQUIRE_FALSE(decodedRecord);
    CHECK(decodedRecord.error().code == Errc::internal);
    CHECK(decodedRecord.error().message.find("corrupt container record") != std::string::npos);
  }
  CHECK(codec::decodeEntry("{\"id\":\"x\"}").error().code == Errc::internal);
  CHECK(codec::decodeUser("{\"id\":\"u\",\"username\":\"a\",\"role\":\"root\"}").error().code == Errc::internal);
  CHECK(codec::decodeMembership("{\"project_id\":\"p\",\"user_id\":\"u\",\"role\":\"boss\"}").error().code ==
        Errc::internal);
  CHECK(codec::decodeProject("{").error().code == Errc::internal);
}

TEST_CASE("codec: a string that is not UTF-8 is refused, not thrown") {
  auto record = fullContainer();
  record.env["BAD"] = "\xff\xfe";
  auto bytes = codec::encode(record);
  REQUIRE_FALSE(bytes);
  CHECK(bytes.error().code == Errc::invalid_argument);
}

TEST_CASE("paging: totals, windows and overflow") {
  using paging::paginate;
  using paging::window;
  CHECK(paginate(0, {1, 10}).totalPages == 0);
  CHECK(paginate(1, {1, 10}).totalPages == 1);
  CHECK(paginate(10, {1, 10}).totalPages == 1);
  CHECK(paginate(11, {1, 10}).totalPages == 2);
  CHECK(paginate(5, {1, std::numeric_limits<uint64_t>::max()}).totalPages == 1);

  CHECK_FALSE(window(0, {1, 10}));
  auto first = window(25, {1, 10});
  REQUIRE(first);
  CHECK((first->offset == 0 && first->count == 10));
  auto last = window(25, {3, 10});
  REQUIRE(last);
  CHECK((last->offset == 20 && last->count == 5));
  CHECK_FALSE(window(25, {4, 10}));
  CHECK_FALSE(window(30, {4, 10}));  // exactly at the end
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  CHECK_FALSE(window(25, {kMax, 100}));
  CHECK_FALSE(window(25, {uint64_t{1} << 63, uint64_t{1} << 62}));  // page*limit overflows
  CHECK_FALSE(window(kMax, {kMax, kMax}));
  auto all = window(25, {1, kMax});
  REQUIRE(all);
  CHECK(all->count == 25);

  CHECK(paging::check({0, 10}).error().code == Errc::invalid_argument);
  CHECK(paging::check({1, 0}).error().code == Errc::invalid_argument);
  CHECK(paging::check({kMax, kMax}));
}

TEST_CASE("keys: transition times sort numerically, negative first; prefixes succeed correctly") {
  CHECK(keys::timeKey(-1) < keys::timeKey(0));
  CHECK(keys::timeKey(0) < keys::timeKey(1));
  CHECK(keys::timeKey(255) < keys::timeKey(256));
  CHECK(keys::timeKey(std::numeric_limits<int64_t>::min()) < keys::timeKey(-1));
  CHECK(keys::readTimeKey(keys::timeKey(-123456789)) == -123456789);

  CHECK(keys::prefixSuccessor("ab") == std::optional<std::string>("ac"));
  CHECK(keys::prefixSuccessor(std::string("a\xff", 2)) == std::optional<std::string>("b"));
  CHECK_FALSE(keys::prefixSuccessor(std::string("\xff\xff", 2)));

  auto bin = keys::idToBin("65000000ffffffffffffffff");
  REQUIRE(bin);
  CHECK(bin->size() == 12);
  CHECK(keys::binToId(*bin) == "65000000ffffffffffffffff");
  CHECK_FALSE(keys::idToBin("65000000FFFFFFFFFFFFFFFF"));
  CHECK_FALSE(keys::idToBin("abc"));
  CHECK(keys::binToId(keys::entryIdBin(0x65000000, 7)) == makeObjectId(0x65000000, 7));

  // Status names sort as the API sorts them, whatever follows the name.
  std::string cid(12, '\0');
  std::string eidHigh(12, '\xff');
  std::string eidLow(12, '\0');
  CHECK(keys::logStatusKey(cid, keys::LogOrder::to, ContainerStatus::paused, eidHigh) < keys::logStatusKey(cid, keys::LogOrder::to, ContainerStatus::running, eidLow));
  CHECK(keys::logStatusKey(cid, keys::LogOrder::to, ContainerStatus::copying, eidHigh) < keys::logStatusKey(cid, keys::LogOrder::to, ContainerStatus::creating, eidLow));
}
