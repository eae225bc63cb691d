#pragma once
// A request and a response as the handlers see them, independent of the HTTP
// library: the server adapter (http_server.cpp) converts, and tests or the
// compatibility dialects can call the handlers without a socket.
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::api {

// Query parameters, decoded; a key may repeat (the parsers refuse that).
using QueryParams = std::multimap<std::string, std::string>;

// The body of a route that streams it (Route::streamsBody), not read yet:
// each call waits for the next chunk (an empty view = the end); the view
// stays valid until the next call. Reading starts only when a handler asks,
// so the dispatcher's checks come first.
using BodyReader = std::function<Result<std::string_view>()>;

struct HttpRequest {
  std::string method;         // "GET"; HEAD is routed as GET
  std::string path;           // raw path without the query, not percent-decoded
  QueryParams query;
  std::string body;           // the whole body, unless bodyReader is set
  BodyReader bodyReader;      // set: the body is streamed (body is empty)
  std::string authorization;  // the Authorization header, empty if absent
  std::string remoteAddress;  // peer IP; empty for the unix socket
  std::vector<std::pair<std::string, std::string>> headers;  // every header, as sent

  // The first header of that name (case-insensitive), empty if absent.
  std::string header(std::string_view name) const;
};

// A connection a handler takes over (an event stream, a WebSocket): the HTTP
// layer writes nothing of the response and hands the socket over as it is,
// with the request read and nothing after it.
using ConnectionTaker = std::function<void(UniqueFd socket)>;

// A body produced piece by piece (chunked), after `body`: each call appends
// the next piece to `chunk` and returns false once the stream has ended.
// `clientGone` tells it the client has left, so it can stop waiting.
using BodyStream = std::function<bool(std::string& chunk, const std::function<bool()>& clientGone)>;

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  BodyStream stream;  // empty: the body is complete
  // Set: the connection is the taker's (status and headers above only go to the access log).
  ConnectionTaker takeOver;
};

}  // namespace berth::api
