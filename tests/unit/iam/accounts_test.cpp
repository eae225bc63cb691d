#include "iam/accounts.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/ids.hpp"
#include "iam/authorizer.hpp"
#include "store/store.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::iam;

namespace {

std::unique_ptr<store::Store> openStore(const std::string& dir) {
  auto store = store::Store::open(dir, store::StoreOptions{false});
  REQUIRE(store);
  return std::move(*store);
}

std::unique_ptr<Accounts> openAccounts(const std::string& dataDir, store::Store& store, const Authorizer& authorizer,
                                       int64_t lifetimeSeconds = 3600) {
  AccountsConfig config;
  config.dataDir = dataDir;
  config.tokenLifetimeSeconds = lifetimeSeconds;
  config.fastPasswordHashing = true;
  auto accounts = Accounts::open(config, store, authorizer);
  if (!accounts) FAIL(accounts.error().describe());
  return std::move(*accounts);
}

std::string readAdminPassword(const std::string& dataDir) {
  auto text = readFile(dataDir + "/admin.password");
  REQUIRE(text);
  std::string password = *text;
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  return password;
}

unsigned fileMode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

template <typename T>
void requireError(const Result<T>& result, Errc code, Detail detail) {
  REQUIRE_FALSE(result);
  INFO(result.error().describe() << " (detail " << detailName(result.error().detail) << ")");
  CHECK(result.error().code == code);
  CHECK(result.error().detail == detail);
}

// base64url (no padding) of the JWT parts, so tests can forge tokens.
std::string base64url(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::vector<std::string> splitToken(const std::string& token) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

struct Env {
  testing::TempDir dir{"berth-accounts"};
  std::unique_ptr<store::Store> store = openStore(dir.sub("db"));
  Authorizer authorizer{*store};
  std::unique_ptr<Accounts> accounts = openAccounts(dir.path(), *store, authorizer);

  Principal loginAs(const std::string& username, const std::string& password) {
    auto login = accounts->login(username, password);
    if (!login) FAIL(login.error().describe());
    auto principal = accounts->authenticate(login->token);
    if (!principal) FAIL(principal.error().describe());
    return *principal;
  }
  Principal admin() { return loginAs("admin", readAdminPassword(dir.path())); }
  UserRecord newUser(const std::string& username, UserRole role = UserRole::user,
                     std::optional<UnixMillis> guestExpiresAt = std::nullopt) {
    auto user = accounts->createUser(NewUser{username, "password-" + username, role, guestExpiresAt});
    if (!user) FAIL(user.error().describe());
    return *user;
  }
  Principal as(const UserRecord& user) { return loginAs(user.username, "password-" + user.username); }
};

}  // namespace

TEST_CASE("first open bootstraps admin with a 0600 password file; the second open does not") {
  testing::TempDir dir{"berth-accounts"};
  auto store = openStore(dir.sub("db"));
  Authorizer authorizer(*store);
  std::string password;
  std::string adminId;
  {
    auto accounts = openAccounts(dir.path(), *store, authorizer);
    REQUIRE(accounts->bootstrapPasswordFile() == dir.path() + "/admin.password");
    CHECK(fileMode(dir.path() + "/admin.password") == 0600);
    CHECK(fileMode(dir.path() + "/jwt.secret") == 0600);
    password = readAdminPassword(dir.path());
    CHECK(password.size() == 24);
    CHECK(std::all_of(password.begin(), password.end(), [](char c) { return std::isalnum(uint8_t(c)) != 0; }));

    auto login = accounts->login("admin", password);
    REQUIRE(login);
    CHECK(login->user.role == UserRole::admin);
    CHECK(login->user.passwordHash.empty());
    adminId = login->user.id;

    auto projects = store->listProjects();
    REQUIRE(projects);
    REQUIRE(projects->size() == 1);
    CHECK(projects->front().name == "admin");
    CHECK(projects->front().ownerId == adminId);
    CHECK(login->user.personalProjectId == projects->front().id);
    auto membership = store->getMembership(projects->front().id, adminId);
    REQUIRE(membership);
    REQUIRE(*membership);
    CHECK((*membership)->role == ProjectRole::owner);
  }
  auto secretBefore = readFile(dir.path() + "/jwt.secret");
  REQUIRE(secretBefore);
  CHECK(secretBefore->size() == 32);

  auto again = openAccounts(dir.path(), *store, authorizer);
  CHECK_FALSE(again->bootstrapPasswordFile());
  CHECK(readAdminPassword(dir.path()) == password);
  CHECK(readFile(dir.path() + "/jwt.secret").value() == *secretBefore);
  auto users = again->listUsers();
  REQUIRE(users);
  REQUIRE(users->size() == 1);
  CHECK(users->front().id == adminId);
  CHECK(again->login("admin", password));
}

TEST_CASE("a token survives a restart; a secret file of the wrong size is refused") {
  testing::TempDir dir{"berth-accounts"};
  auto store = openStore(dir.sub("db"));
  Authorizer authorizer(*store);
  std::string token;
  {
    auto accounts = openAccounts(dir.path(), *store, authorizer);
    auto login = accounts->login("admin", readAdminPassword(dir.path()));
    REQUIRE(login);
    token = login->token;
  }
  {
    auto accounts = openAccounts(dir.path(), *store, authorizer);
    auto principal = accounts->authenticate(token);
    REQUIRE(principal);
    CHECK(principal->user.username == "admin");
  }
  REQUIRE(writeFileAtomic(dir.path() + "/jwt.secret", "too short", 0600));
  AccountsConfig config;
  config.dataDir = dir.path();
  config.fastPasswordHashing = true;
  auto refused = Accounts::open(config, *store, authorizer);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("jwt.secret") != std::string::npos);
  CHECK(refused.error().message.find("expected 32") != std::string::npos);
}

