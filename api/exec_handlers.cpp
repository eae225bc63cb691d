// Processes inside a running container (API.md §13): exec with its output,
// the exec records, and the terminal WebSocket. The runtime starts them in
// the container's monitor; a terminal's bytes are bridged by TerminalSessions.
#include <memory>

#include "api/handlers.hpp"
#include "api/json_shapes.hpp"
#include "api/terminal_sessions.hpp"
#include "api/validation.hpp"

namespace berth::api::handlers {

namespace {

// An exec's own faults are the client's: a working dir the container lacks.
Failure execFailure(Core& core, Error error, const std::string& id) {
  if (error.code == Errc::container_config) error = Error{Errc::invalid_argument, 0, error.describe(), Detail::none};
  return withManageData(core, std::move(error), id, "exec");
}

}  // namespace

HandlerResult execInContainer(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto request, parseExecBody(call.http.body));
  auto exec = core.containers.startExec(*call.container, request);
  if (!exec) return tl::unexpected(execFailure(core, std::move(exec.error()), call.container->id));
  BERTH_TRY(auto record, (*exec)->wait());
  return ok("Command executed", execJson(record));
}

HandlerResult listExecs(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto records, core.containers.listExecs(*call.container));
  auto list = nlohmann::ordered_json::array();
  for (const auto& record : records) list.push_back(execJson(record));
  return ok("Execs retrieved successfully", nlohmann::ordered_json{{"execs", std::move(list)}});
}

HandlerResult getExec(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto record, core.containers.getExec(*call.container, call.params.get("exec_id")));
  return ok("Exec retrieved successfully", execJson(record));
}

HandlerResult containerTerminal(Core& core, Call& call) {
  BERTH_TRY(auto query, parseTerminalQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  if (!core.terminals.hasRoom()) return fail(Errc::unavailable, "too many terminals are open; retry later");
  UpgradeRequest upgrade{call.http.method, call.http.path, call.http.headers};
  // The upgrade is checked before anything runs in the container.
  BERTH_TRY(auto webSocket, WebSocketConnection::accept(upgrade));
  runtime::ExecRequest request;
  request.command = std::move(query.command);
  request.timeout = std::chrono::seconds(0);
  request.terminal = query.size;
  auto exec = core.containers.startExec(*call.container, request);
  if (!exec) return tl::unexpected(execFailure(core, std::move(exec.error()), call.container->id));

  HttpResponse response;
  response.status = 101;
  std::string head = webSocket->takeOutput();
  // A std::function is copyable; the connection and the handle are not.
  auto pending = std::make_shared<std::pair<std::unique_ptr<WebSocketConnection>, std::unique_ptr<runtime::ExecHandle>>>(
      std::move(webSocket), std::move(*exec));
  response.takeOver = [&terminals = core.terminals, head = std::move(head), pending](UniqueFd socket) mutable {
    terminals.add(std::move(socket), std::move(head), std::move(pending->first), std::move(pending->second));
  };
  return response;
}

}  // namespace berth::api::handlers
