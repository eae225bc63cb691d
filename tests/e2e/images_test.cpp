// Images over HTTP (API.md §12): the builtin busybox, imports of a rootfs
// tarball and of an OCI layout (umoci) streamed as the body, their defaults
// in containers, the limits and refusals, and deletion.
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/files.hpp"

#include "e2e/raw_socket.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

void sh(const std::string& script) {
  INFO(script);
  REQUIRE(std::system(("set -e; " + script).c_str()) == 0);
}

std::string slurp(const std::string& path) {
  auto content = readFile(path);
  REQUIRE(content);
  return *content;
}

// The busybox rootfs plus /marker.txt, as a tarball (gzip when asked).
std::string rootfsTarball(const Service& service, const testing::TempDir& dir, bool gzip) {
  sh("cp -a '" + service.dataDir() + "/images/busybox/rootfs' '" + dir.sub("root") + "'; echo marker-seen > '" +
     dir.sub("root") + "/marker.txt'; tar -C '" + dir.sub("root") + "' -cf '" + dir.sub("img.tar") + "' ." +
     (gzip ? "; gzip -k '" + dir.sub("img.tar") + "'" : ""));
  return slurp(dir.sub(gzip ? "img.tar.gz" : "img.tar"));
}

// An OCI layout (umoci) of the busybox rootfs with Cmd, Env and WorkingDir set.
std::string ociLayoutTarball(const Service& service, const testing::TempDir& dir) {
  sh("cd '" + dir.path() + "'; umoci init --layout L; umoci new --image L:v1;"
     " umoci unpack --image L:v1 b >/dev/null; cp -a '" + service.dataDir() + "/images/busybox/rootfs/.' b/rootfs/;"
     " mkdir -p b/rootfs/srv/app; umoci repack --image L:v1 b; rm -rf b;"
     " umoci config --image L:v1 --config.cmd /bin/sh --config.cmd -c"
     " --config.cmd 'echo cmd-ran FOO=$FOO dir=$(pwd)' --config.env FOO=bar --config.workingdir /srv/app;"
     " tar -C L -cf layout.tar .");
  return slurp(dir.sub("layout.tar"));
}

Reply importTar(const Service& service, const std::string& query, const std::string& body,
                const std::string& token = {}) {
  return service.call("POST", "/api/v1/images?" + query, token.empty() ? service.adminToken() : token, body,
                      {{"Content-Type", "application/x-tar"}});
}

Json imageNamed(const Service& service, const std::string& name) {
  Reply list = service.get("/api/v1/images", service.adminToken());
  REQUIRE(list.status == 200);
  for (const auto& image : list.data()["images"])
    if (image["name"] == name) return image;
  return nullptr;
}

// Nothing of an import named `name` in the images dir (no image, no work in progress).
bool leftNothing(const Service& service, const std::string& name) {
  std::string images = service.dataDir() + "/images/";
  return !pathExists(images + name) && !pathExists(images + name + ".importing");
}

struct RawAnswer {
  std::string text;
  bool closed = false;
  std::chrono::milliseconds took{0};
  int status() const { return text.size() > 12 && text.starts_with("HTTP/1.1 ") ? std::atoi(text.c_str() + 9) : 0; }
};

// Sends `head`, then as much of `body` as the server takes, while reading the
// answer, until the server closes or `limit` passes.
RawAnswer rawExchange(int port, const std::string& head, const std::string& body,
                      std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto start = std::chrono::steady_clock::now();
  UniqueFd fd = connectTo(port);
  sendAll(fd.get(), head);
  RawAnswer answer;
  size_t sent = 0;
  while (std::chrono::steady_clock::now() - start < limit) {
    if (sent < body.size()) {
      pollfd pfd{fd.get(), POLLOUT, 0};
      if (::poll(&pfd, 1, 5) > 0 && (pfd.revents & POLLOUT)) {
        ssize_t n = ::send(fd.get(), body.data() + sent, std::min<size_t>(65536, body.size() - sent),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) sent = body.size();  // the server is gone
      }
    }
    if (!readSome(fd.get(), answer.text, std::chrono::milliseconds(5))) {
      answer.closed = true;
      break;
    }
  }
  answer.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  return answer;
}

std::string chunked(const std::string& body) {
  std::string framed;
  char size[32];
  for (size_t at = 0; at < body.size(); at += 65536) {
    size_t n = std::min<size_t>(65536, body.size() - at);
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    framed += size;
    framed.append(body, at, n);
    framed += "\r\n";
  }
  return framed + "0\r\n\r\n";
}

}  // namespace