TEST_CASE("login: right password, wrong password, unknown user, banned user") {
  Env env;
  auto alice = env.newUser("alice");

  auto ok = env.accounts->login("alice", "password-alice");
  REQUIRE(ok);
  CHECK(ok->user.id == alice.id);
  CHECK(ok->user.passwordHash.empty());
  CHECK(ok->expiresAt > nowMillis());
  CHECK(ok->expiresAt <= nowMillis() + 3600 * 1000 + 1000);

  requireError(env.accounts->login("alice", "wrong-password"), Errc::unauthenticated, Detail::invalid_credentials);
  requireError(env.accounts->login("nobody", "password-alice"), Errc::unauthenticated, Detail::invalid_credentials);
  requireError(env.accounts->login("", ""), Errc::unauthenticated, Detail::invalid_credentials);
  requireError(env.accounts->login("bad name!", "password-alice"), Errc::unauthenticated, Detail::invalid_credentials);

  UserChange ban;
  ban.banned = true;
  REQUIRE(env.accounts->updateUser(alice.id, ban));
  requireError(env.accounts->login("alice", "password-alice"), Errc::permission_denied, Detail::account_banned);
  // A wrong password for a banned account reveals nothing beyond invalid credentials.
  requireError(env.accounts->login("alice", "wrong-password"), Errc::unauthenticated, Detail::invalid_credentials);
}

TEST_CASE("token round trip carries the user, jti and expiry") {
  Env env;
  auto alice = env.newUser("alice");
  auto login = env.accounts->login("alice", "password-alice");
  REQUIRE(login);
  CHECK(splitToken(login->token).size() == 3);
  auto principal = env.accounts->authenticate(login->token);
  REQUIRE(principal);
  CHECK(principal->user.id == alice.id);
  CHECK(principal->user.username == "alice");
  CHECK(principal->user.passwordHash.empty());
  CHECK(principal->tokenId.size() == 32);
  CHECK(principal->tokenExpiresAt == login->expiresAt);
  CHECK_FALSE(principal->isAdmin());

  auto second = env.accounts->login("alice", "password-alice");
  REQUIRE(second);
  auto secondPrincipal = env.accounts->authenticate(second->token);
  REQUIRE(secondPrincipal);
  CHECK(secondPrincipal->tokenId != principal->tokenId);
}

TEST_CASE("an expired token is token_expired") {
  testing::TempDir dir{"berth-accounts"};
  auto store = openStore(dir.sub("db"));
  Authorizer authorizer(*store);
  auto accounts = openAccounts(dir.path(), *store, authorizer, -1);
  auto login = accounts->login("admin", readAdminPassword(dir.path()));
  REQUIRE(login);
  CHECK(login->expiresAt < nowMillis());
  requireError(accounts->authenticate(login->token), Errc::unauthenticated, Detail::token_expired);
}

