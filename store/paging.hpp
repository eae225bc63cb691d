#pragma once
// API.md §5 paging arithmetic, overflow-safe: a page whose offset does not fit
// in 64 bits is simply past the end.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "store/records.hpp"

namespace berth::store::paging {

// The API validates 1..100; the store only refuses what has no meaning.
inline Result<void> check(const PageRequest& request) {
  if (request.page == 0) return fail(Errc::invalid_argument, "page must be at least 1");
  if (request.limit == 0) return fail(Errc::invalid_argument, "limit must be at least 1");
  return {};
}

inline Pagination paginate(uint64_t total, const PageRequest& request) {
  Pagination p;
  p.total = total;
  p.page = request.page;
  p.limit = request.limit;
  p.totalPages = request.limit == 0 ? 0 : total / request.limit + (total % request.limit != 0 ? 1 : 0);
  return p;
}

struct Window {
  uint64_t offset = 0;  // entries before the page in sort order
  uint64_t count = 0;   // entries on the page (> 0)
};

// The page's slice of `total` sorted entries; nullopt when it is empty.
inline std::optional<Window> window(uint64_t total, const PageRequest& request) {
  if (request.page == 0 || request.limit == 0) return std::nullopt;
  uint64_t before = request.page - 1;
  if (before > total / request.limit) return std::nullopt;  // offset would pass total (or overflow)
  uint64_t offset = before * request.limit;                  // <= total: no overflow
  if (offset >= total) return std::nullopt;
  return Window{offset, std::min(request.limit, total - offset)};
}

}  // namespace berth::store::paging
