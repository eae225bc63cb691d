// The LMDB-backed store: environment, containers, users, projects,
// memberships, revoked tokens and meta. Status logs are in store_logs.cpp,
// the write queue in commit.cpp, upgrades of older stores in migrate.cpp;
// key layouts in keys.hpp.
#include "store/store.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>
#include <utility>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "store/codec.hpp"
#include "store/keys.hpp"
#include "store/paging.hpp"
#include "store/store_impl.hpp"

namespace berth::store {

namespace {

bool hasNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

bool isLive(const ContainerRecord& record) { return record.status != ContainerStatus::deleted; }

tl::unexpected<Error> containerNotFound(std::string_view id) {
  return fail(Errc::not_found, "container " + std::string(id) + " not found");
}

// Text ids and names go into composite keys joined by '\0'.
Result<void> checkKeyText(std::string_view what, std::string_view text) {
  if (text.empty()) return fail(Errc::invalid_argument, std::string(what) + " is empty");
  if (hasNul(text)) return fail(Errc::invalid_argument, std::string(what) + " contains a NUL byte");
  return {};
}

Result<std::string> containerKey(const ContainerRecord& record) {
  auto idBin = keys::idToBin(record.id);
  if (!idBin) return fail(Errc::invalid_argument, "container id '" + record.id + "' is not 24 lowercase hex");
  if (hasNul(record.projectId) || hasNul(record.name))
    return fail(Errc::invalid_argument, "container " + record.id + ": project id or name contains a NUL byte");
  return std::move(*idBin);
}

template <typename T>
Result<T> decoded(Result<T> result, std::string_view dbName, std::string_view key) {
  if (result) return result;
  return tl::unexpected(std::move(result.error()).wrap(std::string(dbName) + "[" + showKey(key) + "]"));
}

}  // namespace

// --- environment -------------------------------------------------------------

Result<void> Store::Impl::grow(size_t seen) {
  auto lock = excludeMap();  // no transaction of this process is open now
  size_t current = mapSize();
  if (current > seen) return {};  // another thread grew it meanwhile
  if (seen > std::numeric_limits<size_t>::max() / 2)
    return fail(Errc::resource_exhausted, "lmdb map of " + dir + " cannot grow past " + std::to_string(seen));
  size_t next = seen * 2;
  int rc = mdb_env_set_mapsize(env, next);
  if (rc != 0) return tl::unexpected(lmdbError(rc, "grow map of " + dir + " to " + std::to_string(next) + " bytes"));
  return {};
}

Result<void> Store::Impl::adoptResized() {
  auto lock = excludeMap();
  int rc = mdb_env_set_mapsize(env, 0);  // 0: take the size another process set
  if (rc != 0) return tl::unexpected(lmdbError(rc, "adopt the map size another process set for " + dir));
  return {};
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, StoreOptions options) {
  if (dir.empty()) return fail(Errc::invalid_argument, "store directory is empty");
  BERTH_TRYV(withContext(makeDirs(dir, 0700), "creating store directory"));

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  auto envFailure = [&](int rc, const std::string& what) {
    return tl::unexpected(lmdbError(rc, what + " (" + dir + ")"));
  };
  MDB_env* env = nullptr;
  if (int rc = mdb_env_create(&env); rc != 0) return envFailure(rc, "create environment");
  impl->env = env;  // closed by ~Impl on every path from here
  if (int rc = mdb_env_set_maxdbs(env, 32); rc != 0) return envFailure(rc, "set maxdbs");
  if (int rc = mdb_env_set_maxreaders(env, 1024); rc != 0) return envFailure(rc, "set maxreaders");
  size_t mapBytes = std::max<size_t>(options.initialMapBytes, size_t{64} << 10);
  if (int rc = mdb_env_set_mapsize(env, mapBytes); rc != 0) return envFailure(rc, "set mapsize");
  // MDB_NOTLS: read transactions are not tied to a thread (any thread may run any call).
  unsigned flags = MDB_NOTLS | (options.syncOnCommit ? 0u : static_cast<unsigned>(MDB_NOSYNC));
  if (int rc = mdb_env_open(env, dir.c_str(), flags, 0600); rc != 0) return envFailure(rc, "open environment");
  // LMDB 0.9 opens its main data-file descriptor without O_CLOEXEC: every
  // container and shim berth forks would inherit a handle on the whole
  // database (password hashes included). Close it on exec.
  if (mdb_filehandle_t fd = -1; mdb_env_get_fd(env, &fd) == 0 && fd >= 0) {
    int fdFlags = ::fcntl(fd, F_GETFD);
    if (fdFlags < 0 || ::fcntl(fd, F_SETFD, fdFlags | FD_CLOEXEC) != 0)
      return sysFail(Errc::internal, "setting FD_CLOEXEC on the lmdb data file of " + dir);
  }

  Impl& m = *impl;
  auto opened = m.write([&](Txn& txn) -> Result<void> {
    Dbs fresh;
    Error failure;
    bool failed = false;
    fresh.forEach([&](Db& db) {
      if (failed) return;
      if (int rc = mdb_dbi_open(txn.raw(), db.name, MDB_CREATE, &db.dbi); rc != 0) {
        failure = txn.failure(rc, std::string("open database ") + db.name);
        failed = true;
      }
    });
    if (failed) return tl::unexpected(std::move(failure));
    m.db = fresh;
    BERTH_TRY(auto found, txn.get(m.db.meta, kMetaSchemaVersion));
    std::optional<std::string> version;
    if (found) version = std::string(*found);
    std::string expected = std::to_string(kSchemaVersion);
    if (version == "1") {
      BERTH_TRYV(withContext(m.migrateFromSchemaOne(txn), "upgrading the store at " + dir + " from schema version 1"));
    } else if (version && *version != expected) {
      return fail(Errc::internal, "the store at " + dir + " has schema version " + *version +
                                      " but this berth reads schema version " + expected);
    }
    if (version == expected) return {};
    return txn.put(m.db.meta, kMetaSchemaVersion, expected);
  });
  if (!opened) return tl::unexpected(std::move(opened.error()));
  if (options.syncOnCommit) m.startSyncer();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

// --- containers --------------------------------------------------------------

Result<std::optional<ContainerRecord>> Store::Impl::loadContainer(Txn& txn, std::string_view idBin) const {
  BERTH_TRY(auto bytes, txn.get(db.containers, idBin));
  if (!bytes) return std::optional<ContainerRecord>{};
  BERTH_TRY(auto record, decoded(codec::decodeContainer(*bytes), db.containers.name, idBin));
  return std::optional<ContainerRecord>(std::move(record));
}

Result<void> Store::Impl::storeContainer(Txn& txn, std::string_view idBin, const ContainerRecord& record,
                                         const std::optional<ContainerRecord>& previous) {
  std::optional<std::string> oldName;
  std::optional<std::string> newName;
  if (previous && isLive(*previous)) oldName = keys::pairKey(previous->projectId, previous->name);
  if (isLive(record)) newName = keys::pairKey(record.projectId, record.name);
  bool nameMoves = newName != oldName;

  if (newName && nameMoves) {
    BERTH_TRY(auto holder, txn.get(db.names, *newName));
    if (holder && *holder != idBin)
      return fail(Errc::already_exists, "name '" + record.name + "' is taken in project '" + record.projectId +
                                            "' by container " + keys::binToId(*holder));
  }
  if (oldName && nameMoves) {
    BERTH_TRY(auto holder, txn.get(db.names, *oldName));
    if (holder && *holder == idBin) {
      BERTH_TRYV(txn.del(db.names, *oldName));
    }
  }
  if (newName && nameMoves) {
    BERTH_TRYV(txn.put(db.names, *newName, idBin));
  }

  BERTH_TRYV(updateNetworkClaims(txn, idBin, record, previous));
  if (isLive(record)) {
    std::string summary(statusName(record.status));
    summary.push_back('\0');
    summary.append(record.projectId);
    BERTH_TRYV(txn.put(db.live, idBin, summary));
  } else {
    BERTH_TRYV(txn.del(db.live, idBin));
  }

  BERTH_TRY(auto bytes, codec::encode(record));
  return txn.put(db.containers, idBin, bytes);
}

Result<std::optional<StatusLogEntry>> Store::createContainer(const ContainerRecord& record,
                                                             std::optional<StatusLogEntry> initialEntry,
                                                             std::vector<EventRecord> events,
                                                             std::vector<EventRecord>* written) {
  BERTH_TRY(auto idBin, containerKey(record));
  if (initialEntry && !initialEntry->containerId.empty() && initialEntry->containerId != record.id)
    return fail(Errc::invalid_argument, "initial entry names container " + initialEntry->containerId + ", not " + record.id);
  BERTH_TRYV(Impl::prepareEvents(record, events));
  Impl& m = *impl_;
  std::vector<EventRecord> writtenEvents;
  auto result = m.write([&](Txn& txn) -> Result<std::optional<StatusLogEntry>> {
    BERTH_TRY(auto existing, txn.get(m.db.containers, idBin));
    if (existing) return fail(Errc::already_exists, "container " + record.id + " already exists");
    BERTH_TRYV(m.storeContainer(txn, idBin, record, std::nullopt));
    if (!initialEntry) {
      BERTH_TRY(writtenEvents, m.appendEvents(txn, events, std::nullopt, nowMillis()));
      return std::optional<StatusLogEntry>{};
    }
    BERTH_TRY(auto entry, m.appendLog(txn, idBin, *initialEntry));
    BERTH_TRY(writtenEvents, m.appendEvents(txn, events, *keys::idToBin(entry.id), entry.createdAt));
    return std::optional<StatusLogEntry>(std::move(entry));
  });
  if (result && written != nullptr) *written = std::move(writtenEvents);
  return result;
}

Result<ContainerRecord> Store::getContainer(const std::string& id) const {
  auto idBin = keys::idToBin(id);
  if (!idBin) return containerNotFound(id);
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<ContainerRecord> {
    BERTH_TRY(auto record, m.loadContainer(txn, *idBin));
    if (!record) return containerNotFound(id);
    return std::move(*record);
  });
}

Result<std::optional<ContainerRecord>> Store::findContainerByName(const std::string& projectId,
                                                                  const std::string& name) const {
  if (hasNul(projectId) || hasNul(name)) return std::optional<ContainerRecord>{};
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<ContainerRecord>> {
    BERTH_TRY(auto holder, txn.get(m.db.names, keys::pairKey(projectId, name)));
    if (!holder) return std::optional<ContainerRecord>{};
    std::string idBin(*holder);
    BERTH_TRY(auto record, m.loadContainer(txn, idBin));
    if (!record)
      return fail(Errc::internal, "names[" + projectId + "|" + name + "] points to container " + keys::binToId(idBin) +
                                      ", which is not stored");
    return record;
  });
}

