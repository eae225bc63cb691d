#pragma once
// berth's side of the HTTP API: where the service is and who we are (flags,
// BERTH_URL/BERTH_TOKEN, the config file `berth login` writes), one request
// at a time, uploads and streams, and the one-line error every failure ends in.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace berth::cli {

using Json = nlohmann::ordered_json;

inline constexpr const char* kDefaultUrl = "http://127.0.0.1:8080";

// $XDG_CONFIG_HOME/berth/config.yaml, else $HOME/.config/berth/config.yaml.
std::string configFilePath();

struct Settings {
  std::string url;
  std::string token;
};

// The URL: the flag, else BERTH_URL, else the config file's, else kDefaultUrl.
// The token: BERTH_TOKEN, else the config file's, but only while the URL is
// the one that token was saved for (a token never goes to another service).
Settings resolveSettings(const std::optional<std::string>& urlFlag);

// Writes url, token and username to the config file (mode 0600, its folder
// 0700, replaced atomically); an empty token removes the saved one. Exits on failure.
void saveSettings(const std::string& url, const std::string& token, const std::string& username);

// Prints "berth: <line>" to stderr and exits 1.
[[noreturn]] void die(const std::string& line);

struct Reply {
  int status = 0;  // 0: no answer (the error is in `transportError`)
  Json envelope;
  std::string transportError;

  // "404 CONTAINER_NOT_FOUND: no such container" (the envelope's code and message).
  std::string describe() const;
  const Json& data() const;
};

class ApiClient {
 public:
  explicit ApiClient(Settings settings);

  const Settings& settings() const { return settings_; }
  // One request; the envelope's data, or die() with the API's status, code and message.
  Json call(const std::string& method, const std::string& path, const std::optional<Json>& body = std::nullopt);
  // The same, but the failure is handed back.
  Reply tryCall(const std::string& method, const std::string& path, const std::optional<Json>& body = std::nullopt);
  // POSTs a regular file as the body, read as the socket takes it (never
  // whole in memory); `sent` is told how far it got. Like call().
  Json upload(const std::string& path, const std::string& file, const std::string& contentType,
              const std::function<void(uint64_t sent, uint64_t total)>& sent);
  // GETs a stream, each piece of the body to `receive` (false stops). An
  // error answer dies like call(); returns false when the connection broke.
  bool stream(const std::string& path, const httplib::Headers& extra,
              const std::function<bool(const char*, size_t)>& receive);

 private:
  Json finish(const std::string& method, const std::string& path, httplib::Result response);

  Settings settings_;
  std::unique_ptr<httplib::Client> client_;
  httplib::Headers headers_;
};

// "path?key=value&..." with the empty values left out and the others encoded.
std::string withQuery(std::string path, const std::vector<std::pair<std::string, std::string>>& params);
std::string encodeSegment(const std::string& text);

}  // namespace berth::cli
