#pragma once
// The container side of DESIGN.md's security defaults: the capability set of
// the mainstream runtimes and nothing more, no_new_privs, and a default
// seccomp filter. libcap and libseccomp run in the parent only; the child
// between clone and exec applies the result with plain system calls.
#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "common/error.hpp"

namespace berth::ns {

struct SecurityPlan {
  std::uint64_t keptCaps = 0;              // bounding, permitted and effective set
  int lastCap = 0;                         // highest capability the running kernel knows
  std::vector<sock_filter> seccompFilter;  // compiled BPF, loaded as is by the child
};

// The default seccomp filter as BPF (libseccomp). A process that starts many
// containers compiles it once: cold, this takes 0.5 ms of a start.
Result<std::vector<sock_filter>> compileDefaultFilter();

// The default profile, in the parent; the filter is compiled here unless the
// caller hands over compileDefaultFilter()'s program.
Result<SecurityPlan> prepareSecurity(std::vector<sock_filter> compiledFilter = {});

// The default capability set as a mask (bit n = capability n), as
// /proc/<pid>/status shows it in CapBnd.
std::uint64_t defaultCapabilities();

// Bit n = capability n, each set as the caller asks (an OCI process).
struct CapabilitySets {
  std::uint64_t bounding = 0;
  std::uint64_t effective = 0;
  std::uint64_t inheritable = 0;
  std::uint64_t permitted = 0;
  std::uint64_t ambient = 0;
};

// The highest capability the running kernel knows.
int lastCapability();

// Child side, async-signal-safe; each returns 0 or an errno.
// Drops everything else from the bounding set, sets permitted and effective
// to the kept set, clears inheritable and ambient.
int limitCapabilities(const SecurityPlan& plan) noexcept;
// Drops every capability outside `bounding` from the bounding set.
int limitBoundingSet(std::uint64_t bounding, int lastCap) noexcept;
// Effective, permitted and inheritable as given, then the ambient ones raised
// (those also permitted and inheritable: the kernel raises no other).
int applyCapabilitySets(const CapabilitySets& sets) noexcept;
// Needs no_new_privs (or CAP_SYS_ADMIN) already set.
int loadSeccompFilter(const SecurityPlan& plan) noexcept;

}  // namespace berth::ns