Result<ContainerPage> Store::listContainers(const ContainerQuery& query) const {
  BERTH_TRYV(paging::check(query.page));
  std::vector<std::string> projects;
  if (query.projectIds) {
    projects = *query.projectIds;
    std::sort(projects.begin(), projects.end());
  }
  std::string_view wantedStatus = query.status ? statusName(*query.status) : std::string_view{};
  uint64_t offset = std::numeric_limits<uint64_t>::max();  // past every page unless it fits
  if (uint64_t product = 0; !__builtin_mul_overflow(query.page.page - 1, query.page.limit, &product)) offset = product;

  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<ContainerPage> {
    // containers_live holds status and project of every live container, so
    // the filter never decodes a record that is not on the page.
    uint64_t total = 0;
    std::vector<std::string> pageIds;
    {
      BERTH_TRY(auto cursor, Cursor::open(txn, m.db.live));
      BERTH_TRY(bool at, cursor.first());
      while (at) {
        std::string_view summary = cursor.value();
        size_t split = summary.find('\0');
        if (split == std::string_view::npos)
          return fail(Errc::internal, "corrupt containers_live[" + showKey(cursor.key()) + "]");
        std::string_view status = summary.substr(0, split);
        std::string_view project = summary.substr(split + 1);
        bool match = (!query.status || status == wantedStatus) &&
                     (!query.projectIds || std::binary_search(projects.begin(), projects.end(), project));
        if (match) {
          if (total >= offset && total - offset < query.page.limit) pageIds.emplace_back(cursor.key());
          ++total;
        }
        BERTH_TRY(at, cursor.next());
      }
    }
    ContainerPage page;
    page.pagination = paging::paginate(total, query.page);
    page.containers.reserve(pageIds.size());
    for (const auto& idBin : pageIds) {
      BERTH_TRY(auto record, m.loadContainer(txn, idBin));
      if (!record) return fail(Errc::internal, "containers_live names " + keys::binToId(idBin) + ", which is not stored");
      page.containers.push_back(std::move(*record));
    }
    return page;
  });
}

