#pragma once
// The handlers of the route table (routes.cpp). Each parses what the
// dispatcher has not checked yet, calls the runtime and renders the result.
#include "api/event_hub.hpp"
#include "api/routes.hpp"

namespace berth::api::handlers {

// Containers (container_handlers.cpp)
HandlerResult listContainers(Core& core, Call& call);
HandlerResult listProjectContainers(Core& core, Call& call);
HandlerResult createContainer(Core& core, Call& call);
HandlerResult getContainer(Core& core, Call& call);
HandlerResult updateContainer(Core& core, Call& call);
HandlerResult deleteContainer(Core& core, Call& call);
HandlerResult operateContainer(Core& core, Call& call);
HandlerResult containerStatusLogs(Core& core, Call& call);

// A failed change to one container, with the manage-response object (API.md §4) as its data.
Failure withManageData(Core& core, Error error, const std::string& id, std::string_view operation);

// Processes inside a container (exec_handlers.cpp)
HandlerResult execInContainer(Core& core, Call& call);
HandlerResult listExecs(Core& core, Call& call);
HandlerResult getExec(Core& core, Call& call);
HandlerResult containerTerminal(Core& core, Call& call);

// storage_handlers.cpp
HandlerResult createSnapshot(Core& core, Call& call);
HandlerResult listSnapshots(Core& core, Call& call);
HandlerResult restoreSnapshot(Core& core, Call& call);
HandlerResult deleteSnapshot(Core& core, Call& call);
HandlerResult copyContainer(Core& core, Call& call);

// Images (image_handlers.cpp)
HandlerResult listImages(Core& core, Call& call);
HandlerResult importImage(Core& core, Call& call);
HandlerResult deleteImage(Core& core, Call& call);

// Container output (log_handlers.cpp)
HandlerResult containerLogs(Core& core, Call& call);

// Event streams (event_handlers.cpp)
HandlerResult eventStream(Core& core, Call& call);
HandlerResult eventWebSocket(Core& core, Call& call);
// The upgrade of a WebSocket event stream, for /api/v1 and the dialects (400 before any switch).
HandlerResult webSocketStream(Core& core, const Call& call, Subscription subscription);

// The seeds 001/004 dialect (dialect_containers.cpp)
HandlerResult dialectStartStop(Core& core, Call& call, runtime::Operation operation);
HandlerResult dialectDelete(Core& core, Call& call);
HandlerResult dialectSettings(Core& core, Call& call);
HandlerResult dialectEvents(Core& core, Call& call);

// The seed 003 dialect (dialect_environments.cpp)
HandlerResult environmentOperate(Core& core, Call& call);

// Auth, users, projects (account_handlers.cpp)
HandlerResult login(Core& core, Call& call);
HandlerResult logout(Core& core, Call& call);
HandlerResult createUser(Core& core, Call& call);
HandlerResult listUsers(Core& core, Call& call);
HandlerResult currentUser(Core& core, Call& call);
HandlerResult getUser(Core& core, Call& call);
HandlerResult updateUser(Core& core, Call& call);
HandlerResult deleteUser(Core& core, Call& call);
HandlerResult createProject(Core& core, Call& call);
HandlerResult listProjects(Core& core, Call& call);
HandlerResult getProject(Core& core, Call& call);
HandlerResult updateProject(Core& core, Call& call);
HandlerResult addProjectMember(Core& core, Call& call);
HandlerResult removeProjectMember(Core& core, Call& call);

// Service (service_handlers.cpp)
HandlerResult health(Core& core, Call& call);
HandlerResult metrics(Core& core, Call& call);
HandlerResult openapi(Core& core, Call& call);

}  // namespace berth::api::handlers
