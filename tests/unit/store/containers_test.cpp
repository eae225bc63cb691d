// Containers in the store: round trips, the names index, listing and filters.
#include <catch2/catch.hpp>

#include <set>

#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

TEST_CASE("containers: a full record and a minimal one round-trip through the store") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));

  auto full = makeContainer(containerId(1), "p1", "web");
  full.command = {"/bin/sh", "-c", "sleep 1000"};
  full.env = {{"A", "1"}, {"B", "two words"}};
  full.workingDir = "/srv";
  full.hostname = "web";
  full.status = ContainerStatus::running;
  full.exitCode = 0;
  full.exitSignal = "SIGTERM";
  full.oomKilled = true;
  full.pid = 1234;
  full.resources = {256, 500, 32, 1024};
  full.networkMode = "bridge";
  full.networkIp = "10.0.0.3";
  full.ports = {{80, 8081, "tcp", "127.0.0.1"}, {443, 8443, "tcp", "0.0.0.0"}};
  full.autostart = false;
  full.startedAt = 1736937000100;
  full.finishedAt = 1736937000200;
  full.expiresAt = 1736937000300;
  auto created = store->createContainer(full, std::nullopt);
  REQUIRE(created);
  CHECK_FALSE(created->has_value());  // no initial entry asked for

  ContainerRecord minimal;
  minimal.id = containerId(2);
  REQUIRE(store->createContainer(minimal, std::nullopt));

  auto gotFull = store->getContainer(full.id);
  REQUIRE(gotFull);
  CHECK(*gotFull == full);
  auto gotMinimal = store->getContainer(minimal.id);
  REQUIRE(gotMinimal);
  CHECK(*gotMinimal == minimal);

  auto all = store->allContainers();
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0] == full);
  CHECK((*all)[1] == minimal);

  // Survives a reopen.
  store.reset();
  store = openStore(dir.sub("db"));
  gotFull = store->getContainer(full.id);
  REQUIRE(gotFull);
  CHECK(*gotFull == full);
}

TEST_CASE("containers: unknown and malformed ids are not_found; bad input is refused") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  CHECK(store->getContainer(containerId(9)).error().code == Errc::not_found);
  CHECK(store->getContainer("not-an-id").error().code == Errc::not_found);
  CHECK(store->getContainer("65000000000000000000000A").error().code == Errc::not_found);

  auto record = makeContainer(containerId(1), "p1", "web");
  CHECK(store->updateContainer(record).error().code == Errc::not_found);
  auto entry = makeEntry(record, ContainerStatus::stopped, ContainerStatus::running, 1);
  CHECK(store->commitTransition(record, entry).error().code == Errc::not_found);

  auto badId = makeContainer("xyz", "p1", "web");
  CHECK(store->createContainer(badId, std::nullopt).error().code == Errc::invalid_argument);

  REQUIRE(store->createContainer(record, std::nullopt));
  auto again = store->createContainer(record, std::nullopt);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::already_exists);

  auto otherEntry = makeEntry(makeContainer(containerId(2), "p1", "x"), ContainerStatus::stopped,
                              ContainerStatus::running, 1);
  CHECK(store->commitTransition(record, otherEntry).error().code == Errc::invalid_argument);
}

TEST_CASE("containers: the initial entry is written with the record") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  auto initial = makeEntry(record, ContainerStatus::creating, ContainerStatus::stopped, 1736937000000, "create");
  initial.containerId.clear();  // the store fills it in
  UnixMillis before = nowMillis();
  auto created = store->createContainer(record, initial);
  UnixMillis after = nowMillis();
  REQUIRE(created);
  REQUIRE(created->has_value());
  const auto& written = **created;
  CHECK(isObjectId(written.id));
  CHECK(written.containerId == record.id);
  CHECK(written.createdAt >= before);
  CHECK(written.createdAt <= after);

  auto logs = store->statusLogs(record.id, {});
  REQUIRE(logs);
  REQUIRE(logs->logs.size() == 1);
  CHECK(logs->logs[0] == written);
  CHECK(logs->pagination.total == 1);

  // A failed create writes nothing: neither record nor entry.
  auto clash = makeContainer(containerId(2), "p1", "web");
  auto clashEntry = makeEntry(clash, ContainerStatus::creating, ContainerStatus::stopped, 1);
  CHECK(store->createContainer(clash, clashEntry).error().code == Errc::already_exists);
  CHECK(store->getContainer(clash.id).error().code == Errc::not_found);
  auto replay = store->logEntriesAfter("", 100);
  REQUIRE(replay);
  CHECK(replay->size() == 1);
}