Result<std::vector<ContainerRecord>> Store::allContainers() const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::vector<ContainerRecord>> {
    std::vector<ContainerRecord> all;
    BERTH_TRY(auto cursor, Cursor::open(txn, m.db.containers));
    BERTH_TRY(bool at, cursor.first());
    while (at) {
      BERTH_TRY(auto record, decoded(codec::decodeContainer(cursor.value()), m.db.containers.name, cursor.key()));
      all.push_back(std::move(record));
      BERTH_TRY(at, cursor.next());
    }
    return all;
  });
}

Result<void> Store::updateContainer(const ContainerRecord& record, std::vector<EventRecord> events,
                                   std::vector<EventRecord>* written) {
  BERTH_TRY(auto idBin, containerKey(record));
  BERTH_TRYV(Impl::prepareEvents(record, events));
  Impl& m = *impl_;
  std::vector<EventRecord> writtenEvents;
  auto result = m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto previous, m.loadContainer(txn, idBin));
    if (!previous) return containerNotFound(record.id);
    // A status changes only with its status-log entry (commitTransition).
    if (previous->status != record.status)
      return fail(Errc::internal, "container " + record.id + ": a status change needs a transition");
    BERTH_TRYV(m.storeContainer(txn, idBin, record, previous));
    BERTH_TRY(writtenEvents, m.appendEvents(txn, events, std::nullopt, nowMillis()));
    return {};
  });
  if (result && written != nullptr) *written = std::move(writtenEvents);
  return result;
}

