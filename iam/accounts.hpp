#pragma once
// Users, projects, memberships and bearer tokens (API.md §3). The HTTP layer
// asks this class who a caller is (and the Authorizer what it may do); it
// never sees a password hash, the signing secret or the store.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "iam/login_throttle.hpp"
#include "iam/principal.hpp"
#include "store/records.hpp"

namespace berth::store {
class Store;
}

namespace berth::iam {

class Authorizer;

using store::Membership;
using store::ProjectRecord;
using store::ProjectRole;
using store::UserRecord;
using store::UserRole;

struct AccountsConfig {
  std::string dataDir;                      // jwt.secret and admin.password live here (0600)
  int64_t tokenLifetimeSeconds = 24 * 3600;
  // Argon2id cost; tests and benchmarks lower it (libsodium's INTERACTIVE by default).
  bool fastPasswordHashing = false;
  LoginThrottleConfig loginThrottle;
};

struct LoginResult {
  std::string token;
  UnixMillis expiresAt = 0;
  UserRecord user;
};

struct NewUser {
  std::string username;  // 1-64 of [A-Za-z0-9._-]
  std::string password;  // 8..1024 bytes
  UserRole role = UserRole::user;
  std::optional<UnixMillis> guestExpiresAt;
};

struct UserChange {
  std::optional<std::string> password;
  std::optional<UserRole> role;
  std::optional<bool> banned;
  std::optional<std::optional<UnixMillis>> guestExpiresAt;  // set, or clear with nullopt inside
};

class Accounts {
 public:
  // Loads or creates <dataDir>/jwt.secret (32 random bytes, 0600). On a store
  // without users, creates `admin` (with its personal project) and writes its
  // password to <dataDir>/admin.password (0600); bootstrapPasswordFile() then
  // names that file so the caller can log it. Decisions on projects are the
  // authorizer's, which must outlive the Accounts.
  static Result<std::unique_ptr<Accounts>> open(const AccountsConfig& config, store::Store& store,
                                                const Authorizer& authorizer);
  ~Accounts();
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  std::optional<std::string> bootstrapPasswordFile() const;

  // --- tokens ---
  // invalid_credentials for an unknown user or wrong password; account_banned for a banned one;
  // resource_exhausted/rate_limited while the username is locked out (loginRetryAfter says how long).
  Result<LoginResult> login(std::string_view username, std::string_view password);
  std::optional<std::chrono::seconds> loginRetryAfter(std::string_view username);
  // The bearer token of a request (without "Bearer "). Empty: missing_token.
  // HS256 only (alg none or any other is invalid_token); revoked jti, unknown
  // user: invalid_token; past exp: token_expired; banned: account_banned.
  Result<Principal> authenticate(std::string_view token) const;
  Result<void> logout(const Principal& principal);

  // --- users (admin only; the caller asks Authorizer::requireAdmin) ---
  // Creates the user and its personal project (the user its owner).
  Result<UserRecord> createUser(const NewUser& user);
  Result<UserRecord> getUser(const std::string& id) const;         // user_not_found
  Result<std::vector<UserRecord>> listUsers() const;
  Result<UserRecord> updateUser(const std::string& id, const UserChange& change);
  Result<void> deleteUser(const std::string& id);

  // --- projects ---
  Result<ProjectRecord> createProject(const Principal& owner, std::string_view name);
  // The projects the Authorizer lets the principal see (Authorizer::visibleProject,
  // visibleProjects): project_not_found for one it cannot; the list sorted by id.
  Result<ProjectRecord> getProject(const Principal& principal, const std::string& id) const;
  Result<std::vector<ProjectRecord>> listProjects(const Principal& principal) const;
  // Admin only (the caller asks): the project's own limits become `limits`;
  // project_not_found for an unknown project.
  Result<ProjectRecord> setProjectLimits(const std::string& id, const store::ProjectLimitOverrides& limits);
  // For principals the Authorizer lets manage the project (managedProject);
  // user_not_found for an unknown user.
  Result<Membership> addMember(const Principal& principal, const std::string& projectId,
                               const std::string& userId, ProjectRole role);
  Result<void> removeMember(const Principal& principal, const std::string& projectId, const std::string& userId);

 private:
  struct Impl;
  explicit Accounts(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::iam
