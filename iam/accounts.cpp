#include "iam/accounts.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <future>
#include <limits>
#include <mutex>
#include <semaphore>
#include <thread>
#include <unordered_map>
#include <utility>

// libjwt and libsodium stay inside this file: the HTTP layer hands over the
// raw bearer token and never sees a key, a hash or a JWT object.
#include <jwt.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/unique_fd.hpp"
#include "iam/authorizer.hpp"
#include "store/store.hpp"

namespace berth::iam {

namespace {

constexpr size_t kSecretBytes = 32;
constexpr size_t kJtiBytes = 16;
constexpr size_t kMaxTokenBytes = 8192;
constexpr int64_t kMaxTokenLifetimeSeconds = int64_t{10} * 366 * 24 * 3600;
constexpr size_t kPasswordMin = 8;
constexpr size_t kPasswordMax = 1024;
constexpr size_t kUsernameMax = 64;
constexpr size_t kBootstrapPasswordLength = 24;
constexpr const char* kSecretFile = "jwt.secret";
constexpr const char* kBootstrapFile = "admin.password";
constexpr const char* kBootstrapUser = "admin";

tl::unexpected<Error> invalidToken(std::string message) {
  return fail(Errc::unauthenticated, Detail::invalid_token, std::move(message));
}

tl::unexpected<Error> userNotFound(const std::string& id) {
  return fail(Errc::not_found, Detail::user_not_found, "user " + id + " not found");
}

// What leaves this class never carries the password hash.
UserRecord publicUser(UserRecord user) {
  user.passwordHash.clear();
  return user;
}

Result<void> initSodium() {
  // sodium_init() is thread-safe and idempotent; the static runs it once.
  static const int rc = sodium_init();
  if (rc < 0) return fail(Errc::internal, "libsodium could not be initialised");
  return {};
}

bool isValidUsername(std::string_view name) {
  if (name.empty() || name.size() > kUsernameMax) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

Result<void> validatePassword(std::string_view password) {
  if (password.size() < kPasswordMin || password.size() > kPasswordMax)
    return fail(Errc::invalid_argument, "password must be between 8 and 1024 bytes");
  return {};
}

bool isLowerHex(std::string_view text, size_t length) {
  return text.size() == length &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string randomAlphanumeric(size_t length) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  out.reserve(length);
  for (size_t i = 0; i < length; ++i)
    out.push_back(kAlphabet[randombytes_uniform(static_cast<uint32_t>(kAlphabet.size()))]);
  return out;
}

std::string randomHex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  randombytes_buf(buf.data(), buf.size());
  return toHex(buf.data(), buf.size());
}

Result<std::array<unsigned char, kSecretBytes>> readSecret(const std::string& path, UniqueFd fd) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sysFail("stat " + path);
  if (!S_ISREG(st.st_mode)) return fail(Errc::internal, path + " is not a regular file");
  if (st.st_size != static_cast<off_t>(kSecretBytes))
    return fail(Errc::internal, path + " holds " + std::to_string(st.st_size) + " bytes, expected " +
                                    std::to_string(kSecretBytes) +
                                    "; remove it to create a new signing secret (issued tokens become invalid)");
  if ((st.st_mode & 077) != 0) {
    spdlog::warn("{} was readable by others (mode {:o}); restricting it to 0600", path, st.st_mode & 07777);
    if (::fchmod(fd.get(), 0600) != 0) return sysFail("chmod " + path);
  }
  BERTH_TRY(std::string content, withContext(readFd(fd.get()), path));
  if (content.size() != kSecretBytes) return fail(Errc::internal, path + " changed size while being read");
  std::array<unsigned char, kSecretBytes> secret{};
  std::copy(content.begin(), content.end(), secret.begin());
  sodium_memzero(content.data(), content.size());
  return secret;
}

// <dataDir>/jwt.secret: loaded if present, else created once with 32 random bytes.
Result<std::array<unsigned char, kSecretBytes>> loadOrCreateSecret(const std::string& dir) {
  const std::string path = dir + "/" + kSecretFile;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (raw >= 0) return readSecret(path, UniqueFd(raw));
    if (errno != ENOENT) return sysFail("open " + path);
    std::array<unsigned char, kSecretBytes> secret{};
    randombytes_buf(secret.data(), secret.size());
    auto written = writeFileAtomic(path, std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size()),
                                   0600, Durability::hostCrash, IfExists::keep);
    if (written) return secret;
    sodium_memzero(secret.data(), secret.size());
    // Someone else created it between our open and link: use theirs.
    if (written.error().code != Errc::already_exists) return tl::unexpected<Error>(std::move(written.error()));
  }
  return fail(Errc::internal, "could not load or create " + path);
}

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;
struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};
using CString = std::unique_ptr<char, FreeDeleter>;