Result<StatusLogEntry> Store::commitTransition(const ContainerRecord& record, StatusLogEntry entry,
                                               std::vector<EventRecord> events, std::vector<EventRecord>* written,
                                               Sync sync) {
  BERTH_TRY(auto idBin, containerKey(record));
  if (entry.containerId.empty()) entry.containerId = record.id;
  if (entry.containerId != record.id)
    return fail(Errc::invalid_argument, "entry names container " + entry.containerId + ", not " + record.id);
  BERTH_TRYV(Impl::prepareEvents(record, events));
  Impl& m = *impl_;
  std::vector<EventRecord> writtenEvents;
  auto result = m.write([&](Txn& txn) -> Result<StatusLogEntry> {
    BERTH_TRY(auto previous, m.loadContainer(txn, idBin));
    if (!previous) return containerNotFound(record.id);
    BERTH_TRYV(m.storeContainer(txn, idBin, record, previous));
    BERTH_TRY(auto appended, m.appendLog(txn, idBin, entry));
    BERTH_TRY(writtenEvents, m.appendEvents(txn, events, *keys::idToBin(appended.id), appended.createdAt));
    return appended;
  }, sync);
  if (result && written != nullptr) *written = std::move(writtenEvents);
  return result;
}

// --- users -------------------------------------------------------------------

namespace {
Result<void> checkUser(const UserRecord& user) {
  BERTH_TRYV(checkKeyText("user id", user.id));
  BERTH_TRYV(checkKeyText("username", user.username));
  return {};
}
}  // namespace