TEST_CASE("missing, garbage, tampered, alg none and foreign tokens are refused") {
  Env env;
  auto login = env.accounts->login("admin", readAdminPassword(env.dir.path()));
  REQUIRE(login);
  const std::string token = login->token;
  auto parts = splitToken(token);
  REQUIRE(parts.size() == 3);

  requireError(env.accounts->authenticate(""), Errc::unauthenticated, Detail::missing_token);

  for (const std::string& garbage :
       std::vector<std::string>{"garbage", "a.b.c", "a.b", "....", token + ".extra", parts[0] + "." + parts[1] + ".",
                                std::string(10000, 'a'), token + " ", std::string("\0", 1) + token}) {
    INFO(garbage.substr(0, 80));
    requireError(env.accounts->authenticate(garbage), Errc::unauthenticated, Detail::invalid_token);
  }

  SECTION("tampered signature") {
    std::string sig = parts[2];
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    requireError(env.accounts->authenticate(parts[0] + "." + parts[1] + "." + sig), Errc::unauthenticated,
                 Detail::invalid_token);
  }
  SECTION("tampered payload (another subject) with the original signature") {
    auto bob = env.newUser("bob");
    std::string payload = base64url(R"({"sub":")" + bob.id + R"(","jti":")" + std::string(32, 'a') +
                                    R"(","iat":1700000000,"exp":4102444800})");
    requireError(env.accounts->authenticate(parts[0] + "." + payload + "." + parts[2]), Errc::unauthenticated,
                 Detail::invalid_token);
  }
  SECTION("alg none, with and without a signature") {
    std::string none = base64url(R"({"alg":"none","typ":"JWT"})");
    requireError(env.accounts->authenticate(none + "." + parts[1] + "."), Errc::unauthenticated, Detail::invalid_token);
    requireError(env.accounts->authenticate(none + "." + parts[1] + "." + parts[2]), Errc::unauthenticated,
                 Detail::invalid_token);
    std::string noneUpper = base64url(R"({"alg":"NONE"})");
    requireError(env.accounts->authenticate(noneUpper + "." + parts[1] + "." + parts[2]), Errc::unauthenticated,
                 Detail::invalid_token);
  }
  SECTION("another algorithm named in the header") {
    std::string hs512 = base64url(R"({"alg":"HS512","typ":"JWT"})");
    requireError(env.accounts->authenticate(hs512 + "." + parts[1] + "." + parts[2]), Errc::unauthenticated,
                 Detail::invalid_token);
  }
  SECTION("signed with another secret") {
    testing::TempDir otherDir{"berth-accounts-other"};
    auto other = openAccounts(otherDir.path(), *env.store, env.authorizer);  // same users, its own jwt.secret
    CHECK_FALSE(other->bootstrapPasswordFile());
    auto foreign = other->login("admin", readAdminPassword(env.dir.path()));
    REQUIRE(foreign);
    REQUIRE(other->authenticate(foreign->token));  // valid where it was made
    requireError(env.accounts->authenticate(foreign->token), Errc::unauthenticated, Detail::invalid_token);
    requireError(other->authenticate(token), Errc::unauthenticated, Detail::invalid_token);
  }
  // The untouched token still works after all that.
  CHECK(env.accounts->authenticate(token));
}

TEST_CASE("logout revokes only the presented token") {
  Env env;
  env.newUser("alice");
  auto first = env.accounts->login("alice", "password-alice");
  auto second = env.accounts->login("alice", "password-alice");
  REQUIRE(first);
  REQUIRE(second);
  auto principal = env.accounts->authenticate(first->token);
  REQUIRE(principal);
  REQUIRE(env.accounts->logout(*principal));
  requireError(env.accounts->authenticate(first->token), Errc::unauthenticated, Detail::invalid_token);
  CHECK(env.accounts->authenticate(second->token));
}