TEST_CASE("containers: names are unique among live containers of a project") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto web = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(web, std::nullopt));

  SECTION("the same name in the same project is taken") {
    auto clash = store->createContainer(makeContainer(containerId(2), "p1", "web"), std::nullopt);
    REQUIRE_FALSE(clash);
    CHECK(clash.error().code == Errc::already_exists);
    CHECK(clash.error().message.find("web") != std::string::npos);
  }
  SECTION("the same name in another project is fine") {
    REQUIRE(store->createContainer(makeContainer(containerId(2), "p2", "web"), std::nullopt));
    auto inP2 = store->findContainerByName("p2", "web");
    REQUIRE(inP2);
    REQUIRE(inP2->has_value());
    CHECK((*inP2)->id == containerId(2));
  }
  SECTION("lookup by name") {
    auto found = store->findContainerByName("p1", "web");
    REQUIRE(found);
    REQUIRE(found->has_value());
    CHECK(**found == web);
    auto missing = store->findContainerByName("p1", "db");
    REQUIRE(missing);
    CHECK_FALSE(missing->has_value());
    auto wrongProject = store->findContainerByName("p9", "web");
    REQUIRE(wrongProject);
    CHECK_FALSE(wrongProject->has_value());
  }
  SECTION("a rename moves the name; the old one is free again") {
    web.name = "frontend";
    REQUIRE(store->updateContainer(web));
    CHECK_FALSE(store->findContainerByName("p1", "web")->has_value());
    REQUIRE(store->findContainerByName("p1", "frontend")->has_value());
    REQUIRE(store->createContainer(makeContainer(containerId(2), "p1", "web"), std::nullopt));
  }
  SECTION("a rename to a taken name fails and changes nothing") {
    REQUIRE(store->createContainer(makeContainer(containerId(2), "p1", "db"), std::nullopt));
    auto renamed = web;
    renamed.name = "db";
    renamed.hostname = "changed";
    auto result = store->updateContainer(renamed);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::already_exists);
    CHECK(*store->getContainer(web.id) == web);
    CHECK((*store->findContainerByName("p1", "web"))->id == web.id);
    CHECK((*store->findContainerByName("p1", "db"))->id == containerId(2));
  }
  SECTION("updating without a rename keeps the name") {
    web.hostname = "other";
    REQUIRE(store->updateContainer(web));
    CHECK(**store->findContainerByName("p1", "web") == web);
  }
  SECTION("a status change through updateContainer is refused: it needs a transition") {
    auto deleted = web;
    deleted.status = ContainerStatus::deleted;
    auto result = store->updateContainer(deleted);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::internal);
    CHECK(*store->getContainer(web.id) == web);
    CHECK(store->findContainerByName("p1", "web")->has_value());
  }
  SECTION("deletion through commitTransition frees the name") {
    transition(*store, web, ContainerStatus::deleted, 1736937000000);
    CHECK_FALSE(store->findContainerByName("p1", "web")->has_value());
    REQUIRE(store->createContainer(makeContainer(containerId(2), "p1", "web"), std::nullopt));
  }
  SECTION("a transition to deleted keeps the other project's name untouched") {
    REQUIRE(store->createContainer(makeContainer(containerId(2), "p2", "web"), std::nullopt));
    transition(*store, web, ContainerStatus::deleted, 1736937000000);
    CHECK(store->findContainerByName("p2", "web")->has_value());
  }
}

