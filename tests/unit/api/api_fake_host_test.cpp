// The whole request path (route table, authentication, authorization, the
// manager, the error table) over a fake host: what a client sees when the
// host fails under a start or a pause. No root, no sockets.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "api/event_hub.hpp"
#include "api/metrics.hpp"
#include "api/service.hpp"
#include "common/files.hpp"
#include "iam/accounts.hpp"
#include "iam/authorizer.hpp"
#include "runtime/manager.hpp"
#include "store/store.hpp"
#include "support/fake_host.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

class ApiOverFakes {
 public:
  ApiOverFakes() : kernel_(clock_) {
    auto opened = store::Store::open(dir_.sub("db"), {.syncOnCommit = false});
    REQUIRE(opened);
    store_ = std::move(*opened);
    authorizer_ = std::make_unique<iam::Authorizer>(*store_);
    iam::AccountsConfig accounts;
    accounts.dataDir = dir_.path();
    accounts.fastPasswordHashing = true;
    auto madeAccounts = iam::Accounts::open(accounts, *store_, *authorizer_);
    REQUIRE(madeAccounts);
    accounts_ = std::move(*madeAccounts);
    runtime::RuntimeConfig config;
    config.dataDir = dir_.path();
    config.runDir = dir_.sub("run");
    config.timeouts.freeze = 200ms;
    auto manager = runtime::ContainerManager::open(config, *store_, testing::fakeHost(kernel_, clock_));
    REQUIRE(manager);
    manager_ = std::move(*manager);
    auto hub = api::EventHub::start(
        [this](const std::string& afterId, size_t limit) { return manager_->eventsAfter(afterId, limit); },
        [this] { return manager_->lastEventId(); });
    REQUIRE(hub);
    events_ = std::move(*hub);
    api_ = std::make_unique<api::Api>(*manager_, *accounts_, *authorizer_, metrics_, *events_);
    auto password = readFile(dir_.sub("admin.password"));
    REQUIRE(password);
    while (!password->empty() && password->back() == '\n') password->pop_back();
    auto login = accounts_->login("admin", *password);
    REQUIRE(login);
    token_ = login->token;
  }

  struct Answer {
    int status = 0;
    Json body;
    std::string text;
  };
  Answer call(const std::string& method, const std::string& path, const std::string& body = "") {
    api::HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    request.authorization = "Bearer " + token_;
    request.remoteAddress = "127.0.0.1";
    auto outcome = api_->handle(request);
    return {outcome.response.status, Json::parse(outcome.response.body, nullptr, false), outcome.response.body};
  }

  testing::FakeKernel& kernel() { return kernel_; }

 private:
  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::FakeKernel kernel_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<iam::Authorizer> authorizer_;
  std::unique_ptr<iam::Accounts> accounts_;
  std::unique_ptr<runtime::ContainerManager> manager_;
  api::Metrics metrics_;
  std::unique_ptr<api::EventHub> events_;
  std::unique_ptr<api::Api> api_;
  std::string token_;
};

}  // namespace

TEST_CASE("api over fakes: an ENOENT from the cgroup during a start answers 503 without a host path, not 404") {
  ApiOverFakes f;
  auto created = f.call("POST", "/api/v1/containers", R"({"name":"web","autostart":false})");
  REQUIRE(created.status == 201);
  std::string id = created.body["data"]["id"];
  std::string runtimeId;
  {
    std::lock_guard lock(f.kernel().mutex);
    REQUIRE(f.kernel().groups.size() == 1);
    runtimeId = f.kernel().groups.begin()->first;
    f.kernel().group(runtimeId).failNextWaitEmpty =
        sysFail("open /sys/fs/cgroup/unified/berth/" + runtimeId + "/cgroup.events", ENOENT).value();
  }
  auto started = f.call("POST", "/api/v1/containers/" + id + "/start");
  CHECK(started.status == 503);
  CHECK(started.body["code"] == "EXTERNAL_SERVICE_ERROR");
  CHECK(started.text.find("/sys/fs/cgroup") == std::string::npos);
  CHECK(started.body["data"]["status"] == "failed");
  auto logs = f.call("GET", "/api/v1/containers/" + id + "/status-logs");
  REQUIRE(logs.status == 200);
  CHECK(logs.text.find("/sys/fs/cgroup") == std::string::npos);

  auto again = f.call("POST", "/api/v1/containers/" + id + "/start");
  CHECK(again.status == 200);
  CHECK(again.body["data"]["status"] == "running");
}

TEST_CASE("api over fakes: a freeze the host never confirms answers 503 and leaves the container running") {
  ApiOverFakes f;
  auto created = f.call("POST", "/api/v1/containers", R"({"name":"web"})");
  REQUIRE(created.status == 201);
  std::string id = created.body["data"]["id"];
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().groups.begin()->second.confirmsFreeze = false;
  }
  auto paused = f.call("POST", "/api/v1/containers/" + id + "/pause");
  CHECK(paused.status == 503);
  CHECK(paused.text.find("/fake") == std::string::npos);
  CHECK(f.call("GET", "/api/v1/containers/" + id).body["data"]["status"] == "running");
}

TEST_CASE("api over fakes: an exec goes to the container's monitor with the request as parsed, and is recorded") {
  ApiOverFakes api;
  auto created = api.call("POST", "/api/v1/containers", R"({"name":"ex"})");
  REQUIRE(created.status == 201);
  const std::string id = created.body["data"]["id"];
  auto done = api.call("POST", "/api/v1/containers/" + id + "/exec",
                       R"({"command":["sh","-c","true"],"env":{"A":"1"},"working_dir":"/srv","timeout_s":5})");
  REQUIRE(done.status == 200);
  CHECK(done.body["data"]["exit_code"] == 0);
  CHECK(done.body["data"]["stdout"] == "sh\n-c\ntrue\n");
  REQUIRE(api.kernel().execRequests.size() == 1);
  const runtime::ExecRequest& sent = api.kernel().execRequests[0];
  CHECK(sent.command == std::vector<std::string>{"sh", "-c", "true"});
  CHECK(sent.env == std::map<std::string, std::string>{{"A", "1"}});
  CHECK(sent.workingDir == "/srv");
  CHECK(sent.timeout == std::chrono::seconds(5));
  CHECK_FALSE(sent.terminal);

  auto listed = api.call("GET", "/api/v1/containers/" + id + "/execs");
  REQUIRE(listed.status == 200);
  REQUIRE(listed.body["data"]["execs"].size() == 1);
  CHECK(listed.body["data"]["execs"][0]["id"] == done.body["data"]["id"]);
  CHECK(api.call("GET", "/api/v1/containers/" + id + "/execs/" + done.body["data"]["id"].get<std::string>()).status == 200);
  CHECK(api.call("GET", "/api/v1/containers/" + id + "/execs/nope").body["code"] == "INVALID_ID_FORMAT");

  // Not running: refused with the manage-response object, the monitor never asked.
  REQUIRE(api.call("POST", "/api/v1/containers/" + id + "/stop").status == 200);
  auto refused = api.call("POST", "/api/v1/containers/" + id + "/exec", R"({"command":["true"]})");
  CHECK(refused.status == 400);
  CHECK(refused.body["code"] == "OPERATION_STATE_CONFLICT");
  CHECK(refused.body["data"]["status"] == "stopped");
  CHECK(api.kernel().execRequests.size() == 1);
}