std::optional<nlohmann::json> decodeJsonPart(std::string_view part) {
  if (part.empty()) return std::nullopt;
  std::string bin(part.size(), '\0');
  size_t binLen = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), part.data(), part.size(), nullptr,
                        &binLen, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return std::nullopt;
  if (end != part.data() + part.size()) return std::nullopt;
  bin.resize(binLen);
  auto json = nlohmann::json::parse(bin, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return json;
}

// Our own look at the header before libjwt's: exactly three parts, a
// signature, and "alg":"HS256" — so "none" and every other algorithm are
// refused whatever the library would make of them.
bool headerIsHs256(std::string_view token) {
  size_t first = token.find('.');
  if (first == std::string_view::npos) return false;
  size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos) return false;
  if (token.find('.', second + 1) != std::string_view::npos) return false;
  if (second + 1 == token.size()) return false;  // no signature
  auto header = decodeJsonPart(token.substr(0, first));
  if (!header) return false;
  auto alg = header->find("alg");
  return alg != header->end() && alg->is_string() && alg->get<std::string>() == "HS256";
}

std::optional<int64_t> intClaim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return std::nullopt;
  return it->get<int64_t>();
}

std::optional<std::string> stringClaim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

struct Accounts::Impl {
  AccountsConfig config;
  store::Store& db;
  const Authorizer& authorizer;
  std::array<unsigned char, kSecretBytes> secret{};
  unsigned long long opsLimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  size_t memLimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  std::optional<std::string> bootstrapFile;
  // Argon2id takes memLimit bytes per call (64 MiB by default): bound how many run at once.
  std::counting_semaphore<64> hashSlots;
  // Serialises account writes, so invariants that span records (the last
  // admin, a member that exists) hold under concurrent calls.
  mutable std::mutex writeMutex;
  LoginThrottle throttle;

  // Tokens already verified (signature, claims, revocation, user), so a
  // client's every request does not pay for the HMAC and two store reads.
  // Every write that could change a verdict (logout, a user changed or
  // deleted) bumps the generation after it commits; an entry counts only
  // while its generation, read before its store reads, is the current one.
  struct VerifiedToken {
    Principal principal;
    uint64_t generation = 0;
  };
  static constexpr size_t kVerifiedTokensMax = 4096;
  mutable std::mutex verifiedMutex;
  mutable std::unordered_map<std::string, VerifiedToken> verified;
  std::atomic<uint64_t> accountsGeneration{0};

  std::optional<Principal> findVerified(std::string_view token) const {
    std::lock_guard lock(verifiedMutex);
    auto it = verified.find(std::string(token));
    if (it == verified.end() || it->second.generation != accountsGeneration.load()) return std::nullopt;
    return it->second.principal;
  }
  void rememberVerified(std::string token, const Principal& principal, uint64_t generation) const {
    std::lock_guard lock(verifiedMutex);
    // Stale entries go at the next write; a full table starts over rather than tracking age.
    if (verified.size() >= kVerifiedTokensMax) verified.clear();
    verified.insert_or_assign(std::move(token), VerifiedToken{principal, generation});
  }
  void forgetVerified() {
    accountsGeneration.fetch_add(1);
    std::lock_guard lock(verifiedMutex);
    verified.clear();
  }

  // A hash of a random password: login verifies against it for unknown users
  // so that "no such user" costs as much as "wrong password". An Argon2id hash
  // takes a few hundred ms on a small host, so it is made in the background
  // while the service starts; only a login for an unknown name waits for it.
  // The last member: it is destroyed (waiting for that thread) before the rest.
  std::shared_future<Result<std::string>> dummyHash;

  Impl(const AccountsConfig& cfg, store::Store& st, const Authorizer& auth)
      : config(cfg),
        db(st),
        authorizer(auth),
        hashSlots(static_cast<std::ptrdiff_t>(std::clamp(std::thread::hardware_concurrency(), 2u, 8u))),
        throttle(cfg.loginThrottle) {
    if (config.fastPasswordHashing) {
      opsLimit = crypto_pwhash_OPSLIMIT_MIN;
      memLimit = crypto_pwhash_MEMLIMIT_MIN;
    }
  }
  ~Impl() { sodium_memzero(secret.data(), secret.size()); }

