#include "namespaces/seccomp_export.hpp"

#include <sys/mman.h>

#include <cstring>

#include "common/files.hpp"
#include "common/unique_fd.hpp"

namespace berth::ns::detail {

Result<void> checkSeccomp(int rc, const std::string& what, Errc code) {
  if (rc < 0) return sysFail(code, "seccomp: " + what, -rc);
  return {};
}

Result<std::vector<sock_filter>> exportProgram(scmp_filter_ctx ctx) {
  UniqueFd memory(::memfd_create("berth-seccomp", MFD_CLOEXEC));
  if (!memory) return sysFail(Errc::host_refused, "memfd_create");
  BERTH_TRYV(checkSeccomp(seccomp_export_bpf(ctx, memory.get()), "export"));
  BERTH_TRY(std::string bytes, readFd(memory.get()));
  if (bytes.empty() || bytes.size() % sizeof(sock_filter) != 0)
    return fail(Errc::internal, "seccomp: exported program of " + std::to_string(bytes.size()) + " bytes");
  std::vector<sock_filter> program(bytes.size() / sizeof(sock_filter));
  std::memcpy(program.data(), bytes.data(), bytes.size());
  return program;
}

}  // namespace berth::ns::detail
