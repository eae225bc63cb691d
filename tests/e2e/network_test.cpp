// Networking over HTTP (API.md §11): lo in every container, a bridge per
// project, addresses for a container's whole life, published ports, and
// nothing left on the host afterwards. Traffic stays on loopback and inside
// the bridges the fixture's service makes (10.200.0.0/13).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "common/files.hpp"
#include "net/netlink.hpp"

#include "e2e/raw_socket.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

const std::vector<std::string> kIdle = {"/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"};

// A loopback port nothing listens on right now (the kernel's pick, released).
int freeLoopbackPort() {
  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(sock);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(sock.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
  return ntohs(address.sin_port);
}

// Whether ip:port (127.0.0.1 unless given) accepts a connection and answers `expect` to a line.
bool answers(int port, const std::string& expect, const std::string& ip = "127.0.0.1") {
  int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  UniqueFd owned(sock);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::inet_pton(AF_INET, ip.c_str(), &address.sin_addr) == 1);
  if (::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return false;
  sendAll(sock, "ping\n");
  std::string got;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got.find(expect) == std::string::npos && std::chrono::steady_clock::now() < end)
    if (!readSome(sock, got, std::chrono::milliseconds(500))) break;
  return got.find(expect) != std::string::npos;
}

// Waits for the host to have `count` links with the service's prefix (a veth's removal is queued).
bool awaitLinks(const Service& service, size_t count) {
  for (int i = 0; i < 200; ++i) {
    if (service.hostLinks().size() == count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  INFO("links: " << Json(service.hostLinks()).dump());
  return false;
}

// The container's server answers one connection at a time and restarts in between.
bool answersSoon(int port, const std::string& expect, const std::string& ip = "127.0.0.1") {
  for (int i = 0; i < 50; ++i) {
    if (answers(port, expect, ip)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

Json bridged(const std::string& name, const std::vector<std::string>& command, Json extra = Json::object()) {
  Json body{{"name", name}, {"network", "bridge"}, {"command", command}};
  body.update(extra);
  return body;
}

}  // namespace

TEST_CASE("network: none has only lo, up; bridge has eth0 with its address, MAC, route and /etc/hosts") {
  Service service;
  const std::string& admin = service.adminToken();
  Json plain = service.createContainer(
      admin, {{"name", "plain"}, {"command", {"/bin/sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags; echo listed; sleep 1000"}}});
  CHECK(plain["network"] == Json{{"mode", "none"}, {"ip", nullptr}});
  CHECK(plain["ports"] == Json::array());
  REQUIRE(service.awaitLog(plain["id"], "listed"));
  std::string plainLog = service.logsOf(plain["id"]);
  CHECK(plainLog.find("eth0") == std::string::npos);
  CHECK(plainLog.find("0x9") != std::string::npos);  // IFF_UP | IFF_LOOPBACK

  Json web = service.createContainer(
      admin, bridged("web", {"/bin/sh", "-c",
                             "cat /sys/class/net/eth0/address; ip -4 addr show eth0; ip route; cat /etc/hosts /etc/hostname;"
                             " nc -w 1 $(ip route | awk '/default/ {print $3}') 9 </dev/null; echo probed; sleep 1000"}));
  const Json& network = web["network"];
  CHECK(network["mode"] == "bridge");
  std::string ip = network["ip"];
  std::string gateway = network["gateway"];
  CHECK(ip.rfind("10.", 0) == 0);
  CHECK(gateway.substr(0, gateway.rfind('.')) == ip.substr(0, ip.rfind('.')));
  CHECK(gateway.substr(gateway.rfind('.')) == ".1");
  REQUIRE(service.awaitLog(web["id"], "probed"));
  std::string log = service.logsOf(web["id"]);
  CHECK(log.find(network["mac"].get<std::string>()) != std::string::npos);
  CHECK(log.find("inet " + ip + "/24") != std::string::npos);
  CHECK(log.find("default via " + gateway) != std::string::npos);
  CHECK(log.find(ip + "\tweb") != std::string::npos);
  CHECK(log.find("127.0.0.1\tlocalhost") != std::string::npos);

  // Its connection attempt to the gateway (refused) went out and came back through eth0.
  Reply info = service.get(containerPath(web["id"]) + "?runtime=true", admin);
  REQUIRE(info.status == 200);
  CHECK(info.data()["runtime_info"]["network_rx_bytes"].get<uint64_t>() > 0);
  CHECK(info.data()["runtime_info"]["network_tx_bytes"].get<uint64_t>() > 0);
  CHECK(service.get(containerPath(plain["id"]) + "?runtime=true", admin).data()["runtime_info"]["network_rx_bytes"].is_null());
}

TEST_CASE("network: containers of one project reach each other; those of another project do not") {
  Service service;
  const std::string& admin = service.adminToken();
  // The server answers each line with "pong-<line>": an answer proves the bytes went both ways.
  Json server = service.createContainer(
      admin, bridged("server", {"/bin/sh", "-c",
                                "printf 'read line; echo pong-$line\\n' > /serve; exec nc -ll -p 7000 -e /bin/sh /serve"}));
  std::string serverIp = server["network"]["ip"];
  std::string probe = "sleep 0.3; if echo hello | nc -w 2 " + serverIp +
                      " 7000 | grep -q pong-hello; then echo reached; else echo blocked; fi; sleep 1000";

  Json neighbour = service.createContainer(admin, bridged("neighbour", {"/bin/sh", "-c", probe}));
  REQUIRE(service.awaitLog(neighbour["id"], "ed\n"));
  CHECK(service.logsOf(neighbour["id"]).find("reached") != std::string::npos);

  TestUser other = service.createUser("other");
  Json stranger = service.createContainer(other.token, bridged("stranger", {"/bin/sh", "-c", probe}));
  CHECK(stranger["network"]["ip"].get<std::string>().substr(0, 9) != serverIp.substr(0, 9));  // another /24
  REQUIRE(service.awaitLog(stranger["id"], "ed\n"));
  CHECK(service.logsOf(stranger["id"]).find("blocked") != std::string::npos);
  std::set<std::string> links;
  for (const std::string& link : service.hostLinks()) links.insert(link);
  CHECK(links.size() == 5);  // two bridges, three veths
}

TEST_CASE("network: the address stays through stop, start, a service crash and a host boot; delete frees it") {
  Service service;
  const std::string& admin = service.adminToken();
  Json first = service.createContainer(admin, bridged("first", kIdle));
  std::string ip = first["network"]["ip"];
  std::string id = first["id"];
  service.operate(admin, id, "stop");
  CHECK(awaitLinks(service, 1));  // the bridge stays; the veth goes
  service.operate(admin, id, "start");
  CHECK(service.getContainer(id, admin)["network"]["ip"] == ip);

  service.crash();
  service.start();
  Json afterCrash = service.getContainer(id, admin);
  CHECK(afterCrash["status"] == "running");
  CHECK(afterCrash["network"]["ip"] == ip);
  CHECK(service.hostLinks().size() == 2);  // bridge and veth, untouched by the crash

  service.crash();
  service.simulateHostBoot({afterCrash});
  CHECK(service.hostLinks().empty());
  service.start();
  Json afterBoot = service.getContainer(id, admin);
  CHECK(afterBoot["status"] == "running");  // autostart
  CHECK(afterBoot["network"]["ip"] == ip);
  CHECK(service.hostLinks().size() == 2);

  REQUIRE(service.del(containerPath(id) + "?force=true", admin).status == 200);
  Json next = service.createContainer(admin, bridged("next", kIdle));
  CHECK(next["network"]["ip"] == ip);
}

TEST_CASE("network: a veth removed while berthd was down is attached again at its start; the host reaches the container") {
  Service service;
  const std::string& admin = service.adminToken();
  Json server = service.createContainer(
      admin, bridged("server", {"/bin/sh", "-c", "while true; do echo pong | nc -l -p 7000; done"}));
  std::string ip = server["network"]["ip"];
  REQUIRE(answersSoon(7000, "pong", ip));  // the host reaches every container address through the bridges
  service.crash();
  std::string veth;
  for (const std::string& link : service.hostLinks())
    if (link.find('-') == std::string::npos) veth = link;
  REQUIRE_FALSE(veth.empty());
  auto netlink = net::Netlink::open();
  REQUIRE(netlink);
  REQUIRE(netlink->deleteLink(veth));
  service.start();
  CHECK(awaitLinks(service, 2));
  CHECK(answersSoon(7000, "pong", ip));
  CHECK(service.getContainer(server["id"], admin)["status"] == "running");
}

TEST_CASE("network: 16 concurrent creates get distinct addresses") {
  Service service;
  std::vector<std::thread> creators;
  std::mutex mutex;
  std::vector<Reply> replies;
  for (int i = 0; i < 16; ++i) {
    creators.emplace_back([&, i] {
      Reply reply = service.post("/api/v1/containers", service.adminToken(),
                                 bridged("c" + std::to_string(i), kIdle).dump());
      std::lock_guard lock(mutex);
      replies.push_back(std::move(reply));
    });
  }
  for (auto& creator : creators) creator.join();
  std::set<std::string> addresses;
  for (const Reply& reply : replies) {
    INFO(reply.text);
    REQUIRE(reply.status == 201);
    CHECK(reply.data()["status"] == "running");
    addresses.insert(reply.data()["network"]["ip"].get<std::string>());
  }
  CHECK(addresses.size() == 16);
}

TEST_CASE("network: a published port answers on loopback while the container runs; conflicts are 409 PORT_CONFLICT") {
  Service service;
  const std::string& admin = service.adminToken();
  int hostPort = freeLoopbackPort();
  Json ports = Json::array({{{"container_port", 80}, {"host_port", hostPort}}});
  Json web = service.createContainer(
      admin, bridged("web", {"/bin/sh", "-c", "while true; do echo pong | nc -l -p 80; done"}, {{"ports", ports}}));
  CHECK(web["ports"] == Json::parse(R"([{"container_port":80,"host_port":)" + std::to_string(hostPort) +
                                    R"(,"protocol":"tcp","host_ip":"127.0.0.1"}])"));
  CHECK(answersSoon(hostPort, "pong"));

  Reply clash = service.post("/api/v1/containers", admin,
                             bridged("clash", kIdle, {{"ports", {{{"container_port", 81}, {"host_port", hostPort}, {"host_ip", "0.0.0.0"}}}}}).dump());
  CHECK(clash.status == 409);
  CHECK(clash.code() == "PORT_CONFLICT");

  // A crash of the service changes nothing for the running container's listener.
  service.crash();
  CHECK(answersSoon(hostPort, "pong"));
  service.start();
  CHECK(answersSoon(hostPort, "pong"));

  // A port the host itself holds.
  UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int heldPort = freeLoopbackPort();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(heldPort));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(holder.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(holder.get(), 1) == 0);
  Reply hostHeld = service.post("/api/v1/containers", admin,
                                bridged("host-held", kIdle, {{"ports", {{{"container_port", 80}, {"host_port", heldPort}}}}}).dump());
  CHECK(hostHeld.status == 409);
  CHECK(hostHeld.code() == "PORT_CONFLICT");

  // Ports change only while stopped; after the stop nothing listens.
  Reply busy = service.patch(containerPath(web["id"]), admin, Json{{"ports", Json::array()}}.dump());
  CHECK(busy.status == 400);
  CHECK(busy.code() == "OPERATION_STATE_CONFLICT");
  service.operate(admin, web["id"], "stop");
  CHECK_FALSE(answers(hostPort, "pong"));
  Reply moved = service.patch(containerPath(web["id"]), admin,
                              Json{{"ports", {{{"container_port", 80}, {"host_port", heldPort}}}}}.dump());
  CHECK(moved.status == 409);
  CHECK(moved.code() == "PORT_CONFLICT");
}

TEST_CASE("network: bad input is 400 VALIDATION_ERROR naming the field") {
  Service service;
  const std::string& admin = service.adminToken();
  const std::pair<Json, std::string> cases[] = {
      {{{"name", "a"}, {"network", "host"}}, "network"},
      {{{"name", "a"}, {"ports", {{{"container_port", 80}, {"host_port", 8080}}}}}, "bridge"},
      {{{"name", "a"}, {"network", "bridge"}, {"ports", {{{"container_port", 0}, {"host_port", 8080}}}}}, "ports[0].container_port"},
      {{{"name", "a"}, {"network", "bridge"}, {"ports", {{{"container_port", 80}, {"host_port", 70000}}}}}, "ports[0].host_port"},
      {{{"name", "a"}, {"network", "bridge"}, {"ports", {{{"container_port", 80}, {"host_port", 8080}, {"protocol", "udp"}}}}},
       "ports[0].protocol"},
      {{{"name", "a"}, {"network", "bridge"}, {"ports", {{{"container_port", 80}, {"host_port", 8080}, {"host_ip", "example.com"}}}}},
       "ports[0].host_ip"},
      {{{"name", "a"}, {"network", "bridge"}, {"ports", {{{"container_port", 80}, {"host_port", 8080}, {"host_ip", "192.0.2.254"}}}}},
       "192.0.2.254"},
      {{{"name", "a"}, {"network", "bridge"},
        {"ports", {{{"container_port", 80}, {"host_port", 8080}}, {{"container_port", 81}, {"host_port", 8080}}}}},
       "ports[1].host_port"},
  };
  for (const auto& [body, field] : cases) {
    Reply reply = service.post("/api/v1/containers", admin, body.dump());
    INFO(body.dump() << " -> " << reply.text);
    CHECK(reply.status == 400);
    CHECK(reply.code() == "VALIDATION_ERROR");
    CHECK(reply.message().find(field) != std::string::npos);
  }
  CHECK(service.hostLinks().empty());  // nothing of a refused create reached the host
}

TEST_CASE("network: a bridge_subnet that cannot hold containers stops berthd at start, naming it") {
  // The overlap with the host's own routes is checked where the kernel is (kernel_runtime's network test).
  std::string binary = std::string(BERTH_BUILD_DIR) + "/cmd/berthd";
  testing::TempDir dir("berth-e2e-subnet");
  std::ofstream(dir.sub("berthd.yaml")) << "bridge_subnet: 127.0.0.0/16\nbridge_prefix: eovl\n";
  std::string command = "timeout 20 " + binary + " --config " + dir.sub("berthd.yaml") +
                        " --listen 127.0.0.1:0 --data-dir " + dir.sub("data") + " --run-dir " + dir.sub("run") +
                        " --cgroup-root " + testing::uniqueCgroupRoot("e2e-subnet") + " > " + dir.sub("out") + " 2>&1";
  int status = std::system(command.c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(WEXITSTATUS(status) != 124);  // refused, not left running until the timeout
  auto out = readFile(dir.sub("out"));
  REQUIRE(out);
  INFO(*out);
  CHECK(out->find("127.0.0.0/16") != std::string::npos);
}

TEST_CASE("network: 200 create/start/stop/delete cycles leave no link, no rule and no listener") {
  Service service;
  const std::string& admin = service.adminToken();
  int hostPort = freeLoopbackPort();
  for (int i = 0; i < 200; ++i) {
    Json body = bridged("cycle", kIdle, {{"ports", {{{"container_port", 80}, {"host_port", hostPort}}}}});
    Json created = service.createContainer(admin, body);
    REQUIRE(created["status"] == "running");
    service.operate(admin, created["id"], "force-stop");
    REQUIRE(service.del(containerPath(created["id"]), admin).status == 200);
  }
  // What the last delete queued goes within moments.
  std::vector<std::string> links = service.hostLinks();
  for (int i = 0; i < 100 && !links.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    links = service.hostLinks();
  }
  CHECK(links.empty());
  CHECK_FALSE(answers(hostPort, ""));  // not even a connection is accepted
}