  Result<std::string> hashPassword(std::string_view password) {
    std::array<char, crypto_pwhash_STRBYTES> out{};
    hashSlots.acquire();
    int rc = crypto_pwhash_str(out.data(), password.data(), password.size(), opsLimit, memLimit);
    hashSlots.release();
    if (rc != 0) return fail(Errc::host_refused, "hashing the password failed (out of memory)");
    return std::string(out.data());
  }

  bool verifyPassword(const std::string& hash, std::string_view password) {
    if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
    hashSlots.acquire();
    int rc = crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size());
    hashSlots.release();
    return rc == 0;
  }

  Result<LoginResult> issueToken(const UserRecord& user) {
    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) return fail(Errc::internal, "creating a token failed");
    JwtPtr jwt(raw);
    const int64_t issuedAt = nowMillis() / 1000;
    const int64_t expires = issuedAt + config.tokenLifetimeSeconds;
    const std::string jti = randomHex(kJtiBytes);
    if (jwt_add_grant(jwt.get(), "sub", user.id.c_str()) != 0 || jwt_add_grant(jwt.get(), "jti", jti.c_str()) != 0 ||
        jwt_add_grant_int(jwt.get(), "iat", static_cast<long>(issuedAt)) != 0 ||
        jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(expires)) != 0)
      return fail(Errc::internal, "adding token claims failed");
    if (jwt_set_alg(jwt.get(), JWT_ALG_HS256, secret.data(), static_cast<int>(secret.size())) != 0)
      return fail(Errc::internal, "setting the token algorithm failed");
    CString encoded(jwt_encode_str(jwt.get()));
    if (!encoded) return fail(Errc::internal, "encoding the token failed");
    return LoginResult{std::string(encoded.get()), expires * 1000, publicUser(user)};
  }

  // Active admins other than `exceptId`; the last one may not be deleted, demoted or banned.
  Result<size_t> otherActiveAdmins(const std::string& exceptId) const {
    BERTH_TRY(auto users, db.listUsers());
    return static_cast<size_t>(std::count_if(users.begin(), users.end(), [&](const UserRecord& u) {
      return u.id != exceptId && u.role == UserRole::admin && !u.banned;
    }));
  }

  Result<UserRecord> loadUser(const std::string& id) const {
    if (!isObjectId(id)) return userNotFound(id);
    auto user = db.getUser(id);
    if (!user && user.error().code == Errc::not_found) return userNotFound(id);
    return user;
  }

  // A user and its personal project (the user its owner). Call with writeMutex held.
  Result<UserRecord> createUserWithProject(const std::string& username, std::string passwordHash, UserRole role,
                                           std::optional<UnixMillis> guestExpiresAt) {
    UserRecord user;
    user.id = newObjectId();
    user.username = username;
    user.passwordHash = std::move(passwordHash);
    user.role = role;
    user.guestExpiresAt = guestExpiresAt;
    user.personalProjectId = newObjectId();
    user.createdAt = nowMillis();
    ProjectRecord project{user.personalProjectId, username, user.id, user.createdAt};

    // The user first: a taken name is the likely failure and leaves nothing behind.
    auto created = db.createUser(user);
    if (!created) {
      if (created.error().code == Errc::already_exists)
        return fail(Errc::already_exists, Detail::username_taken,
                    "username " + username + " is already taken");
      return tl::unexpected<Error>(std::move(created.error()));
    }
    auto undoUser = [&](Error error) -> tl::unexpected<Error> {
      if (auto undone = db.deleteUser(user.id); !undone)
        spdlog::error("user {}: rolling back a half-created user failed: {}", user.id, undone.error().describe());
      return tl::unexpected<Error>(std::move(error));
    };
    if (auto stored = db.createProject(project); !stored)
      return undoUser(std::move(stored.error()).wrap("creating personal project"));
    // (A failure from here on leaves the project record: the store cannot delete projects.)
    if (auto member = db.putMembership(Membership{project.id, user.id, ProjectRole::owner}); !member)
      return undoUser(std::move(member.error()).wrap("adding owner membership"));
    return user;
  }

  Result<void> bootstrap() {
    BERTH_TRY(auto users, db.listUsers());
    if (!users.empty()) return {};
    const std::string password = randomAlphanumeric(kBootstrapPasswordLength);
    BERTH_TRY(std::string hash, hashPassword(password));
    // The file first: if the store write then fails, the next start tries
    // again and replaces it; the other order could lose the only admin password.
    BERTH_TRYV(withContext(writeFileAtomic(config.dataDir + "/" + kBootstrapFile, password + "\n", 0600),
                           "writing the admin password"));
    std::lock_guard lock(writeMutex);
    BERTH_TRYV(withContext(createUserWithProject(kBootstrapUser, std::move(hash), UserRole::admin, {}),
                           "creating the admin user"));
    // The caller logs where the password is (bootstrapPasswordFile()).
    bootstrapFile = config.dataDir + "/" + kBootstrapFile;
    return {};
  }
};