TEST_CASE("a deleted user's token is invalid; a banned user's token is account_banned") {
  Env env;
  auto alice = env.newUser("alice");
  auto bob = env.newUser("bob");
  auto aliceLogin = env.accounts->login("alice", "password-alice");
  auto bobLogin = env.accounts->login("bob", "password-bob");
  REQUIRE(aliceLogin);
  REQUIRE(bobLogin);
  // Verified once before the change, so a remembered verdict must not outlive it.
  REQUIRE(env.accounts->authenticate(aliceLogin->token));
  REQUIRE(env.accounts->authenticate(bobLogin->token));

  REQUIRE(env.accounts->deleteUser(alice.id));
  requireError(env.accounts->authenticate(aliceLogin->token), Errc::unauthenticated, Detail::invalid_token);
  requireError(env.accounts->getUser(alice.id), Errc::not_found, Detail::user_not_found);
  requireError(env.accounts->deleteUser(alice.id), Errc::not_found, Detail::user_not_found);
  // A new alice is another user: the old token stays dead.
  env.newUser("alice");
  requireError(env.accounts->authenticate(aliceLogin->token), Errc::unauthenticated, Detail::invalid_token);

  UserChange ban;
  ban.banned = true;
  REQUIRE(env.accounts->updateUser(bob.id, ban));
  requireError(env.accounts->authenticate(bobLogin->token), Errc::permission_denied, Detail::account_banned);
  UserChange unban;
  unban.banned = false;
  REQUIRE(env.accounts->updateUser(bob.id, unban));
  CHECK(env.accounts->authenticate(bobLogin->token));
}

TEST_CASE("createUser validates its input and refuses a taken username") {
  Env env;
  auto invalid = [&](NewUser user, std::string_view field) {
    auto created = env.accounts->createUser(user);
    REQUIRE_FALSE(created);
    CHECK(created.error().code == Errc::invalid_argument);
    CHECK(created.error().message.find(field) != std::string::npos);
  };
  invalid(NewUser{"", "long-enough", UserRole::user, {}}, "username");
  invalid(NewUser{std::string(65, 'a'), "long-enough", UserRole::user, {}}, "username");
  invalid(NewUser{"has space", "long-enough", UserRole::user, {}}, "username");
  invalid(NewUser{"slash/name", "long-enough", UserRole::user, {}}, "username");
  invalid(NewUser{"carol", "short", UserRole::user, {}}, "password");
  invalid(NewUser{"carol", std::string(1025, 'p'), UserRole::user, {}}, "password");
  invalid(NewUser{"carol", "long-enough", UserRole::user, nowMillis() + 1000}, "guest_expires_at");

  CHECK(env.accounts->createUser(NewUser{std::string(64, 'a'), "12345678", UserRole::user, {}}));
  CHECK(env.accounts->createUser(NewUser{"Ok.name_-1", std::string(1024, 'p'), UserRole::user, {}}));
  auto guest = env.accounts->createUser(NewUser{"visitor", "long-enough", UserRole::guest, nowMillis() + 60000});
  REQUIRE(guest);
  CHECK(guest->guestExpiresAt);

  env.newUser("dave");
  auto taken = env.accounts->createUser(NewUser{"dave", "another-password", UserRole::user, {}});
  requireError(taken, Errc::already_exists, Detail::username_taken);
  requireError(env.accounts->createUser(NewUser{"admin", "another-password", UserRole::admin, {}}),
               Errc::already_exists, Detail::username_taken);
}

TEST_CASE("createUser makes a personal project owned by the user") {
  Env env;
  auto alice = env.newUser("alice");
  CHECK(alice.passwordHash.empty());
  CHECK(isObjectId(alice.id));
  REQUIRE(isObjectId(alice.personalProjectId));
  auto stored = env.store->getUser(alice.id);
  REQUIRE(stored);
  CHECK(stored->passwordHash.rfind("$argon2id$", 0) == 0);

  auto principal = env.as(alice);
  auto project = env.accounts->getProject(principal, alice.personalProjectId);
  REQUIRE(project);
  CHECK(project->name == "alice");
  CHECK(project->ownerId == alice.id);
  CHECK(env.authorizer.roleIn(principal, project->id) == ProjectRole::owner);
  auto listed = env.accounts->listProjects(principal);
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().id == project->id);
}

