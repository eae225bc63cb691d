#pragma once
// The HTTP API as one function: a request in, a response out. It finds the
// route, runs the checks the route table asks for (authentication, id format,
// visibility, role, guest and container expiry) in the order of API.md §2,
// calls the handler and renders every failure as the envelope. It never
// throws: an exception becomes a 500 and a log line.
#include <memory>
#include <string>

#include "api/event_hub.hpp"
#include "api/http_types.hpp"
#include "api/metrics.hpp"
#include "iam/accounts.hpp"
#include "iam/authorizer.hpp"
#include "runtime/manager.hpp"

namespace berth::api {

class Api {
 public:
  Api(runtime::ContainerManager& containers, iam::Accounts& accounts, const iam::Authorizer& authorizer,
      Metrics& metrics, EventHub& events);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  struct Outcome {
    HttpResponse response;
    std::string callerId;  // the authenticated user, empty if none (for the access log)
  };
  Outcome handle(const HttpRequest& request);
  // Whether the route of this request streams its body (HttpRequest::bodyReader)
  // instead of having it read whole, up to kMaxBodyBytes, before handle().
  bool streamsBody(std::string_view method, std::string_view path) const;

  Metrics& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::api