TEST_CASE("images: busybox is listed as builtin; imports appear with their source, digest and config") {
  Service service;
  Json busybox = imageNamed(service, "busybox");
  REQUIRE(busybox.is_object());
  CHECK(busybox["source"] == "builtin");
  CHECK(busybox["digest"].is_null());
  CHECK(busybox["size_bytes"].get<uint64_t>() > 0);
  CHECK(busybox["config"]["command"] == Json::array());
  CHECK(busybox["config"]["working_dir"] == "/");
  // Any user may list.
  TestUser user = service.createUser("lister");
  CHECK(service.get("/api/v1/images", user.token).status == 200);
}

TEST_CASE("images: a rootfs tarball imports and its containers run on it") {
  Service service;
  testing::TempDir dir("berth-e2e-img");
  Reply reply = importTar(service, "name=marked", rootfsTarball(service, dir, false));
  INFO(reply.text);
  REQUIRE(reply.status == 201);
  CHECK(reply.data()["name"] == "marked");
  CHECK(reply.data()["source"] == "rootfs-tar");
  CHECK(reply.data()["digest"].get<std::string>().starts_with("sha256:"));
  CHECK(reply.data()["size_bytes"].get<uint64_t>() > 0);
  CHECK(imageNamed(service, "marked").is_object());

  Json container = service.createContainer(
      service.adminToken(), {{"name", "on-marked"}, {"image", "marked"}, {"command", {"/bin/sh", "-c", "cat /marker.txt"}}});
  CHECK(container["image"] == "marked");
  CHECK(service.awaitLog(container["id"], "marker-seen"));

  // The name is taken now.
  Reply again = importTar(service, "name=marked", slurp(dir.sub("img.tar")));
  CHECK(again.status == 409);
  CHECK(again.code() == "NAME_CONFLICT");
}

TEST_CASE("images: a gzip tarball imports too") {
  Service service;
  testing::TempDir dir("berth-e2e-img");
  Reply reply = importTar(service, "name=zipped", rootfsTarball(service, dir, true));
  INFO(reply.text);
  REQUIRE(reply.status == 201);
  CHECK(reply.data()["source"] == "rootfs-tar");
  CHECK(pathExists(service.dataDir() + "/images/zipped/rootfs/marker.txt"));
}

TEST_CASE("images: an OCI layout's Cmd, Env and WorkingDir are the defaults of its containers") {
  if (std::system("command -v umoci >/dev/null") != 0) {
    WARN("umoci is not installed");
    return;
  }
  Service service;
  testing::TempDir dir("berth-e2e-img");
  Reply reply = importTar(service, "name=app&ref=v1", ociLayoutTarball(service, dir));
  INFO(reply.text);
  REQUIRE(reply.status == 201);
  CHECK(reply.data()["source"] == "oci-layout");
  CHECK(reply.data()["config"]["command"] == Json::array({"/bin/sh", "-c", "echo cmd-ran FOO=$FOO dir=$(pwd)"}));
  CHECK(reply.data()["config"]["env"]["FOO"] == "bar");
  CHECK(reply.data()["config"]["working_dir"] == "/srv/app");

  Json container = service.createContainer(service.adminToken(), {{"name", "app-1"}, {"image", "app"}});
  CHECK(container["command"] == reply.data()["config"]["command"]);
  CHECK(container["working_dir"] == "/srv/app");
  CHECK(service.awaitLog(container["id"], "cmd-ran FOO=bar dir=/srv/app"));

  // The request's own env overlays the image's; its command and working_dir win.
  Json overlaid = service.createContainer(
      service.adminToken(), {{"name", "app-2"}, {"image", "app"}, {"env", {{"FOO", "mine"}}}, {"working_dir", "/tmp"},
                             {"command", {"/bin/sh", "-c", "echo own FOO=$FOO dir=$(pwd)"}}});
  CHECK(service.awaitLog(overlaid["id"], "own FOO=mine dir=/tmp"));
}

TEST_CASE("images: a bad archive is 400 and leaves nothing; a bad name or query is 400") {
  Service service;
  Reply bad = importTar(service, "name=junk", std::string(4096, 'j'));
  INFO(bad.text);
  CHECK(bad.status == 400);
  CHECK(bad.code() == "VALIDATION_ERROR");
  CHECK(leftNothing(service, "junk"));
  CHECK(importTar(service, "name=no_underscores", "x").status == 400);
  CHECK(importTar(service, "", "x").status == 400);
  CHECK(importTar(service, "name=a&colour=red", "x").status == 400);
  CHECK(leftNothing(service, "a"));
}