TEST_CASE("getUser, listUsers and updateUser") {
  Env env;
  auto alice = env.newUser("alice");
  requireError(env.accounts->getUser("not-an-id"), Errc::not_found, Detail::user_not_found);
  requireError(env.accounts->getUser(newObjectId()), Errc::not_found, Detail::user_not_found);
  requireError(env.accounts->updateUser(newObjectId(), UserChange{}), Errc::not_found, Detail::user_not_found);
  auto got = env.accounts->getUser(alice.id);
  REQUIRE(got);
  CHECK(got->username == "alice");
  CHECK(got->passwordHash.empty());
  auto users = env.accounts->listUsers();
  REQUIRE(users);
  CHECK(users->size() == 2);
  for (const auto& user : *users) CHECK(user.passwordHash.empty());

  UserChange password;
  password.password = "a-new-password";
  REQUIRE(env.accounts->updateUser(alice.id, password));
  requireError(env.accounts->login("alice", "password-alice"), Errc::unauthenticated, Detail::invalid_credentials);
  CHECK(env.accounts->login("alice", "a-new-password"));
  UserChange shortPassword;
  shortPassword.password = "short";
  auto refused = env.accounts->updateUser(alice.id, shortPassword);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);

  UserChange guestExpiry;
  guestExpiry.guestExpiresAt = std::optional<UnixMillis>(nowMillis() + 1000);
  auto notGuest = env.accounts->updateUser(alice.id, guestExpiry);
  REQUIRE_FALSE(notGuest);
  CHECK(notGuest.error().code == Errc::invalid_argument);

  UserChange toGuest;
  toGuest.role = UserRole::guest;
  toGuest.guestExpiresAt = std::optional<UnixMillis>(nowMillis() + 1000);
  auto guest = env.accounts->updateUser(alice.id, toGuest);
  REQUIRE(guest);
  CHECK(guest->role == UserRole::guest);
  CHECK(guest->guestExpiresAt);
  UserChange backToUser;
  backToUser.role = UserRole::user;
  auto user = env.accounts->updateUser(alice.id, backToUser);
  REQUIRE(user);
  CHECK(user->role == UserRole::user);
  CHECK_FALSE(user->guestExpiresAt);
}

TEST_CASE("project visibility: members see theirs, others get project_not_found, admins see all") {
  Env env;
  auto alice = env.newUser("alice");
  auto bob = env.newUser("bob");
  auto alicePrincipal = env.as(alice);
  auto bobPrincipal = env.as(bob);
  auto admin = env.admin();

  auto project = env.accounts->createProject(alicePrincipal, "web-app");
  REQUIRE(project);
  CHECK(project->ownerId == alice.id);
  CHECK(project->name == "web-app");
  CHECK(env.authorizer.roleIn(alicePrincipal, project->id) == ProjectRole::owner);

  for (const std::string& bad : std::vector<std::string>{"", "has space", "under_score", std::string(65, 'x')}) {
    auto refused = env.accounts->createProject(alicePrincipal, bad);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::invalid_argument);
    CHECK(refused.error().message.find("name") != std::string::npos);
  }

  CHECK(env.accounts->getProject(alicePrincipal, project->id));
  requireError(env.accounts->getProject(bobPrincipal, project->id), Errc::not_found, Detail::project_not_found);
  requireError(env.accounts->getProject(bobPrincipal, newObjectId()), Errc::not_found, Detail::project_not_found);
  requireError(env.accounts->getProject(bobPrincipal, "bad-id"), Errc::not_found, Detail::project_not_found);
  CHECK(env.accounts->getProject(admin, project->id));
  requireError(env.accounts->getProject(admin, newObjectId()), Errc::not_found, Detail::project_not_found);

  auto aliceList = env.accounts->listProjects(alicePrincipal);
  REQUIRE(aliceList);
  CHECK(aliceList->size() == 2);  // personal + web-app
  auto bobList = env.accounts->listProjects(bobPrincipal);
  REQUIRE(bobList);
  REQUIRE(bobList->size() == 1);
  CHECK(bobList->front().id == bob.personalProjectId);
  auto adminList = env.accounts->listProjects(admin);
  REQUIRE(adminList);
  CHECK(adminList->size() == 4);  // admin, alice, bob, web-app

  CHECK_FALSE(env.authorizer.visibleProjectsFailClosed(admin));
  auto aliceVisible = env.authorizer.visibleProjectsFailClosed(alicePrincipal);
  REQUIRE(aliceVisible);
  CHECK(aliceVisible->size() == 2);
  CHECK(std::count(aliceVisible->begin(), aliceVisible->end(), project->id) == 1);
  auto bobVisible = env.authorizer.visibleProjectsFailClosed(bobPrincipal);
  REQUIRE(bobVisible);
  CHECK(*bobVisible == std::vector<std::string>{bob.personalProjectId});

  CHECK_FALSE(env.authorizer.roleIn(bobPrincipal, project->id));
  CHECK(env.authorizer.roleIn(admin, project->id) == ProjectRole::owner);
  CHECK_FALSE(env.authorizer.roleIn(admin, newObjectId()));
}