TEST_CASE("containers: listContainers in id order, without deleted, filtered and paged") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  // 30 containers over 3 projects with rotating statuses; every 7th deleted.
  const ContainerStatus statuses[] = {ContainerStatus::running, ContainerStatus::stopped, ContainerStatus::paused,
                                      ContainerStatus::failed};
  std::vector<ContainerRecord> live;
  // Create in reverse id order: listing must still be in id order.
  for (int i = 29; i >= 0; --i) {
    auto record = makeContainer(containerId(static_cast<uint64_t>(100 + i)), "p" + std::to_string(i % 3),
                                "c" + std::to_string(i), statuses[i % 4]);
    if (i % 7 == 0) record.status = ContainerStatus::deleted;
    REQUIRE(store->createContainer(record, std::nullopt));
  }
  for (int i = 0; i < 30; ++i) {
    auto record = store->getContainer(containerId(static_cast<uint64_t>(100 + i)));
    REQUIRE(record);
    if (record->status != ContainerStatus::deleted) live.push_back(*record);
  }
  REQUIRE(live.size() == 25);

  auto expect = [&](const ContainerQuery& query) {
    std::vector<ContainerRecord> matching;
    for (const auto& r : live) {
      if (query.status && r.status != *query.status) continue;
      if (query.projectIds &&
          std::find(query.projectIds->begin(), query.projectIds->end(), r.projectId) == query.projectIds->end())
        continue;
      matching.push_back(r);
    }
    return matching;
  };
  auto checkAllPages = [&](ContainerQuery query) {
    auto matching = expect(query);
    uint64_t pages = (matching.size() + query.page.limit - 1) / query.page.limit;
    for (uint64_t page = 1; page <= pages + 1; ++page) {
      query.page.page = page;
      auto listed = store->listContainers(query);
      REQUIRE(listed);
      CHECK(listed->pagination.total == matching.size());
      CHECK(listed->pagination.totalPages == pages);
      CHECK(listed->pagination.page == page);
      CHECK(listed->pagination.limit == query.page.limit);
      std::vector<ContainerRecord> slice;
      for (uint64_t k = (page - 1) * query.page.limit; k < std::min<uint64_t>(matching.size(), page * query.page.limit); ++k)
        slice.push_back(matching[k]);
      CHECK(listed->containers == slice);
    }
  };

  SECTION("no filter") { checkAllPages({{1, 10}, std::nullopt, std::nullopt}); }
  SECTION("status filter") {
    checkAllPages({{1, 3}, ContainerStatus::running, std::nullopt});
    checkAllPages({{1, 100}, ContainerStatus::paused, std::nullopt});
    auto deleted = store->listContainers({{1, 100}, ContainerStatus::deleted, std::nullopt});
    REQUIRE(deleted);
    CHECK(deleted->pagination.total == 0);  // deleted ones are never listed
  }
  SECTION("project filter") {
    checkAllPages({{1, 4}, std::nullopt, std::vector<std::string>{"p1"}});
    checkAllPages({{1, 4}, std::nullopt, std::vector<std::string>{"p2", "p0"}});
    auto none = store->listContainers({{1, 10}, std::nullopt, std::vector<std::string>{}});
    REQUIRE(none);
    CHECK(none->pagination.total == 0);
    CHECK(none->pagination.totalPages == 0);
    CHECK(none->containers.empty());
    auto unknown = store->listContainers({{1, 10}, std::nullopt, std::vector<std::string>{"nope"}});
    REQUIRE(unknown);
    CHECK(unknown->containers.empty());
  }
  SECTION("both filters") {
    checkAllPages({{1, 2}, ContainerStatus::stopped, std::vector<std::string>{"p0", "p1"}});
  }
  SECTION("far pages are empty with the true total") {
    auto far = store->listContainers({{std::numeric_limits<uint64_t>::max(), 100}, std::nullopt, std::nullopt});
    REQUIRE(far);
    CHECK(far->containers.empty());
    CHECK(far->pagination.total == 25);
    auto overflow = store->listContainers({{uint64_t{1} << 40, uint64_t{1} << 40}, std::nullopt, std::nullopt});
    REQUIRE(overflow);
    CHECK(overflow->containers.empty());
    CHECK(overflow->pagination.total == 25);
  }
  SECTION("a status change moves a container between filters") {
    auto record = live.front();
    auto before = store->listContainers({{1, 100}, ContainerStatus::failed, std::nullopt});
    REQUIRE(before);
    transition(*store, record, ContainerStatus::failed, 1);
    auto after = store->listContainers({{1, 100}, ContainerStatus::failed, std::nullopt});
    REQUIRE(after);
    CHECK(after->pagination.total == before->pagination.total + (live.front().status == ContainerStatus::failed ? 0 : 1));
    transition(*store, record, ContainerStatus::deleted, 2);
    auto all = store->listContainers({{1, 100}, std::nullopt, std::nullopt});
    REQUIRE(all);
    CHECK(all->pagination.total == 24);
    auto everything = store->allContainers();
    REQUIRE(everything);
    CHECK(everything->size() == 30);  // allContainers keeps deleted ones
  }
  SECTION("page 0 and limit 0 are refused, not a crash") {
    CHECK(store->listContainers({{0, 10}, std::nullopt, std::nullopt}).error().code == Errc::invalid_argument);
    CHECK(store->listContainers({{1, 0}, std::nullopt, std::nullopt}).error().code == Errc::invalid_argument);
  }
}
