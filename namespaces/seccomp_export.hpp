#pragma once
// Internal to namespaces/: what the default filter (security.cpp) and the
// OCI profiles (oci_seccomp.cpp) share to turn a libseccomp context into the
// BPF program the child loads as is.
#include <linux/filter.h>
#include <seccomp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace berth::ns::detail {

using FilterContext = std::unique_ptr<void, decltype(&seccomp_release)>;

// libseccomp returns -errno; a failure becomes "seccomp: <what>" with that errno.
Result<void> checkSeccomp(int rc, const std::string& what, Errc code = Errc::internal);

// The context's program as BPF (libseccomp only exports to an fd: a memfd
// gives it back as bytes).
Result<std::vector<sock_filter>> exportProgram(scmp_filter_ctx ctx);

}  // namespace berth::ns::detail
