#pragma once
// RFC 3986 percent-encoding of a URL component: everything but the
// unreserved characters (A-Z a-z 0-9 - . _ ~) as %XX.
#include <string>
#include <string_view>

namespace berth {

std::string percentEncode(std::string_view text);

}  // namespace berth
