#pragma once
// A seccomp profile as the OCI runtime spec describes it (linux.seccomp),
// neutral of JSON, compiled to BPF by libseccomp in the parent. The child
// loads the program as is (loadSeccompFilter in security.hpp), as it does
// the default filter.
//
// The name tables (SCMP_ACT_*, SCMP_CMP_*, SCMP_ARCH_*, SECCOMP_FILTER_FLAG_*)
// live here, beside the only code that knows libseccomp; oci/spec.cpp uses
// them so that an unknown name is refused at parse time with its JSON path.
#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace berth::ns {

enum class SeccompAction : std::uint8_t {
  killThread,   // SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD
  killProcess,  // SCMP_ACT_KILL_PROCESS
  trap,         // SCMP_ACT_TRAP: SIGSYS
  returnErrno,  // SCMP_ACT_ERRNO: fails with errnoRet (EPERM if unset)
  trace,        // SCMP_ACT_TRACE: a ptrace tracer gets errnoRet (EPERM if unset) as the event message
  allow,        // SCMP_ACT_ALLOW
  log,          // SCMP_ACT_LOG: allowed, and logged by the kernel
  notify,       // SCMP_ACT_NOTIFY: named so it parses, but compileSeccompProfile refuses it
};

enum class SeccompOp : std::uint8_t {
  notEqual,        // SCMP_CMP_NE
  lessThan,        // SCMP_CMP_LT
  lessOrEqual,     // SCMP_CMP_LE
  equal,           // SCMP_CMP_EQ
  greaterOrEqual,  // SCMP_CMP_GE
  greaterThan,     // SCMP_CMP_GT
  maskedEqual,     // SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo
};

// The architectures of the OCI spec (SCMP_ARCH_X86_64 -> x86_64).
enum class SeccompArch : std::uint8_t {
  x86, x86_64, x32, arm, aarch64,
  mips, mips64, mips64n32, mipsel, mipsel64, mipsel64n32,
  ppc, ppc64, ppc64le, s390, s390x, parisc, parisc64, riscv64,
};

struct SeccompArg {
  unsigned index = 0;  // the syscall argument, 0..5
  std::uint64_t value = 0;
  std::uint64_t valueTwo = 0;  // maskedEqual only
  SeccompOp op = SeccompOp::equal;
};

// One entry of linux.seccomp.syscalls: the action for these syscalls when
// all args match. Args on distinct indexes form one rule (all must match);
// when an index repeats, each arg becomes a rule of its own (any may match),
// as runc does, since libseccomp cannot compare one argument twice in a rule.
struct SeccompRule {
  std::vector<std::string> names;  // a name this libseccomp does not know is skipped
  SeccompAction action = SeccompAction::allow;
  std::optional<std::uint32_t> errnoRet;  // returnErrno and trace; at most 0xffff
  std::vector<SeccompArg> args;
};

struct SeccompProfile {
  SeccompAction defaultAction = SeccompAction::allow;
  std::optional<std::uint32_t> defaultErrnoRet;  // as SeccompRule::errnoRet, for the default action
  // Added to the native architecture, which the filter always holds. A
  // syscall of an architecture outside the filter kills the process.
  std::vector<SeccompArch> architectures;
  // SECCOMP_FILTER_FLAG_* bits for seccomp(SECCOMP_SET_MODE_FILTER). Not part
  // of the program: loadSeccompFilter (prctl) does not apply them; the
  // accepted ones (TSYNC, LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV) only log,
  // relax a mitigation or matter for threads and notify, so leaving them out
  // errs on the safe side.
  unsigned filterFlags = 0;
  std::vector<SeccompRule> syscalls;
};

// "SCMP_ACT_ERRNO" -> returnErrno; nullopt for a name the spec does not define.
std::optional<SeccompAction> seccompActionFromName(std::string_view name);
// "SCMP_CMP_MASKED_EQ" -> maskedEqual.
std::optional<SeccompOp> seccompOpFromName(std::string_view name);
// "SCMP_ARCH_X86_64" -> x86_64.
std::optional<SeccompArch> seccompArchFromName(std::string_view name);
// "SECCOMP_FILTER_FLAG_LOG" -> SECCOMP_FILTER_FLAG_LOG; nullopt for unknown
// names and for NEW_LISTENER / TSYNC_ESRCH (notify, which berth refuses).
std::optional<unsigned> seccompFilterFlagFromName(std::string_view name);

// The profile as BPF, ready for SecurityPlan::seccompFilter. Syscall names
// this libseccomp cannot resolve are skipped (a profile lists syscalls of
// newer kernels); a rule whose action is the default action is dropped (it
// changes nothing). Errc::invalid_argument for what the profile gets wrong:
// notify, an errnoRet above 0xffff, an arg index above 5, a value out of
// the enums, a rule libseccomp refuses (named by syscall).
Result<std::vector<sock_filter>> compileSeccompProfile(const SeccompProfile& profile);

}  // namespace berth::ns