TEST_CASE("members: owner or admin may add and remove, others may not; unknown users are user_not_found") {
  Env env;
  auto alice = env.newUser("alice");
  auto bob = env.newUser("bob");
  auto carol = env.newUser("carol");
  auto alicePrincipal = env.as(alice);
  auto bobPrincipal = env.as(bob);
  auto carolPrincipal = env.as(carol);
  auto admin = env.admin();
  auto project = env.accounts->createProject(alicePrincipal, "shared");
  REQUIRE(project);

  auto added = env.accounts->addMember(alicePrincipal, project->id, bob.id, ProjectRole::viewer);
  REQUIRE(added);
  CHECK(added->projectId == project->id);
  CHECK(added->userId == bob.id);
  CHECK(added->role == ProjectRole::viewer);
  CHECK(env.authorizer.roleIn(bobPrincipal, project->id) == ProjectRole::viewer);
  CHECK(env.accounts->getProject(bobPrincipal, project->id));

  // A viewer sees the project but may not manage it; a stranger does not even see it.
  requireError(env.accounts->addMember(bobPrincipal, project->id, carol.id, ProjectRole::viewer),
               Errc::permission_denied, Detail::insufficient_permissions);
  requireError(env.accounts->addMember(carolPrincipal, project->id, carol.id, ProjectRole::owner), Errc::not_found,
               Detail::project_not_found);
  requireError(env.accounts->removeMember(bobPrincipal, project->id, bob.id), Errc::permission_denied,
               Detail::insufficient_permissions);
  requireError(env.accounts->addMember(alicePrincipal, project->id, newObjectId(), ProjectRole::viewer),
               Errc::not_found, Detail::user_not_found);
  requireError(env.accounts->addMember(alicePrincipal, project->id, "nonsense", ProjectRole::viewer), Errc::not_found,
               Detail::user_not_found);
  requireError(env.accounts->addMember(alicePrincipal, newObjectId(), bob.id, ProjectRole::viewer), Errc::not_found,
               Detail::project_not_found);

  // Changing a role; an admin manages any project.
  REQUIRE(env.accounts->addMember(alicePrincipal, project->id, bob.id, ProjectRole::operator_));
  CHECK(env.authorizer.roleIn(bobPrincipal, project->id) == ProjectRole::operator_);
  REQUIRE(env.accounts->addMember(admin, project->id, carol.id, ProjectRole::owner));
  CHECK(env.authorizer.roleIn(carolPrincipal, project->id) == ProjectRole::owner);
  // A co-owner may manage members too.
  REQUIRE(env.accounts->removeMember(carolPrincipal, project->id, bob.id));
  CHECK_FALSE(env.authorizer.roleIn(bobPrincipal, project->id));
  requireError(env.accounts->getProject(bobPrincipal, project->id), Errc::not_found, Detail::project_not_found);

  requireError(env.accounts->removeMember(alicePrincipal, project->id, bob.id), Errc::not_found, Detail::user_not_found);
  requireError(env.accounts->removeMember(alicePrincipal, project->id, newObjectId()), Errc::not_found,
               Detail::user_not_found);

  // The project's owner keeps its ownership.
  auto demote = env.accounts->addMember(admin, project->id, alice.id, ProjectRole::viewer);
  REQUIRE_FALSE(demote);
  CHECK(demote.error().code == Errc::state_conflict);
  auto remove = env.accounts->removeMember(carolPrincipal, project->id, alice.id);
  REQUIRE_FALSE(remove);
  CHECK(remove.error().code == Errc::state_conflict);
  CHECK(env.authorizer.roleIn(alicePrincipal, project->id) == ProjectRole::owner);
}