Result<void> Store::createUser(const UserRecord& user) {
  BERTH_TRYV(checkUser(user));
  BERTH_TRY(auto bytes, codec::encode(user));
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto existing, txn.get(m.db.users, user.id));
    if (existing) return fail(Errc::already_exists, "user " + user.id + " already exists");
    BERTH_TRY(auto holder, txn.get(m.db.usernames, user.username));
    if (holder) return fail(Errc::already_exists, "username '" + user.username + "' is taken");
    BERTH_TRYV(txn.put(m.db.users, user.id, bytes));
    return txn.put(m.db.usernames, user.username, user.id);
  });
}

Result<UserRecord> Store::getUser(const std::string& id) const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<UserRecord> {
    BERTH_TRY(auto bytes, txn.get(m.db.users, id));
    if (!bytes) return fail(Errc::not_found, "user " + id + " not found");
    return decoded(codec::decodeUser(*bytes), m.db.users.name, id);
  });
}

Result<std::optional<UserRecord>> Store::findUserByName(const std::string& username) const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<UserRecord>> {
    BERTH_TRY(auto holder, txn.get(m.db.usernames, username));
    if (!holder) return std::optional<UserRecord>{};
    std::string id(*holder);
    BERTH_TRY(auto bytes, txn.get(m.db.users, id));
    if (!bytes) return fail(Errc::internal, "usernames[" + username + "] points to user " + id + ", which is not stored");
    BERTH_TRY(auto user, decoded(codec::decodeUser(*bytes), m.db.users.name, id));
    return std::optional<UserRecord>(std::move(user));
  });
}

Result<std::vector<UserRecord>> Store::listUsers() const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::vector<UserRecord>> {
    std::vector<UserRecord> users;
    BERTH_TRY(auto cursor, Cursor::open(txn, m.db.users));
    BERTH_TRY(bool at, cursor.first());
    while (at) {
      BERTH_TRY(auto user, decoded(codec::decodeUser(cursor.value()), m.db.users.name, cursor.key()));
      users.push_back(std::move(user));
      BERTH_TRY(at, cursor.next());
    }
    return users;
  });
}

Result<void> Store::updateUser(const UserRecord& user) {
  BERTH_TRYV(checkUser(user));
  BERTH_TRY(auto bytes, codec::encode(user));
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto previousBytes, txn.get(m.db.users, user.id));
    if (!previousBytes) return fail(Errc::not_found, "user " + user.id + " not found");
    BERTH_TRY(auto previous, decoded(codec::decodeUser(*previousBytes), m.db.users.name, user.id));
    if (previous.username != user.username) {
      BERTH_TRY(auto holder, txn.get(m.db.usernames, user.username));
      if (holder && *holder != user.id) return fail(Errc::already_exists, "username '" + user.username + "' is taken");
      BERTH_TRY(auto oldHolder, txn.get(m.db.usernames, previous.username));
      if (oldHolder && *oldHolder == user.id) {
        BERTH_TRYV(txn.del(m.db.usernames, previous.username));
      }
      BERTH_TRYV(txn.put(m.db.usernames, user.username, user.id));
    }
    return txn.put(m.db.users, user.id, bytes);
  });
}

Result<void> Store::deleteUser(const std::string& id) {
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto bytes, txn.get(m.db.users, id));
    if (!bytes) return fail(Errc::not_found, "user " + id + " not found");
    BERTH_TRY(auto user, decoded(codec::decodeUser(*bytes), m.db.users.name, id));
    BERTH_TRYV(txn.del(m.db.users, id));
    BERTH_TRY(auto holder, txn.get(m.db.usernames, user.username));
    if (holder && *holder == id) {
      BERTH_TRYV(txn.del(m.db.usernames, user.username));
    }
    // Memberships: the reverse index lists this user's projects.
    std::string prefix = keys::pairKey(id, "");
    std::vector<std::string> projectIds;
    {
      BERTH_TRY(auto cursor, Cursor::open(txn, m.db.membershipsByUser));
      BERTH_TRY(bool at, cursor.seek(prefix));
      while (at && keys::hasPrefix(cursor.key(), prefix)) {
        projectIds.emplace_back(cursor.key().substr(prefix.size()));
        BERTH_TRY(at, cursor.next());
      }
    }
    for (const auto& projectId : projectIds) {
      BERTH_TRYV(txn.del(m.db.memberships, keys::pairKey(projectId, id)));
      BERTH_TRYV(txn.del(m.db.membershipsByUser, keys::pairKey(id, projectId)));
    }
    return {};
  });
}

