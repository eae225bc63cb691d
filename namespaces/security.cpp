#include "namespaces/security.hpp"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "namespaces/seccomp_export.hpp"

namespace berth::ns {

namespace {

// Docker's, containerd's and runc's default set: enough for a root process
// to manage its own files, users and ports, nothing that reaches the host.
constexpr int kKeptCaps[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,     CAP_MKNOD,
                             CAP_NET_RAW, CAP_SETGID,      CAP_SETUID,  CAP_SETFCAP,    CAP_SETPCAP,
                             CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE};

// The default seccomp filter allows everything except what follows, which
// returns EPERM. Most of it is already refused for lack of a capability;
// the filter is the second wall for when a capability check has a hole, and
// it also shrinks the kernel surface a container can reach at all.
//   host kernel and machine state: init_module, finit_module, delete_module,
//     kexec_load, kexec_file_load, reboot, swapon, swapoff, acct, iopl, ioperm
//   the mount tree (fixed at setup; also the new mount API): mount, umount2,
//     pivot_root, move_mount, open_tree, fsopen, fsconfig, fsmount, fspick,
//     mount_setattr
//   namespaces (a user namespace would hand out a fresh full capability set):
//     unshare, setns; clone with any CLONE_NEW* flag (below); clone3 returns
//     ENOSYS instead, as its flags sit in memory a filter cannot read, and
//     glibc then falls back to clone
//   large kernel attack surface, not namespaced: bpf, perf_event_open,
//     userfaultfd, keyctl, add_key, request_key, lookup_dcookie
//   other processes' memory: ptrace, process_vm_readv, process_vm_writev
//   host files by handle, past the mount tree (the "shocker" escape):
//     open_by_handle_at, name_to_handle_at
//   host-global clocks and logs: settimeofday, clock_settime, clock_adjtime,
//     adjtimex, syslog, quotactl, vhangup
//   personality: values above 0x20008 (see below), so ASLR cannot be turned
//     off; a rule cannot also except the 0xffffffff query, so that fails too
// Syscalls of any other architecture (x86 32-bit, x32) kill the process:
// the numbers above mean nothing there.
constexpr int kDeniedSyscalls[] = {
    SCMP_SYS(init_module),     SCMP_SYS(finit_module),      SCMP_SYS(delete_module),   SCMP_SYS(kexec_load),
    SCMP_SYS(kexec_file_load), SCMP_SYS(reboot),            SCMP_SYS(swapon),          SCMP_SYS(swapoff),
    SCMP_SYS(acct),            SCMP_SYS(iopl),              SCMP_SYS(ioperm),          SCMP_SYS(mount),
    SCMP_SYS(umount2),         SCMP_SYS(pivot_root),        SCMP_SYS(move_mount),      SCMP_SYS(open_tree),
    SCMP_SYS(fsopen),          SCMP_SYS(fsconfig),          SCMP_SYS(fsmount),         SCMP_SYS(fspick),
    SCMP_SYS(mount_setattr),   SCMP_SYS(unshare),           SCMP_SYS(setns),           SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd),       SCMP_SYS(keyctl),          SCMP_SYS(add_key),
    SCMP_SYS(request_key),     SCMP_SYS(lookup_dcookie),    SCMP_SYS(ptrace),          SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev), SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at), SCMP_SYS(settimeofday),
    SCMP_SYS(clock_settime),   SCMP_SYS(clock_adjtime),     SCMP_SYS(adjtimex),        SCMP_SYS(syslog),
    SCMP_SYS(quotactl),        SCMP_SYS(vhangup),
};

constexpr std::uint64_t kNamespaceCloneFlags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                                  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

// Personalities up to PER_LINUX32 | UNAME26 pass; above it are the flags that
// turn off ASLR or make data executable.
constexpr std::uint64_t kMaxPersonality = 0x20008;

using detail::checkSeccomp;
using detail::FilterContext;

