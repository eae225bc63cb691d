#include "storage/oci_layout.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace berth::storage::oci {

namespace {

using nlohmann::json;

constexpr const char* kRefAnnotation = "org.opencontainers.image.ref.name";

// Parses without exceptions: a malformed document is the archive's fault.
Result<json> parseJson(std::string_view text, const std::string& what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(Errc::invalid_argument, what + " is not valid JSON");
  if (!doc.is_object()) return fail(Errc::invalid_argument, what + " is not a JSON object");
  return doc;
}

bool isSha256Digest(std::string_view digest) {
  if (digest.size() != 7 + 64 || !digest.starts_with("sha256:")) return false;
  return std::all_of(digest.begin() + 7, digest.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<std::string> optionalString(const json& object, const char* key, const std::string& what) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return fail(Errc::invalid_argument, what + ": " + key + " is not a string");
  return it->get<std::string>();
}

Result<std::vector<std::string>> optionalStrings(const json& object, const char* key, const std::string& what) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return fail(Errc::invalid_argument, what + ": " + key + " is not an array of strings");
  for (const json& item : *it) {
    if (!item.is_string()) return fail(Errc::invalid_argument, what + ": " + key + " is not an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<Descriptor> parseDescriptor(const json& node, const std::string& what) {
  if (!node.is_object()) return fail(Errc::invalid_argument, what + " is not an object");
  Descriptor desc;
  BERTH_TRY(desc.mediaType, optionalString(node, "mediaType", what));
  BERTH_TRY(desc.digest, optionalString(node, "digest", what));
  if (desc.digest.empty()) return fail(Errc::invalid_argument, what + " has no digest");
  if (!isSha256Digest(desc.digest))
    return fail(Errc::invalid_argument, what + ": digest '" + desc.digest + "' is not sha256:<64 lowercase hex>");
  auto size = node.find("size");
  if (size == node.end() || !size->is_number_unsigned())
    return fail(Errc::invalid_argument, what + " has no valid size");
  desc.size = size->get<uint64_t>();
  if (auto annotations = node.find("annotations"); annotations != node.end() && !annotations->is_null()) {
    if (!annotations->is_object()) return fail(Errc::invalid_argument, what + ": annotations is not an object");
    for (auto& [key, value] : annotations->items())
      if (value.is_string()) desc.annotations[key] = value.get<std::string>();
  }
  if (auto platform = node.find("platform"); platform != node.end() && !platform->is_null()) {
    if (!platform->is_object()) return fail(Errc::invalid_argument, what + ": platform is not an object");
    Platform p;
    BERTH_TRY(p.os, optionalString(*platform, "os", what + " platform"));
    BERTH_TRY(p.architecture, optionalString(*platform, "architecture", what + " platform"));
    desc.platform = p;
  }
  return desc;
}

std::string joinRefs(const std::vector<Descriptor>& manifests) {
  std::string out;
  for (const Descriptor& desc : manifests) {
    std::string ref = desc.refName();
    if (ref.empty()) continue;
    if (!out.empty()) out += ", ";
    out += "'" + ref + "'";
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::string Descriptor::refName() const {
  auto it = annotations.find(kRefAnnotation);
  return it == annotations.end() ? std::string() : it->second;
}

Kind kindOf(std::string_view mediaType) {
  if (mediaType == "application/vnd.oci.image.index.v1+json" ||
      mediaType == "application/vnd.docker.distribution.manifest.list.v2+json")
    return Kind::index;
  if (mediaType == "application/vnd.oci.image.manifest.v1+json" ||
      mediaType == "application/vnd.docker.distribution.manifest.v2+json")
    return Kind::manifest;
  return Kind::unknown;
}

std::string mediaTypeOf(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object()) return {};
  auto it = doc.find("mediaType");
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string_view hostArchitecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__i386__)
  return "386";
#else
#error "unknown architecture: add its GOARCH name"
#endif
}

Result<std::vector<Descriptor>> parseIndex(std::string_view text) {
  BERTH_TRY(json doc, parseJson(text, "index"));
  auto manifests = doc.find("manifests");
  if (manifests == doc.end() || !manifests->is_array())
    return fail(Errc::invalid_argument, "index has no manifests array");
  std::vector<Descriptor> out;
  for (size_t i = 0; i < manifests->size(); ++i) {
    BERTH_TRY(Descriptor desc, parseDescriptor((*manifests)[i], "index manifests[" + std::to_string(i) + "]"));
    out.push_back(std::move(desc));
  }
  return out;
}

Result<Descriptor> selectManifest(const std::vector<Descriptor>& manifests, const std::string& ref,
                                  std::string_view architecture) {
  if (manifests.empty()) return fail(Errc::invalid_argument, "the index lists no manifest");
  std::vector<Descriptor> candidates;
  if (!ref.empty()) {
    for (const Descriptor& desc : manifests)
      if (desc.refName() == ref) candidates.push_back(desc);
    if (candidates.empty())
      return fail(Errc::invalid_argument,
                  "the index has no image with ref '" + ref + "' (refs: " + joinRefs(manifests) + ")");
  } else {
    candidates = manifests;
    std::vector<std::string> refs;
    for (const Descriptor& desc : manifests)
      if (!desc.refName().empty() && std::find(refs.begin(), refs.end(), desc.refName()) == refs.end())
        refs.push_back(desc.refName());
    if (refs.size() > 1)
      return fail(Errc::invalid_argument,
                  "the index holds several images; pick one by ref (refs: " + joinRefs(manifests) + ")");
  }
  std::string host = "linux/" + std::string(architecture);
  auto fits = [&](const Descriptor& desc) {
    return !desc.platform || (desc.platform->os == "linux" && desc.platform->architecture == architecture);
  };
  std::vector<Descriptor> fitting;
  std::copy_if(candidates.begin(), candidates.end(), std::back_inserter(fitting), fits);
  if (fitting.empty()) {
    std::string offered;
    for (const Descriptor& desc : candidates)
      offered += (offered.empty() ? "" : ", ") + desc.platform->os + "/" + desc.platform->architecture;
    return fail(Errc::invalid_argument, "the image has no manifest for " + host + " (only " + offered + ")");
  }
  if (fitting.size() > 1) {
    // Entries naming the platform beat ones that do not.
    std::vector<Descriptor> exact;
    std::copy_if(fitting.begin(), fitting.end(), std::back_inserter(exact),
                 [](const Descriptor& desc) { return desc.platform.has_value(); });
    if (exact.size() == 1) return exact.front();
    return fail(Errc::invalid_argument, "the index holds " + std::to_string(fitting.size()) + " manifests for " +
                                            host + " and nothing to choose between them");
  }
  return fitting.front();
}

Result<Manifest> parseManifest(std::string_view text) {
  BERTH_TRY(json doc, parseJson(text, "manifest"));
  Manifest manifest;
  auto config = doc.find("config");
  if (config == doc.end()) return fail(Errc::invalid_argument, "manifest has no config");
  BERTH_TRY(manifest.config, parseDescriptor(*config, "manifest config"));
  if (manifest.config.mediaType != "application/vnd.oci.image.config.v1+json" &&
      manifest.config.mediaType != "application/vnd.docker.container.image.v1+json")
    return fail(Errc::invalid_argument,
                "manifest config has media type '" + manifest.config.mediaType + "', not a container image config");
  auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_array()) return fail(Errc::invalid_argument, "manifest has no layers array");
  for (size_t i = 0; i < layers->size(); ++i) {
    std::string what = "manifest layers[" + std::to_string(i) + "]";
    BERTH_TRY(Descriptor layer, parseDescriptor((*layers)[i], what));
    if (!isLayerMediaType(layer.mediaType))
      return fail(Errc::invalid_argument, what + " has an unknown media type '" + layer.mediaType + "'");
    manifest.layers.push_back(std::move(layer));
  }
  return manifest;
}

bool isLayerMediaType(std::string_view mediaType) {
  for (std::string_view base : {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar"})
    for (std::string_view suffix : {"", "+gzip", "+zstd"})
      if (mediaType.size() == base.size() + suffix.size() && mediaType.starts_with(base) && mediaType.ends_with(suffix))
        return true;
  return mediaType == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
         mediaType == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

Result<ImageConfig> parseImageConfig(std::string_view text) {
  BERTH_TRY(json doc, parseJson(text, "image config"));
  ImageConfig out;
  auto config = doc.find("config");
  if (config == doc.end() || config->is_null()) return out;  // an image with no defaults at all
  if (!config->is_object()) return fail(Errc::invalid_argument, "image config: config is not an object");
  const std::string what = "image config";
  BERTH_TRY(std::vector<std::string> entrypoint, optionalStrings(*config, "Entrypoint", what));
  BERTH_TRY(std::vector<std::string> cmd, optionalStrings(*config, "Cmd", what));
  out.command = std::move(entrypoint);
  out.command.insert(out.command.end(), cmd.begin(), cmd.end());
  BERTH_TRY(out.env, optionalStrings(*config, "Env", what));
  BERTH_TRY(out.workingDir, optionalString(*config, "WorkingDir", what));
  BERTH_TRY(out.user, optionalString(*config, "User", what));
  return out;
}

}  // namespace berth::storage::oci
