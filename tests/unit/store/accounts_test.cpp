// Users, projects, memberships, revoked tokens and meta.
#include <catch2/catch.hpp>

#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {
UserRecord makeUser(const std::string& id, const std::string& username, UserRole role = UserRole::user) {
  UserRecord user;
  user.id = id;
  user.username = username;
  user.passwordHash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
  user.role = role;
  user.personalProjectId = "p-" + id;
  user.createdAt = 1736930000000;
  return user;
}
}  // namespace

TEST_CASE("users: round trip, lookups and username uniqueness") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto alice = makeUser("u1", "alice", UserRole::admin);
  auto guest = makeUser("u2", "guest-1", UserRole::guest);
  guest.banned = true;
  guest.guestExpiresAt = 1736939999000;
  REQUIRE(store->createUser(alice));
  REQUIRE(store->createUser(guest));

  CHECK(*store->getUser("u1") == alice);
  CHECK(*store->getUser("u2") == guest);
  CHECK(store->getUser("u3").error().code == Errc::not_found);
  auto byName = store->findUserByName("guest-1");
  REQUIRE(byName);
  REQUIRE(byName->has_value());
  CHECK(**byName == guest);
  CHECK_FALSE(store->findUserByName("bob")->has_value());
  auto all = store->listUsers();
  REQUIRE(all);
  CHECK(*all == std::vector<UserRecord>{alice, guest});

  auto taken = store->createUser(makeUser("u3", "alice"));
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == Errc::already_exists);
  CHECK(store->createUser(makeUser("u1", "carol")).error().code == Errc::already_exists);
  CHECK(store->getUser("u3").error().code == Errc::not_found);  // nothing half-written
  CHECK_FALSE(store->findUserByName("carol")->has_value());
  CHECK(store->createUser(makeUser("", "x")).error().code == Errc::invalid_argument);

  SECTION("update, including a rename") {
    alice.banned = true;
    alice.username = "alice2";
    REQUIRE(store->updateUser(alice));
    CHECK(*store->getUser("u1") == alice);
    CHECK_FALSE(store->findUserByName("alice")->has_value());
    CHECK((*store->findUserByName("alice2"))->id == "u1");
    REQUIRE(store->createUser(makeUser("u3", "alice")));  // the old name is free
  }
  SECTION("a rename to a taken name fails") {
    auto renamed = alice;
    renamed.username = "guest-1";
    CHECK(store->updateUser(renamed).error().code == Errc::already_exists);
    CHECK(*store->getUser("u1") == alice);
    CHECK((*store->findUserByName("guest-1"))->id == "u2");
  }
  SECTION("update of an unknown user") {
    CHECK(store->updateUser(makeUser("u9", "nobody")).error().code == Errc::not_found);
  }
  SECTION("delete frees the username and drops the memberships") {
    REQUIRE(store->putMembership({"p1", "u1", ProjectRole::owner}));
    REQUIRE(store->putMembership({"p2", "u1", ProjectRole::viewer}));
    REQUIRE(store->putMembership({"p1", "u2", ProjectRole::operator_}));
    REQUIRE(store->deleteUser("u1"));
    CHECK(store->getUser("u1").error().code == Errc::not_found);
    CHECK_FALSE(store->findUserByName("alice")->has_value());
    CHECK(store->membershipsOfUser("u1")->empty());
    CHECK_FALSE(store->getMembership("p1", "u1")->has_value());
    CHECK(*store->membershipsOfProject("p1") == std::vector<Membership>{{"p1", "u2", ProjectRole::operator_}});
    CHECK(store->membershipsOfProject("p2")->empty());
    CHECK(store->deleteUser("u1").error().code == Errc::not_found);
    REQUIRE(store->createUser(makeUser("u5", "alice")));
  }
}

TEST_CASE("projects: round trip, list and duplicates") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  ProjectRecord p1{"p1", "Alice", "u1", 1736930000000};
  ProjectRecord p2{"p2", "Shared", "u2", 1736930000001};
  REQUIRE(store->createProject(p2));
  REQUIRE(store->createProject(p1));
  CHECK(*store->getProject("p1") == p1);
  CHECK(store->getProject("p3").error().code == Errc::not_found);
  CHECK(*store->listProjects() == std::vector<ProjectRecord>{p1, p2});
  CHECK(store->createProject({"p1", "Again", "u3", 0}).error().code == Errc::already_exists);
  CHECK(*store->getProject("p1") == p1);
}

