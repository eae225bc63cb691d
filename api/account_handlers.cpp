// Handlers of /api/v1/auth, /users and /projects (API.md §3). Accounts owns
// the rules of accounts (what a username may be), asking the Authorizer who
// may see or manage a project; these handlers parse, call it and render.
#include "api/envelope.hpp"
#include "api/handlers.hpp"
#include "api/json_shapes.hpp"
#include "api/validation.hpp"
#include "common/clock.hpp"

namespace berth::api::handlers {

namespace {
using Json = nlohmann::ordered_json;
}  // namespace

HandlerResult login(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto credentials, parseLoginBody(call.http.body));
  auto session = core.accounts.login(credentials.username, credentials.password);
  if (!session) {
    Failure failure(std::move(session.error()));
    if (auto wait = core.accounts.loginRetryAfter(credentials.username)) failure.retryAfter = *wait;
    return tl::unexpected(std::move(failure));
  }
  call.callerId = session->user.id;
  return ok("Login successful", Json{{"token", session->token},
                                     {"expires_at", formatIsoMillis(session->expiresAt)},
                                     {"user", userJson(session->user)}});
}

HandlerResult logout(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  BERTH_TRYV(core.accounts.logout(call.caller()));
  return ok("Logout successful", nullptr);
}

HandlerResult createUser(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto user, parseNewUserBody(call.http.body));
  BERTH_TRY(auto record, core.accounts.createUser(user));
  return created("User created successfully", userJson(record));
}

HandlerResult listUsers(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto users, core.accounts.listUsers());
  Json list = Json::array();
  for (const auto& user : users) list.push_back(userJson(user));
  return ok("Users retrieved successfully", Json{{"users", std::move(list)}});
}

HandlerResult currentUser(Core&, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  return ok("User retrieved successfully", userJson(call.caller().user));
}

HandlerResult getUser(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto user, core.accounts.getUser(call.params.get("id")));
  return ok("User retrieved successfully", userJson(user));
}

HandlerResult updateUser(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto change, parseUserChangeBody(call.http.body));
  BERTH_TRY(auto user, core.accounts.updateUser(call.params.get("id"), change));
  return ok("User updated successfully", userJson(user));
}

HandlerResult deleteUser(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  std::string id = call.params.get("id");
  BERTH_TRY(auto user, core.accounts.getUser(id));
  BERTH_TRYV(core.accounts.deleteUser(id));
  return ok("User deleted successfully", userJson(user));
}

HandlerResult createProject(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(std::string name, parseNewProjectBody(call.http.body));
  BERTH_TRY(auto project, core.accounts.createProject(call.caller(), name));
  return created("Project created successfully", projectJson(project));
}

HandlerResult listProjects(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto projects, core.accounts.listProjects(call.caller()));
  Json list = Json::array();
  for (const auto& project : projects) list.push_back(projectJson(project));
  return ok("Projects retrieved successfully", Json{{"projects", std::move(list)}});
}

HandlerResult getProject(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto project, core.accounts.getProject(call.caller(), call.params.get("id")));
  BERTH_TRY(auto quota, core.containers.projectQuota(project));
  return ok("Project retrieved successfully", projectJson(project, quota));
}

HandlerResult updateProject(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto limits, parseProjectChangeBody(call.http.body));
  BERTH_TRY(auto project, core.accounts.setProjectLimits(call.params.get("id"), limits));
  BERTH_TRY(auto quota, core.containers.projectQuota(project));
  return ok("Project updated successfully", projectJson(project, quota));
}

HandlerResult addProjectMember(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto member, parseNewMemberBody(call.http.body));
  BERTH_TRY(auto membership, core.accounts.addMember(call.caller(), call.params.get("id"), member.userId, member.role));
  return created("Member added successfully", membershipJson(membership));
}

HandlerResult removeProjectMember(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  std::string projectId = call.params.get("id");
  std::string userId = call.params.get("user_id");
  BERTH_TRYV(core.accounts.removeMember(call.caller(), projectId, userId));
  return ok("Member removed successfully", Json{{"project_id", projectId}, {"user_id", userId}});
}

}  // namespace berth::api::handlers