TEST_CASE("images: past image_max_mb the import is 413, whether declared or found while streaming") {
  Service service(ServiceOptions{.configYaml = "image_max_mb: 1\n"});
  testing::TempDir dir("berth-e2e-img");
  sh("head -c 3145728 /dev/urandom > '" + dir.sub("big.bin") + "'; tar -C '" + dir.path() + "' -cf '" +
     dir.sub("big.tar") + "' big.bin");
  std::string archive = slurp(dir.sub("big.tar"));

  // A declared Content-Length: refused before the body is read.
  RawAnswer declared = rawExchange(service.port(),
                                   "POST /api/v1/images?name=big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                       service.adminToken() + "\r\nContent-Length: " + std::to_string(archive.size()) +
                                       "\r\n\r\n",
                                   archive);
  INFO(declared.text);
  CHECK(declared.status() == 413);
  CHECK(declared.text.find("PAYLOAD_TOO_LARGE") != std::string::npos);
  CHECK(declared.closed);
  CHECK(leftNothing(service, "big"));

  // Chunked: stopped once past the limit while streaming; the partial import is removed.
  RawAnswer streamed = rawExchange(service.port(),
                                   "POST /api/v1/images?name=big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                       service.adminToken() + "\r\nTransfer-Encoding: chunked\r\n\r\n",
                                   chunked(archive));
  INFO(streamed.text);
  CHECK(streamed.status() == 413);
  CHECK(streamed.text.find("PAYLOAD_TOO_LARGE") != std::string::npos);
  CHECK(streamed.closed);
  CHECK(leftNothing(service, "big"));
  // The service goes on serving.
  CHECK(service.get("/api/v1/images", service.adminToken()).status == 200);
}

TEST_CASE("images: a non-admin's import is 403 at once, its body never read; other routes keep 1 MiB") {
  Service service;
  TestUser user = service.createUser("uploader");
  std::string filler(4u << 20, '\0');
  RawAnswer refused = rawExchange(service.port(),
                                  "POST /api/v1/images?name=huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                      user.token + "\r\nContent-Length: 2147483648\r\n\r\n",
                                  filler, std::chrono::seconds(10));
  INFO(refused.text);
  CHECK(refused.status() == 403);
  CHECK(refused.closed);
  CHECK(refused.took < std::chrono::seconds(5));
  CHECK(leftNothing(service, "huge"));

  // Another route: a 2 GiB declared body is refused at once; a chunked one past 1 MiB too.
  RawAnswer declared = rawExchange(service.port(),
                                   "POST /api/v1/containers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                       user.token + "\r\nContent-Length: 2147483648\r\n\r\n",
                                   filler, std::chrono::seconds(10));
  CHECK(declared.status() == 413);
  CHECK(declared.closed);
  CHECK(declared.took < std::chrono::seconds(5));
  RawAnswer chunkedBig = rawExchange(service.port(),
                                     "POST /api/v1/containers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                         user.token + "\r\nTransfer-Encoding: chunked\r\n\r\n",
                                     chunked(std::string(3u << 20, ' ')), std::chrono::seconds(10));
  CHECK(chunkedBig.status() == 413);
  CHECK(chunkedBig.closed);
  // A small chunked body still works.
  RawAnswer small = rawExchange(service.port(),
                                "POST /api/v1/containers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                "Authorization: Bearer " + user.token + "\r\nTransfer-Encoding: chunked\r\n\r\n",
                                chunked(R"({"name":"chunky","autostart":false})"), std::chrono::seconds(10));
  INFO(small.text);
  CHECK(small.status() == 201);
}

TEST_CASE("images: delete refuses an image in use and busybox; an unused one is removed") {
  Service service;
  testing::TempDir dir("berth-e2e-img");
  REQUIRE(importTar(service, "name=doomed", rootfsTarball(service, dir, false)).status == 201);
  Json container = service.createContainer(service.adminToken(),
                                           {{"name", "user-of-doomed"}, {"image", "doomed"}, {"autostart", false}});

  TestUser user = service.createUser("not-admin");
  CHECK(service.del("/api/v1/images/doomed", user.token).status == 403);

  Reply inUse = service.del("/api/v1/images/doomed", service.adminToken());
  CHECK(inUse.status == 409);
  CHECK(inUse.code() == "IMAGE_IN_USE");

  Reply builtin = service.del("/api/v1/images/busybox", service.adminToken());
  CHECK(builtin.status == 400);

  CHECK(service.del("/api/v1/images/never-was", service.adminToken()).status == 404);

  REQUIRE(service.del(containerPath(container["id"]), service.adminToken()).status == 200);
  Reply removed = service.del("/api/v1/images/doomed", service.adminToken());
  INFO(removed.text);
  CHECK(removed.status == 200);
  CHECK(removed.data()["name"] == "doomed");
  CHECK(imageNamed(service, "doomed").is_null());
  CHECK(leftNothing(service, "doomed"));
  CHECK_FALSE(pathExists(service.dataDir() + "/images/.doomed.deleting"));
  // A create from it is refused now.
  service.createContainer(service.adminToken(), {{"name", "late"}, {"image", "doomed"}}, 404);
}
