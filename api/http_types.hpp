#pragma once
// A request and a response as the handlers see them, independent of the HTTP
// library: the server adapter (http_server.cpp) converts, and tests or the
// compatibility dialects can call the handlers without a socket.
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace berth::api {

// Query parameters, decoded; a key may repeat (the parsers refuse that).
using QueryParams = std::multimap<std::string, std::string>;

struct HttpRequest {
  std::string method;         // "GET"; HEAD is routed as GET
  std::string path;           // raw path without the query, not percent-decoded
  QueryParams query;
  std::string body;
  std::string authorization;  // the Authorization header, empty if absent
  std::string remoteAddress;  // peer IP; empty for the unix socket
};

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
};

}  // namespace berth::api