Result<void> addDenials(scmp_filter_ctx ctx) {
  const std::uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (int syscall : kDeniedSyscalls) {
    BERTH_TRYV(checkSeccomp(seccomp_rule_add(ctx, eperm, syscall, 0), "deny syscall " + std::to_string(syscall)));
  }
  BERTH_TRYV(checkSeccomp(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "deny clone3"));
  // Rules of one syscall are alternatives: one per flag is "any flag set".
  for (std::uint64_t flag : kNamespaceCloneFlags) {
    BERTH_TRYV(checkSeccomp(
        seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0_64(SCMP_CMP_MASKED_EQ, flag, flag)),
        "deny clone with namespace flags"));
  }
  BERTH_TRYV(checkSeccomp(
      seccomp_rule_add(ctx, eperm, SCMP_SYS(personality), 1, SCMP_A0_64(SCMP_CMP_GT, kMaxPersonality)),
      "restrict personality"));
  return {};
}

}  // namespace

Result<std::vector<sock_filter>> compileDefaultFilter() {
  FilterContext ctx(seccomp_init(SCMP_ACT_ALLOW), &seccomp_release);
  if (!ctx) return fail(Errc::internal, "seccomp_init failed");
  // The context holds the native architecture only; say what the others get.
  BERTH_TRYV(checkSeccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                          "set bad-arch action"));
  BERTH_TRYV(addDenials(ctx.get()));
  return detail::exportProgram(ctx.get());
}

std::uint64_t defaultCapabilities() {
  std::uint64_t mask = 0;
  for (int cap : kKeptCaps) mask |= std::uint64_t{1} << cap;
  return mask;
}

Result<SecurityPlan> prepareSecurity(std::vector<sock_filter> compiledFilter) {
  SecurityPlan plan;
  plan.keptCaps = defaultCapabilities();
  plan.lastCap = cap_max_bits() - 1;
  if (compiledFilter.empty()) {
    BERTH_TRY(plan.seccompFilter, compileDefaultFilter());
  } else {
    plan.seccompFilter = std::move(compiledFilter);
  }
  return plan;
}

int lastCapability() { return cap_max_bits() - 1; }

int limitBoundingSet(std::uint64_t bounding, int lastCap) noexcept {
  for (int cap = 0; cap <= lastCap; ++cap) {
    const bool kept = cap < 64 && (bounding & (std::uint64_t{1} << cap)) != 0;
    if (!kept && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return errno;
  }
  return 0;
}

int applyCapabilitySets(const CapabilitySets& sets) noexcept {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int word = 0; word < 2; ++word) {
    data[word].effective = static_cast<std::uint32_t>(sets.effective >> (32 * word));
    data[word].permitted = static_cast<std::uint32_t>(sets.permitted >> (32 * word));
    data[word].inheritable = static_cast<std::uint32_t>(sets.inheritable >> (32 * word));
  }
  if (::syscall(SYS_capset, &header, data) != 0) return errno;
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return errno;
  // The kernel raises an ambient capability only if it is permitted and
  // inheritable too; runc leaves the others out, and so do we.
  const std::uint64_t ambient = sets.ambient & sets.permitted & sets.inheritable;
  for (int cap = 0; cap < 64; ++cap) {
    if ((ambient & (std::uint64_t{1} << cap)) == 0) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return errno;
  }
  return 0;
}

int limitCapabilities(const SecurityPlan& plan) noexcept {
  if (int err = limitBoundingSet(plan.keptCaps, plan.lastCap); err != 0) return err;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int word = 0; word < 2; ++word) {
    const auto bits = static_cast<std::uint32_t>(plan.keptCaps >> (32 * word));
    data[word].permitted = bits;
    data[word].effective = bits;
  }
  if (::syscall(SYS_capset, &header, data) != 0) return errno;
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return errno;
  return 0;
}

int loadSeccompFilter(const SecurityPlan& plan) noexcept {
  sock_fprog program{static_cast<unsigned short>(plan.seccompFilter.size()),
                     const_cast<sock_filter*>(plan.seccompFilter.data())};
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0 ? 0 : errno;
}

}  // namespace berth::ns
