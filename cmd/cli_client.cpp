#include "cmd/cli_client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <yaml-cpp/yaml.h>

#include "cmd/cli_output.hpp"

namespace berth::cli {

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// The saved url, token and username; empty when there is no readable file.
YAML::Node loadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return YAML::Node(YAML::NodeType::Map);
  try {
    YAML::Node node = YAML::Load(in);
    if (node.IsMap()) return node;
    std::fprintf(stderr, "berth: %s: not a mapping, ignored\n", path.c_str());
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "berth: %s: %s, ignored\n", path.c_str(), e.what());
  }
  return YAML::Node(YAML::NodeType::Map);
}

std::string scalar(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  return value && value.IsScalar() ? value.as<std::string>() : "";
}

// mkdir -p, with `mode` for what it makes.
void makeDirs(const std::string& path, mode_t mode) {
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    std::string part = path.substr(0, end);
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) die("creating " + part + ": " + std::strerror(errno));
    if (end == std::string::npos) return;
  }
}

}  // namespace

std::string configFilePath() {
  std::string xdg = env("XDG_CONFIG_HOME");
  // The XDG spec: a relative value is invalid and is ignored.
  if (!xdg.empty() && xdg.front() == '/') return xdg + "/berth/config.yaml";
  std::string home = env("HOME");
  if (home.empty()) return "";
  return home + "/.config/berth/config.yaml";
}

Settings resolveSettings(const std::optional<std::string>& urlFlag) {
  std::string path = configFilePath();
  YAML::Node saved = path.empty() ? YAML::Node(YAML::NodeType::Map) : loadConfigFile(path);
  Settings settings;
  std::string savedUrl = scalar(saved, "url");
  if (urlFlag && !urlFlag->empty()) settings.url = *urlFlag;
  else if (std::string fromEnv = env("BERTH_URL"); !fromEnv.empty()) settings.url = fromEnv;
  else if (!savedUrl.empty()) settings.url = savedUrl;
  else settings.url = kDefaultUrl;
  if (const char* token = std::getenv("BERTH_TOKEN")) settings.token = token;
  else if (settings.url == (savedUrl.empty() ? kDefaultUrl : savedUrl)) settings.token = scalar(saved, "token");
  return settings;
}

void saveSettings(const std::string& url, const std::string& token, const std::string& username) {
  std::string path = configFilePath();
  if (path.empty()) die("neither XDG_CONFIG_HOME nor HOME is set: nowhere to save the login");
  std::string dir = path.substr(0, path.rfind('/'));
  makeDirs(dir, 0700);
  YAML::Node node = loadConfigFile(path);
  node["url"] = url;
  if (token.empty()) node.remove("token");
  else node["token"] = token;
  if (!username.empty()) node["username"] = username;
  YAML::Emitter out;
  out << node;
  std::string text = std::string("# written by berth login\n") + out.c_str() + "\n";
  std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("writing " + temp + ": " + std::strerror(errno));
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int savedErrno = errno;
  ::close(fd);
  if (!written) {
    ::unlink(temp.c_str());
    die("writing " + temp + ": " + std::strerror(savedErrno));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    savedErrno = errno;
    ::unlink(temp.c_str());
    die("replacing " + path + ": " + std::strerror(savedErrno));
  }
}

void die(const std::string& line) {
  Progress::endCurrent();
  std::fprintf(stderr, "berth: %s\n", line.c_str());
  std::exit(1);
}

std::string Reply::describe() const {
  if (status == 0) return transportError;
  std::string code = envelope.is_object() ? envelope.value("code", "") : "";
  std::string message =
      envelope.is_object() && envelope.contains("message") && envelope["message"].is_string()
          ? envelope["message"].get<std::string>()
          : envelope.dump();
  return std::to_string(status) + " " + code + ": " + message;
}

const Json& Reply::data() const {
  static const Json kNull;
  if (envelope.is_object() && envelope.contains("data")) return envelope["data"];
  return envelope.is_discarded() ? kNull : envelope;
}

