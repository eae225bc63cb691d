// libFuzzer target over the request parsing and validation of api/ (bodies,
// query strings, route matching). The property: any input is either accepted
// with values inside the documented bounds, or refused as a client error
// (4xx); never a crash, a hang, a sanitizer report or a 5xx.
//
// The first byte picks the parser, the rest is its input. Query inputs are
// "k=v&k=v" strings (split here, as httplib would).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/errors.hpp"
#include "api/router.hpp"
#include "api/routes.hpp"
#include "api/validation.hpp"
#include "common/ids.hpp"
#include "runtime/events.hpp"

namespace {

using namespace berth;
using namespace berth::api;

constexpr UnixMillis kNow = 1'700'000'000'000;

void require(bool condition) {
  if (!condition) std::abort();
}

// A refusal must be the client's fault.
template <typename T>
void requireClientError(const Result<T>& result) {
  if (result) return;
  WireError wire = toWireError(result.error());
  require(wire.status >= 400 && wire.status < 500);
  require(!wire.message.empty());
}

QueryParams splitQuery(std::string_view text) {
  QueryParams query;
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    size_t eq = pair.find('=');
    query.emplace(std::string(pair.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return query;
}

void checkPage(const store::PageRequest& page) {
  require(page.page >= 1 && page.page <= kMaxPage);
  require(page.limit >= 1 && page.limit <= kMaxPageLimit);
}

void checkResources(const store::Resources& resources) {
  for (const auto& limit : {resources.memoryMb, resources.pidsMax, resources.diskMb})
    require(!limit || *limit >= 1);
  require(!resources.cpuMillicores || *resources.cpuMillicores >= 1);
}

void fuzzCreate(std::string_view body) {
  auto request = parseCreateContainerBody(body, kNow);
  requireClientError(request);
  if (!request) return;
  require(isValidName(request->name));
  require(!request->image.empty());
  require(request->projectId.empty() || isObjectId(request->projectId));
  // Empty: the image's working dir (or /) at create.
  require(request->workingDir.empty() || request->workingDir.front() == '/');
  require(!request->expiresAt || *request->expiresAt > kNow);
  require(request->networkMode == "none" || request->networkMode == "bridge");
  require(request->ports.size() <= 64);
  for (const auto& port : request->ports) require(port.containerPort >= 1 && port.hostPort >= 1);
  checkResources(request->resources);
}

void fuzzExec(std::string_view body) {
  auto request = parseExecBody(body);
  requireClientError(request);
  if (request) {
    require(!request->command.empty() && !request->command.front().empty());
    require(request->timeout.count() >= 1 && request->timeout.count() <= static_cast<int64_t>(kMaxExecTimeoutSeconds));
    require(!request->workingDir || request->workingDir->front() == '/');
    for (const auto& [key, value] : request->env) require(key.find('=') == std::string::npos && value.find('\0') == std::string::npos);
  }
  auto resize = parseTerminalMessage(body);
  requireClientError(resize);
  if (resize) require(resize->cols >= 1 && resize->rows >= 1 && resize->cols <= kMaxTerminalCells && resize->rows <= kMaxTerminalCells);
}

void fuzzUpdate(std::string_view body) {
  auto update = parseUpdateContainerBody(body, kNow);
  requireClientError(update);
  if (!update) return;
  require(!update->name || isValidName(*update->name));
  if (update->resources) checkResources(update->resources->applyTo({}));
}

void fuzzQueries(std::string_view text) {
  QueryParams query = splitQuery(text);
  auto list = parseContainerListQuery(query, true);
  requireClientError(list);
  if (list) {
    checkPage(list->page);
    require(!list->projectId || isObjectId(*list->projectId));
    require(list->status != store::ContainerStatus::deleted);
  }
  auto logs = parseStatusLogQuery(query);
  requireClientError(logs);
  if (logs) checkPage(logs->page);
  auto terminal = parseTerminalQuery(query);
  requireClientError(terminal);
  if (terminal) require(!terminal->command.empty() && terminal->size.cols >= 1 && terminal->size.rows >= 1);
  auto operation = parseOperationQuery(query);
  requireClientError(operation);
  if (operation && operation->timeout) require(operation->timeout->count() <= static_cast<int64_t>(kMaxOperationTimeoutSeconds));
  requireClientError(parseDeleteQuery(query));
  requireClientError(parseGetContainerQuery(query));
  requireClientError(expectNoQuery(query));
  auto events = parseEventsQuery(query, text.substr(0, 30));
  requireClientError(events);
  if (events) {
    require(!events->afterId || isObjectId(*events->afterId));
    require(!events->containerId || isObjectId(*events->containerId));
    for (const auto& type : events->types) require(runtime::isEventType(type));
  }
}

void fuzzAccountBodies(std::string_view body) {
  requireClientError(parseLoginBody(body));
  requireClientError(parseNewUserBody(body));
  requireClientError(parseUserChangeBody(body));
  requireClientError(parseNewProjectBody(body));
  auto member = parseNewMemberBody(body);
  requireClientError(member);
  if (member) require(isObjectId(member->userId));
  requireClientError(expectEmptyBody(body));
}

void fuzzRouting(std::string_view text) {
  size_t space = text.find(' ');
  std::string_view method = text.substr(0, space);
  std::string_view path = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  auto lookup = findRoute(apiRoutes(), method, path);
  require(!lookup.route || lookup.pathKnown);
  if (lookup.route) require(lookup.route->method == method);
  requireClientError(parseOperationName(path));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: fuzzCreate(input); break;
    case 1: fuzzUpdate(input); break;
    case 2: fuzzQueries(input); break;
    case 3: fuzzAccountBodies(input); break;
    case 4: fuzzExec(input); break;
    default: fuzzRouting(input); break;
  }
  return 0;
}