TEST_CASE("memberships: put, change, get, list both ways, remove") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  REQUIRE(store->putMembership({"p1", "u1", ProjectRole::viewer}));
  REQUIRE(store->putMembership({"p1", "u2", ProjectRole::owner}));
  REQUIRE(store->putMembership({"p2", "u1", ProjectRole::operator_}));
  // "p1x" shares a text prefix with "p1": the '\0' separator keeps them apart.
  REQUIRE(store->putMembership({"p1x", "u1", ProjectRole::viewer}));

  auto got = store->getMembership("p1", "u1");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->role == ProjectRole::viewer);
  REQUIRE(store->putMembership({"p1", "u1", ProjectRole::owner}));  // change of role
  CHECK((*store->getMembership("p1", "u1"))->role == ProjectRole::owner);
  CHECK_FALSE(store->getMembership("p3", "u1")->has_value());

  CHECK(*store->membershipsOfProject("p1") ==
        std::vector<Membership>{{"p1", "u1", ProjectRole::owner}, {"p1", "u2", ProjectRole::owner}});
  CHECK(*store->membershipsOfUser("u1") == std::vector<Membership>{{"p1", "u1", ProjectRole::owner},
                                                                    {"p1x", "u1", ProjectRole::viewer},
                                                                    {"p2", "u1", ProjectRole::operator_}});
  CHECK(store->membershipsOfUser("u9")->empty());

  REQUIRE(store->removeMembership("p1", "u1"));
  CHECK_FALSE(store->getMembership("p1", "u1")->has_value());
  CHECK(store->membershipsOfUser("u1")->size() == 2);
  CHECK(store->membershipsOfProject("p1")->size() == 1);
  CHECK(store->removeMembership("p1", "u1").error().code == Errc::not_found);
  CHECK(store->putMembership({"", "u1", ProjectRole::viewer}).error().code == Errc::invalid_argument);
  CHECK(store->putMembership({std::string("p\0q", 3), "u1", ProjectRole::viewer}).error().code ==
        Errc::invalid_argument);
}

TEST_CASE("revoked tokens: denylist with opportunistic purge of expired entries") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  UnixMillis now = nowMillis();
  CHECK_FALSE(*store->isTokenRevoked("jti-1"));
  REQUIRE(store->revokeToken("jti-1", now + 3600000));
  CHECK(*store->isTokenRevoked("jti-1"));
  CHECK_FALSE(*store->isTokenRevoked("jti-2"));

  // An already-expired entry is dropped by the next revocation.
  REQUIRE(store->revokeToken("old", now - 1000));
  CHECK(*store->isTokenRevoked("old"));
  REQUIRE(store->revokeToken("jti-2", now + 3600000));
  CHECK_FALSE(*store->isTokenRevoked("old"));
  CHECK(*store->isTokenRevoked("jti-1"));
  CHECK(*store->isTokenRevoked("jti-2"));

  // Revoking again with a later expiry keeps it past the first expiry.
  REQUIRE(store->revokeToken("again", now - 500));
  REQUIRE(store->revokeToken("again", now + 3600000));
  REQUIRE(store->revokeToken("trigger", now + 3600000));
  CHECK(*store->isTokenRevoked("again"));
  CHECK(store->revokeToken("", now).error().code == Errc::invalid_argument);

  store.reset();
  store = openStore(dir.sub("db"));
  CHECK(*store->isTokenRevoked("jti-1"));
}

TEST_CASE("meta: put and get; the store's own keys are reserved") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  CHECK_FALSE(store->getMeta("tier")->has_value());
  REQUIRE(store->putMeta("tier", "gold"));
  CHECK(**store->getMeta("tier") == "gold");
  REQUIRE(store->putMeta("tier", std::string("bin\0ary", 7)));
  CHECK(**store->getMeta("tier") == std::string("bin\0ary", 7));
  CHECK(**store->getMeta("schema_version") == std::to_string(kSchemaVersion));
  CHECK(store->putMeta("store.last_log_id", "x").error().code == Errc::invalid_argument);
  CHECK(store->putMeta("", "x").error().code == Errc::invalid_argument);
}