Accounts::Accounts(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Accounts::~Accounts() = default;

Result<std::unique_ptr<Accounts>> Accounts::open(const AccountsConfig& config, store::Store& store,
                                                  const Authorizer& authorizer) {
  if (config.dataDir.empty()) return fail(Errc::invalid_argument, "accounts: dataDir must be set");
  if (config.tokenLifetimeSeconds > kMaxTokenLifetimeSeconds || config.tokenLifetimeSeconds < -kMaxTokenLifetimeSeconds)
    return fail(Errc::invalid_argument, "token lifetime must be at most 10 years");
  BERTH_TRYV(initSodium());
  BERTH_TRYV(makeDirs(config.dataDir, 0700));
  auto impl = std::make_unique<Impl>(config, store, authorizer);
  BERTH_TRY(impl->secret, loadOrCreateSecret(config.dataDir));
  impl->dummyHash = std::async(std::launch::async, [raw = impl.get()] { return raw->hashPassword(randomHex(16)); }).share();
  BERTH_TRYV(impl->bootstrap());
  return std::unique_ptr<Accounts>(new Accounts(std::move(impl)));
}

std::optional<std::string> Accounts::bootstrapPasswordFile() const { return impl_->bootstrapFile; }

// --- tokens ---

std::optional<std::chrono::seconds> Accounts::loginRetryAfter(std::string_view username) {
  return impl_->throttle.retryAfter(username);
}

Result<LoginResult> Accounts::login(std::string_view username, std::string_view password) {
  if (auto wait = impl_->throttle.retryAfter(username))
    return fail(Errc::resource_exhausted, Detail::rate_limited,
                "too many failed logins; retry in " + std::to_string(wait->count()) + " s");
  auto badCredentials = [this, username] {
    impl_->throttle.recordFailure(username);
    return fail(Errc::unauthenticated, Detail::invalid_credentials, "invalid username or password");
  };
  std::optional<UserRecord> user;
  if (isValidUsername(username) && password.size() <= kPasswordMax) {
    BERTH_TRY(user, impl_->db.findUserByName(std::string(username)));
  }
  if (!user) {
    // Same work as a wrong password, so timing does not tell which names exist.
    const Result<std::string>& dummy = impl_->dummyHash.get();
    if (!dummy) return tl::unexpected(dummy.error());
    (void)impl_->verifyPassword(*dummy, password.substr(0, kPasswordMax));
    return badCredentials();
  }
  if (!impl_->verifyPassword(user->passwordHash, password)) return badCredentials();
  impl_->throttle.recordSuccess(username);
  if (user->banned)
    return fail(Errc::permission_denied, Detail::account_banned, "account " + user->username + " is banned");
  return impl_->issueToken(*user);
}

Result<Principal> Accounts::authenticate(std::string_view token) const {
  if (token.empty()) return fail(Errc::unauthenticated, Detail::missing_token, "missing bearer token");
  if (token.size() > kMaxTokenBytes) return invalidToken("token is too long");
  // base64url parts and dots only (also keeps a NUL from cutting the token short for libjwt).
  if (!std::all_of(token.begin(), token.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.';
      }))
    return invalidToken("token contains characters outside base64url");
  if (auto known = impl_->findVerified(token)) {
    if (nowMillis() >= known->tokenExpiresAt)
      return fail(Errc::unauthenticated, Detail::token_expired, "token has expired");
    return *known;
  }
  if (!headerIsHs256(token)) return invalidToken("token is malformed or not signed with HS256");

  const uint64_t generation = impl_->accountsGeneration.load();
  std::string text(token);
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, text.c_str(), impl_->secret.data(), static_cast<int>(impl_->secret.size())) != 0 || !raw)
    return invalidToken("token signature or format is invalid");
  JwtPtr jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return invalidToken("token is not signed with HS256");

  CString grants(jwt_get_grants_json(jwt.get(), nullptr));
  if (!grants) return invalidToken("token has no claims");
  auto claims = nlohmann::json::parse(grants.get(), nullptr, /*allow_exceptions=*/false);
  if (claims.is_discarded() || !claims.is_object()) return invalidToken("token claims are malformed");
  auto sub = stringClaim(claims, "sub");
  auto jti = stringClaim(claims, "jti");
  auto iat = intClaim(claims, "iat");
  auto exp = intClaim(claims, "exp");
  if (!sub || !isObjectId(*sub) || !jti || !isLowerHex(*jti, 2 * kJtiBytes) || !iat || !exp || *exp < 0 ||
      *exp > std::numeric_limits<int64_t>::max() / 1000)
    return invalidToken("token claims are missing or malformed");

  const UnixMillis expiresAt = *exp * 1000;
  if (nowMillis() >= expiresAt) return fail(Errc::unauthenticated, Detail::token_expired, "token has expired");
  BERTH_TRY(bool revoked, impl_->db.isTokenRevoked(*jti));
  if (revoked) return invalidToken("token has been revoked");
  auto user = impl_->db.getUser(*sub);
  if (!user) {
    if (user.error().code == Errc::not_found) return invalidToken("token's user no longer exists");
    return tl::unexpected<Error>(std::move(user.error()));
  }
  if (user->banned)
    return fail(Errc::permission_denied, Detail::account_banned, "account " + user->username + " is banned");
  Principal principal{publicUser(std::move(*user)), *jti, expiresAt};
  impl_->rememberVerified(std::move(text), principal, generation);
  return principal;
}