TEST_CASE("project roles are ordered viewer < operator < owner") {
  CHECK(ProjectRole::viewer < ProjectRole::operator_);
  CHECK(ProjectRole::operator_ < ProjectRole::owner);
  Env env;
  auto alice = env.newUser("alice");
  auto bob = env.newUser("bob");
  auto alicePrincipal = env.as(alice);
  auto bobPrincipal = env.as(bob);
  for (ProjectRole role : {ProjectRole::viewer, ProjectRole::operator_, ProjectRole::owner}) {
    REQUIRE(env.accounts->addMember(alicePrincipal, alice.personalProjectId, bob.id, role));
    auto got = env.authorizer.roleIn(bobPrincipal, alice.personalProjectId);
    REQUIRE(got);
    CHECK(*got == role);
    CHECK((*got >= ProjectRole::viewer));
    CHECK((*got >= ProjectRole::operator_) == (role != ProjectRole::viewer));
    CHECK((*got >= ProjectRole::owner) == (role == ProjectRole::owner));
  }
}

TEST_CASE("expired guests and banned users, logged in for real, may read but not change anything") {
  Env env;
  auto expired = env.newUser("old-guest", UserRole::guest, nowMillis() - 1000);
  auto current = env.newUser("new-guest", UserRole::guest, nowMillis() + 3600 * 1000);
  auto forever = env.newUser("plain-guest", UserRole::guest);
  auto alice = env.newUser("alice");

  // An expired guest still logs in and reads.
  auto expiredPrincipal = env.as(expired);
  CHECK(env.accounts->getProject(expiredPrincipal, expired.personalProjectId));
  auto refused = env.authorizer.checkMayMutate(expiredPrincipal);
  requireError(refused, Errc::permission_denied, Detail::guest_expired);
  CHECK(refused.error().message == "guest session expired");

  CHECK(env.authorizer.checkMayMutate(env.as(current)));
  CHECK(env.authorizer.checkMayMutate(env.as(forever)));
  auto alicePrincipal = env.as(alice);
  CHECK(env.authorizer.checkMayMutate(alicePrincipal));
  CHECK(env.authorizer.checkMayMutate(env.admin()));

  alicePrincipal.user.banned = true;  // as a principal taken just before a ban
  requireError(env.authorizer.checkMayMutate(alicePrincipal), Errc::permission_denied, Detail::account_banned);
}

TEST_CASE("the last active admin cannot be deleted, demoted or banned") {
  Env env;
  auto admin = env.admin();
  UserChange demote;
  demote.role = UserRole::user;
  UserChange ban;
  ban.banned = true;

  auto deleted = env.accounts->deleteUser(admin.user.id);
  REQUIRE_FALSE(deleted);
  CHECK(deleted.error().code == Errc::state_conflict);
  CHECK(deleted.error().message.find("last") != std::string::npos);
  auto demoted = env.accounts->updateUser(admin.user.id, demote);
  REQUIRE_FALSE(demoted);
  CHECK(demoted.error().code == Errc::state_conflict);
  auto banned = env.accounts->updateUser(admin.user.id, ban);
  REQUIRE_FALSE(banned);
  CHECK(banned.error().code == Errc::state_conflict);
  CHECK(env.accounts->getUser(admin.user.id)->role == UserRole::admin);
  CHECK_FALSE(env.accounts->getUser(admin.user.id)->banned);

  // A second admin: now the first may go, and the second becomes the last.
  auto second = env.newUser("root2", UserRole::admin);
  auto bannedSecond = env.accounts->updateUser(second.id, ban);
  REQUIRE(bannedSecond);  // the first admin is still active
  UserChange unban;
  unban.banned = false;
  REQUIRE(env.accounts->updateUser(second.id, unban));
  REQUIRE(env.accounts->updateUser(admin.user.id, demote));
  auto lastDemote = env.accounts->updateUser(second.id, demote);
  REQUIRE_FALSE(lastDemote);
  CHECK(lastDemote.error().code == Errc::state_conflict);
  REQUIRE(env.accounts->deleteUser(admin.user.id));
  CHECK_FALSE(env.accounts->deleteUser(second.id));
}

TEST_CASE("authenticate and login from many threads at once") {
  Env env;
  env.newUser("alice");
  auto login = env.accounts->login("alice", "password-alice");
  REQUIRE(login);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!env.accounts->authenticate(login->token)) ++failures;
        if (i % 10 == t % 10 && !env.accounts->login("alice", "password-alice")) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
}