// --- projects ----------------------------------------------------------------

Result<void> Store::createProject(const ProjectRecord& project) {
  BERTH_TRYV(checkKeyText("project id", project.id));
  BERTH_TRY(auto bytes, codec::encode(project));
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto existing, txn.get(m.db.projects, project.id));
    if (existing) return fail(Errc::already_exists, "project " + project.id + " already exists");
    return txn.put(m.db.projects, project.id, bytes);
  });
}

Result<ProjectRecord> Store::getProject(const std::string& id) const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<ProjectRecord> {
    BERTH_TRY(auto bytes, txn.get(m.db.projects, id));
    if (!bytes) return fail(Errc::not_found, "project " + id + " not found");
    return decoded(codec::decodeProject(*bytes), m.db.projects.name, id);
  });
}

Result<void> Store::updateProject(const ProjectRecord& project) {
  BERTH_TRYV(checkKeyText("project id", project.id));
  BERTH_TRY(auto bytes, codec::encode(project));
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto existing, txn.get(m.db.projects, project.id));
    if (!existing) return fail(Errc::not_found, "project " + project.id + " not found");
    return txn.put(m.db.projects, project.id, bytes);
  });
}

Result<std::vector<ProjectRecord>> Store::listProjects() const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::vector<ProjectRecord>> {
    std::vector<ProjectRecord> projects;
    BERTH_TRY(auto cursor, Cursor::open(txn, m.db.projects));
    BERTH_TRY(bool at, cursor.first());
    while (at) {
      BERTH_TRY(auto project, decoded(codec::decodeProject(cursor.value()), m.db.projects.name, cursor.key()));
      projects.push_back(std::move(project));
      BERTH_TRY(at, cursor.next());
    }
    return projects;
  });
}

// --- memberships -------------------------------------------------------------

namespace {
Result<void> checkMembershipIds(std::string_view projectId, std::string_view userId) {
  BERTH_TRYV(checkKeyText("project id", projectId));
  BERTH_TRYV(checkKeyText("user id", userId));
  return {};
}

// Every value under `prefix` in one of the two membership databases.
Result<std::vector<Membership>> membershipsUnder(Txn& txn, const Db& db, const std::string& prefix) {
  std::vector<Membership> found;
  BERTH_TRY(auto cursor, Cursor::open(txn, db));
  BERTH_TRY(bool at, cursor.seek(prefix));
  while (at && keys::hasPrefix(cursor.key(), prefix)) {
    BERTH_TRY(auto membership, decoded(codec::decodeMembership(cursor.value()), db.name, cursor.key()));
    found.push_back(std::move(membership));
    BERTH_TRY(at, cursor.next());
  }
  return found;
}
}  // namespace

Result<void> Store::putMembership(const Membership& membership) {
  BERTH_TRYV(checkMembershipIds(membership.projectId, membership.userId));
  BERTH_TRY(auto bytes, codec::encode(membership));
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRYV(txn.put(m.db.memberships, keys::pairKey(membership.projectId, membership.userId), bytes));
    return txn.put(m.db.membershipsByUser, keys::pairKey(membership.userId, membership.projectId), bytes);
  });
}

Result<void> Store::removeMembership(const std::string& projectId, const std::string& userId) {
  BERTH_TRYV(checkMembershipIds(projectId, userId));
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(bool existed, txn.del(m.db.memberships, keys::pairKey(projectId, userId)));
    if (!existed) return fail(Errc::not_found, "user " + userId + " is not a member of project " + projectId);
    BERTH_TRYV(txn.del(m.db.membershipsByUser, keys::pairKey(userId, projectId)));
    return {};
  });
}