Result<void> Accounts::logout(const Principal& principal) {
  if (principal.tokenId.empty()) return invalidToken("no token to revoke");
  BERTH_TRYV(impl_->db.revokeToken(principal.tokenId, principal.tokenExpiresAt));
  impl_->forgetVerified();
  return {};
}

// --- users ---

Result<UserRecord> Accounts::createUser(const NewUser& newUser) {
  if (!isValidUsername(newUser.username))
    return fail(Errc::invalid_argument, "username must be 1-64 characters of [A-Za-z0-9._-]");
  BERTH_TRYV(validatePassword(newUser.password));
  if (newUser.guestExpiresAt && newUser.role != UserRole::guest)
    return fail(Errc::invalid_argument, "guest_expires_at is only allowed for guests");
  // Cheap check before the expensive hash; the store's own check below settles races.
  BERTH_TRY(auto existing, impl_->db.findUserByName(newUser.username));
  if (existing)
    return fail(Errc::already_exists, Detail::username_taken,
                "username " + newUser.username + " is already taken");
  BERTH_TRY(std::string hash, impl_->hashPassword(newUser.password));
  std::lock_guard lock(impl_->writeMutex);
  BERTH_TRY(auto user,
            impl_->createUserWithProject(newUser.username, std::move(hash), newUser.role, newUser.guestExpiresAt));
  return publicUser(std::move(user));
}

Result<UserRecord> Accounts::getUser(const std::string& id) const {
  BERTH_TRY(auto user, impl_->loadUser(id));
  return publicUser(std::move(user));
}

Result<std::vector<UserRecord>> Accounts::listUsers() const {
  BERTH_TRY(auto users, impl_->db.listUsers());
  for (auto& user : users) user.passwordHash.clear();
  return users;
}

Result<UserRecord> Accounts::updateUser(const std::string& id, const UserChange& change) {
  std::optional<std::string> newHash;
  if (change.password) {
    BERTH_TRYV(validatePassword(*change.password));
    BERTH_TRY(newHash, impl_->hashPassword(*change.password));
  }
  std::lock_guard lock(impl_->writeMutex);
  BERTH_TRY(UserRecord user, impl_->loadUser(id));
  const bool wasActiveAdmin = user.role == UserRole::admin && !user.banned;
  if (newHash) user.passwordHash = std::move(*newHash);
  if (change.role) {
    // Leaving the guest role drops the expiry unless the change sets one (refused below).
    if (user.role == UserRole::guest && *change.role != UserRole::guest) user.guestExpiresAt.reset();
    user.role = *change.role;
  }
  if (change.banned) user.banned = *change.banned;
  if (change.guestExpiresAt) user.guestExpiresAt = *change.guestExpiresAt;
  if (user.guestExpiresAt && user.role != UserRole::guest)
    return fail(Errc::invalid_argument, "guest_expires_at is only allowed for guests");
  const bool isActiveAdmin = user.role == UserRole::admin && !user.banned;
  if (wasActiveAdmin && !isActiveAdmin) {
    BERTH_TRY(size_t others, impl_->otherActiveAdmins(user.id));
    if (others == 0)
      return fail(Errc::state_conflict, "cannot demote or ban " + user.username + ": it is the last active admin");
  }
  BERTH_TRYV(impl_->db.updateUser(user));
  impl_->forgetVerified();
  return publicUser(std::move(user));
}