ApiClient::ApiClient(Settings settings) : settings_(std::move(settings)) {
  const std::string unixScheme = "unix://";
  if (settings_.url.rfind(unixScheme, 0) == 0) {
    client_ = std::make_unique<httplib::Client>(settings_.url.substr(unixScheme.size()));
    client_->set_address_family(AF_UNIX);
  } else {
    client_ = std::make_unique<httplib::Client>(settings_.url);
  }
  client_->set_read_timeout(std::chrono::seconds(3700));  // a stop may wait its whole grace period
  if (!settings_.token.empty()) headers_.emplace("Authorization", "Bearer " + settings_.token);
}

Reply ApiClient::tryCall(const std::string& method, const std::string& path, const std::optional<Json>& body) {
  httplib::Request request;
  request.method = method;
  request.path = path;
  request.headers = headers_;
  if (body) {
    request.body = body->dump();
    request.set_header("Content-Type", "application/json");
  }
  auto response = client_->send(request);
  Reply reply;
  if (!response) {
    reply.transportError = "cannot reach " + settings_.url + " (" + httplib::to_string(response.error()) + ")";
    return reply;
  }
  reply.status = response->status;
  reply.envelope = Json::parse(response->body, nullptr, false);
  if (reply.envelope.is_discarded()) reply.envelope = Json{{"message", response->body}};
  return reply;
}

Json ApiClient::call(const std::string& method, const std::string& path, const std::optional<Json>& body) {
  Reply reply = tryCall(method, path, body);
  if (reply.status == 0 || reply.status >= 400) die(reply.describe());
  return reply.data();
}

Json ApiClient::finish(const std::string& method, const std::string& path, httplib::Result response) {
  if (!response) die(method + " " + path + ": " + httplib::to_string(response.error()));
  Reply reply;
  reply.status = response->status;
  reply.envelope = Json::parse(response->body, nullptr, false);
  if (reply.envelope.is_discarded()) reply.envelope = Json{{"message", response->body}};
  if (reply.status >= 400) die(reply.describe());
  return reply.data();
}

Json ApiClient::upload(const std::string& path, const std::string& file, const std::string& contentType,
                       const std::function<void(uint64_t, uint64_t)>& sent) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rbe"), &std::fclose);
  if (!in) die(file + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(::fileno(in.get()), &st) != 0) die(file + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) die(file + ": not a regular file");
  const uint64_t total = static_cast<uint64_t>(st.st_size);
  // httplib asks for the bytes at `offset`, at most `length` of them, each time the socket can take more.
  std::string readError;
  auto provider = [&](size_t offset, size_t length, httplib::DataSink& sink) {
    char buffer[64 * 1024];
    if (::fseeko(in.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
      readError = std::strerror(errno);
      return false;
    }
    size_t got = std::fread(buffer, 1, std::min(length, sizeof buffer), in.get());
    if (got == 0) {
      readError = std::ferror(in.get()) ? std::strerror(errno) : "the file shrank while uploading";
      return false;
    }
    if (sent) sent(offset + got, total);
    return sink.write(buffer, got);
  };
  auto response = client_->Post(path, headers_, static_cast<size_t>(total), provider, contentType);
  if (!readError.empty()) die(file + ": " + readError);
  return finish("POST", path, std::move(response));
}

bool ApiClient::stream(const std::string& path, const httplib::Headers& extra,
                       const std::function<bool(const char*, size_t)>& receive) {
  httplib::Headers headers = headers_;
  headers.insert(extra.begin(), extra.end());
  int status = 0;
  std::string errorBody;
  auto response = client_->Get(
      path, headers,
      [&](const httplib::Response& head) {
        status = head.status;
        return true;
      },
      [&](const char* data, size_t size) {
        if (status >= 400) {
          errorBody.append(data, size);
          return true;
        }
        return receive(data, size);
      });
  if (status >= 400) {
    Reply reply;
    reply.status = status;
    reply.envelope = Json::parse(errorBody, nullptr, false);
    if (reply.envelope.is_discarded()) reply.envelope = Json{{"message", errorBody}};
    die(reply.describe());
  }
  return static_cast<bool>(response);
}

std::string withQuery(std::string path, const std::vector<std::pair<std::string, std::string>>& params) {
  char separator = '?';
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    path += separator + key + "=" + httplib::detail::encode_query_param(value);
    separator = '&';
  }
  return path;
}

std::string encodeSegment(const std::string& text) { return httplib::detail::encode_query_param(text); }

}  // namespace berth::cli