Result<std::optional<Membership>> Store::getMembership(const std::string& projectId, const std::string& userId) const {
  if (hasNul(projectId) || hasNul(userId)) return std::optional<Membership>{};
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<Membership>> {
    std::string key = keys::pairKey(projectId, userId);
    BERTH_TRY(auto bytes, txn.get(m.db.memberships, key));
    if (!bytes) return std::optional<Membership>{};
    BERTH_TRY(auto membership, decoded(codec::decodeMembership(*bytes), m.db.memberships.name, key));
    return std::optional<Membership>(std::move(membership));
  });
}

Result<std::vector<Membership>> Store::membershipsOfUser(const std::string& userId) const {
  if (hasNul(userId)) return std::vector<Membership>{};
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) { return membershipsUnder(txn, m.db.membershipsByUser, keys::pairKey(userId, "")); });
}

Result<std::vector<Membership>> Store::membershipsOfProject(const std::string& projectId) const {
  if (hasNul(projectId)) return std::vector<Membership>{};
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) { return membershipsUnder(txn, m.db.memberships, keys::pairKey(projectId, "")); });
}

// --- revoked tokens ----------------------------------------------------------

namespace {
// Expired denylist entries dropped per revokeToken call (bounds that transaction).
constexpr size_t kPurgeBatch = 256;
}  // namespace

Result<void> Store::revokeToken(const std::string& jti, UnixMillis expiresAt) {
  if (jti.empty()) return fail(Errc::invalid_argument, "token id (jti) is empty");
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    // A token past its expiry is refused anyway: its denylist entry can go.
    std::string nowKey = keys::timeKey(nowMillis());
    std::vector<std::string> expired;
    {
      BERTH_TRY(auto cursor, Cursor::open(txn, m.db.revokedByExpiry));
      BERTH_TRY(bool at, cursor.first());
      while (at && expired.size() < kPurgeBatch && cursor.key().size() >= 8 && cursor.key().substr(0, 8) < nowKey) {
        expired.emplace_back(cursor.key());
        BERTH_TRY(at, cursor.next());
      }
    }
    for (const auto& key : expired) {
      BERTH_TRYV(txn.del(m.db.revokedByExpiry, key));
      BERTH_TRYV(txn.del(m.db.revoked, key.substr(8)));
    }

    BERTH_TRY(auto previous, txn.get(m.db.revoked, jti));
    if (previous) {
      std::string oldIndexKey = std::string(*previous) + jti;
      BERTH_TRYV(txn.del(m.db.revokedByExpiry, oldIndexKey));
    }
    std::string expiry = keys::timeKey(expiresAt);
    BERTH_TRYV(txn.put(m.db.revoked, jti, expiry));
    return txn.put(m.db.revokedByExpiry, expiry + jti, {});
  });
}

Result<bool> Store::isTokenRevoked(const std::string& jti) const {
  if (jti.empty()) return false;
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<bool> {
    BERTH_TRY(auto found, txn.get(m.db.revoked, jti));
    return found.has_value();
  });
}

// --- meta --------------------------------------------------------------------

Result<std::optional<std::string>> Store::getMeta(const std::string& key) const {
  if (key.empty()) return fail(Errc::invalid_argument, "meta key is empty");
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<std::string>> {
    BERTH_TRY(auto value, txn.get(m.db.meta, key));
    if (!value) return std::optional<std::string>{};
    return std::optional<std::string>(std::string(*value));
  });
}

Result<void> Store::putMeta(const std::string& key, const std::string& value) {
  if (key.empty()) return fail(Errc::invalid_argument, "meta key is empty");
  if (key.starts_with("store.")) return fail(Errc::invalid_argument, "meta key '" + key + "' is reserved for the store");
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> { return txn.put(m.db.meta, key, value); });
}

}  // namespace berth::store