Result<void> Accounts::deleteUser(const std::string& id) {
  std::lock_guard lock(impl_->writeMutex);
  BERTH_TRY(UserRecord user, impl_->loadUser(id));
  if (user.role == UserRole::admin && !user.banned) {
    BERTH_TRY(size_t others, impl_->otherActiveAdmins(user.id));
    if (others == 0)
      return fail(Errc::state_conflict, "cannot delete " + user.username + ": it is the last active admin");
  }
  auto deleted = impl_->db.deleteUser(user.id);
  if (!deleted && deleted.error().code == Errc::not_found) return userNotFound(id);
  impl_->forgetVerified();
  return deleted;
}

// --- projects ---

Result<ProjectRecord> Accounts::createProject(const Principal& owner, std::string_view name) {
  if (!isValidName(name)) return fail(Errc::invalid_argument, "name must be 1-64 characters of [A-Za-z0-9-]");
  ProjectRecord project{newObjectId(), std::string(name), owner.user.id, nowMillis()};
  std::lock_guard lock(impl_->writeMutex);
  // The owner may have been deleted since its token was checked.
  BERTH_TRYV(impl_->loadUser(owner.user.id));
  BERTH_TRYV(impl_->db.createProject(project));
  BERTH_TRYV(withContext(impl_->db.putMembership(Membership{project.id, owner.user.id, ProjectRole::owner}),
                         "adding owner membership"));
  return project;
}

Result<ProjectRecord> Accounts::getProject(const Principal& principal, const std::string& id) const {
  return impl_->authorizer.visibleProject(principal, id);
}

Result<std::vector<ProjectRecord>> Accounts::listProjects(const Principal& principal) const {
  BERTH_TRY(auto visible, impl_->authorizer.visibleProjects(principal));
  if (!visible) return impl_->db.listProjects();
  std::vector<ProjectRecord> projects;
  projects.reserve(visible->size());
  for (const auto& id : *visible) {  // sorted by id, so the list is too
    auto project = impl_->db.getProject(id);
    if (!project) {
      if (project.error().code == Errc::not_found) continue;  // a dangling membership hides nothing
      return tl::unexpected<Error>(std::move(project.error()));
    }
    projects.push_back(std::move(*project));
  }
  return projects;
}

Result<ProjectRecord> Accounts::setProjectLimits(const std::string& id, const store::ProjectLimitOverrides& limits) {
  std::lock_guard lock(impl_->writeMutex);
  auto project = impl_->db.getProject(id);
  if (!project) {
    if (project.error().code == Errc::not_found)
      return fail(Errc::not_found, Detail::project_not_found, "project " + id + " not found");
    return tl::unexpected(std::move(project.error()));
  }
  project->limits = limits;
  BERTH_TRYV(impl_->db.updateProject(*project));
  return std::move(*project);
}

Result<Membership> Accounts::addMember(const Principal& principal, const std::string& projectId,
                                       const std::string& userId, ProjectRole role) {
  std::lock_guard lock(impl_->writeMutex);
  BERTH_TRY(auto project, impl_->authorizer.managedProject(principal, projectId));
  BERTH_TRYV(impl_->loadUser(userId));
  if (userId == project.ownerId && role != ProjectRole::owner)
    return fail(Errc::state_conflict, "the project's owner cannot be given a lesser role");
  Membership membership{project.id, userId, role};
  BERTH_TRYV(impl_->db.putMembership(membership));
  return membership;
}

Result<void> Accounts::removeMember(const Principal& principal, const std::string& projectId,
                                    const std::string& userId) {
  std::lock_guard lock(impl_->writeMutex);
  BERTH_TRY(auto project, impl_->authorizer.managedProject(principal, projectId));
  BERTH_TRYV(impl_->loadUser(userId));
  if (userId == project.ownerId) return fail(Errc::state_conflict, "the project's owner cannot be removed from it");
  auto removed = impl_->db.removeMembership(project.id, userId);
  if (!removed && removed.error().code == Errc::not_found)
    return fail(Errc::not_found, Detail::user_not_found,
                "user " + userId + " is not a member of project " + project.id);
  return removed;
}

}  // namespace berth::iam
