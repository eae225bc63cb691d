#include "api/http_types.hpp"

#include <strings.h>

namespace berth::api {

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), name.size()) == 0) return value;
  return {};
}

}  // namespace berth::api
