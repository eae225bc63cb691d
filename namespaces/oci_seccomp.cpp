#include "common/name_table.hpp"
#include "namespaces/oci_seccomp.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>

#include <array>
#include <cerrno>
#include <utility>

#include "namespaces/seccomp_export.hpp"

namespace berth::ns {

namespace {

using detail::checkSeccomp;
using detail::FilterContext;


constexpr Named<SeccompAction> kActions[] = {
    {"SCMP_ACT_KILL", SeccompAction::killThread},      {"SCMP_ACT_KILL_THREAD", SeccompAction::killThread},
    {"SCMP_ACT_KILL_PROCESS", SeccompAction::killProcess}, {"SCMP_ACT_TRAP", SeccompAction::trap},
    {"SCMP_ACT_ERRNO", SeccompAction::returnErrno},    {"SCMP_ACT_TRACE", SeccompAction::trace},
    {"SCMP_ACT_ALLOW", SeccompAction::allow},          {"SCMP_ACT_LOG", SeccompAction::log},
    {"SCMP_ACT_NOTIFY", SeccompAction::notify},
};

constexpr Named<SeccompOp> kOps[] = {
    {"SCMP_CMP_NE", SeccompOp::notEqual},       {"SCMP_CMP_LT", SeccompOp::lessThan},
    {"SCMP_CMP_LE", SeccompOp::lessOrEqual},    {"SCMP_CMP_EQ", SeccompOp::equal},
    {"SCMP_CMP_GE", SeccompOp::greaterOrEqual}, {"SCMP_CMP_GT", SeccompOp::greaterThan},
    {"SCMP_CMP_MASKED_EQ", SeccompOp::maskedEqual},
};

struct ArchEntry {
  std::string_view name;
  SeccompArch arch;
  std::uint32_t token;
};

constexpr ArchEntry kArches[] = {
    {"SCMP_ARCH_X86", SeccompArch::x86, SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SeccompArch::x86_64, SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", SeccompArch::x32, SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", SeccompArch::arm, SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", SeccompArch::aarch64, SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", SeccompArch::mips, SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SeccompArch::mips64, SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SeccompArch::mips64n32, SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SeccompArch::mipsel, SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SeccompArch::mipsel64, SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SeccompArch::mipsel64n32, SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", SeccompArch::ppc, SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SeccompArch::ppc64, SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SeccompArch::ppc64le, SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", SeccompArch::s390, SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SeccompArch::s390x, SCMP_ARCH_S390X},
    {"SCMP_ARCH_PARISC", SeccompArch::parisc, SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", SeccompArch::parisc64, SCMP_ARCH_PARISC64},
    {"SCMP_ARCH_RISCV64", SeccompArch::riscv64, SCMP_ARCH_RISCV64},
};

constexpr Named<unsigned> kFilterFlags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1U << 5},  // Linux 5.19; older headers lack the name
};

constexpr std::uint32_t kMaxErrno = 0xffff;  // SCMP_ACT_ERRNO and SCMP_ACT_TRACE keep 16 bits
constexpr unsigned kMaxArgs = 6;

Result<std::uint32_t> actionToken(SeccompAction action, std::optional<std::uint32_t> errnoRet,
                                  const std::string& what) {
  const std::uint32_t code = errnoRet.value_or(EPERM);
  if ((action == SeccompAction::returnErrno || action == SeccompAction::trace) && code > kMaxErrno)
    return fail(Errc::invalid_argument,
                "seccomp: " + what + ": errnoRet " + std::to_string(code) + " is above " + std::to_string(kMaxErrno));
  switch (action) {
    case SeccompAction::killThread: return SCMP_ACT_KILL_THREAD;
    case SeccompAction::killProcess: return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::trap: return SCMP_ACT_TRAP;
    case SeccompAction::returnErrno: return SCMP_ACT_ERRNO(code);
    case SeccompAction::trace: return SCMP_ACT_TRACE(code);
    case SeccompAction::allow: return SCMP_ACT_ALLOW;
    case SeccompAction::log: return SCMP_ACT_LOG;
    case SeccompAction::notify:
      return fail(Errc::invalid_argument, "seccomp: " + what + ": SCMP_ACT_NOTIFY is not supported");
  }
  return fail(Errc::invalid_argument,
              "seccomp: " + what + ": unknown action " + std::to_string(static_cast<int>(action)));
}

Result<scmp_compare> compareOf(SeccompOp op) {
  switch (op) {
    case SeccompOp::notEqual: return SCMP_CMP_NE;
    case SeccompOp::lessThan: return SCMP_CMP_LT;
    case SeccompOp::lessOrEqual: return SCMP_CMP_LE;
    case SeccompOp::equal: return SCMP_CMP_EQ;
    case SeccompOp::greaterOrEqual: return SCMP_CMP_GE;
    case SeccompOp::greaterThan: return SCMP_CMP_GT;
    case SeccompOp::maskedEqual: return SCMP_CMP_MASKED_EQ;
  }
  return fail(Errc::invalid_argument, "seccomp: unknown comparison " + std::to_string(static_cast<int>(op)));
}

Result<std::vector<scmp_arg_cmp>> conditionsOf(const SeccompRule& rule, const std::string& what) {
  std::vector<scmp_arg_cmp> conditions;
  for (const SeccompArg& arg : rule.args) {
    if (arg.index >= kMaxArgs)
      return fail(Errc::invalid_argument,
                  "seccomp: " + what + ": argument index " + std::to_string(arg.index) + " is above 5");
    BERTH_TRY(scmp_compare op, compareOf(arg.op));
    conditions.push_back(scmp_arg_cmp{arg.index, op, arg.value, arg.valueTwo});
  }
  return conditions;
}

bool repeatsAnIndex(const SeccompRule& rule) {
  std::array<int, kMaxArgs> seen{};
  for (const SeccompArg& arg : rule.args) {
    if (arg.index < kMaxArgs && ++seen[arg.index] > 1) return true;
  }
  return false;
}

Result<void> addRule(scmp_filter_ctx ctx, std::uint32_t defaultToken, const SeccompRule& rule, std::size_t position) {
  const std::string what = "syscalls[" + std::to_string(position) + "]";
  BERTH_TRY(std::uint32_t token, actionToken(rule.action, rule.errnoRet, what));
  BERTH_TRY(std::vector<scmp_arg_cmp> conditions, conditionsOf(rule, what));
  // libseccomp refuses a rule with the default action (EACCES); it would change nothing.
  if (token == defaultToken) return {};
  const bool separately = repeatsAnIndex(rule);
  for (const std::string& name : rule.names) {
    const int syscall = seccomp_syscall_resolve_name(name.c_str());
    if (syscall == __NR_SCMP_ERROR) continue;  // not a syscall this libseccomp knows: skipped, as runc does
    const std::string context = what + ": rule for " + name;
    if (separately) {
      for (const scmp_arg_cmp& condition : conditions) {
        BERTH_TRYV(checkSeccomp(seccomp_rule_add_array(ctx, token, syscall, 1, &condition), context,
                                Errc::invalid_argument));
      }
    } else {
      BERTH_TRYV(checkSeccomp(seccomp_rule_add_array(ctx, token, syscall, static_cast<unsigned>(conditions.size()),
                                                     conditions.data()),
                              context, Errc::invalid_argument));
    }
  }
  return {};
}

}  // namespace

std::optional<SeccompAction> seccompActionFromName(std::string_view name) { return lookUp(kActions, name); }

std::optional<SeccompOp> seccompOpFromName(std::string_view name) { return lookUp(kOps, name); }

std::optional<SeccompArch> seccompArchFromName(std::string_view name) {
  for (const ArchEntry& entry : kArches) {
    if (entry.name == name) return entry.arch;
  }
  return std::nullopt;
}

std::optional<unsigned> seccompFilterFlagFromName(std::string_view name) { return lookUp(kFilterFlags, name); }

Result<std::vector<sock_filter>> compileSeccompProfile(const SeccompProfile& profile) {
  BERTH_TRY(std::uint32_t defaultToken, actionToken(profile.defaultAction, profile.defaultErrnoRet, "defaultAction"));
  FilterContext ctx(seccomp_init(defaultToken), &seccomp_release);
  if (!ctx) return fail(Errc::internal, "seccomp_init failed");
  BERTH_TRYV(checkSeccomp(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                          "set bad-arch action"));
  for (SeccompArch arch : profile.architectures) {
    const ArchEntry* entry = nullptr;
    for (const ArchEntry& candidate : kArches) {
      if (candidate.arch == arch) entry = &candidate;
    }
    if (entry == nullptr)
      return fail(Errc::invalid_argument, "seccomp: unknown architecture " + std::to_string(static_cast<int>(arch)));
    const int rc = seccomp_arch_add(ctx.get(), entry->token);
    if (rc == -EEXIST) continue;  // the native architecture is always there
    BERTH_TRYV(checkSeccomp(rc, "add architecture " + std::string(entry->name), Errc::invalid_argument));
  }
  for (std::size_t i = 0; i < profile.syscalls.size(); ++i) {
    BERTH_TRYV(addRule(ctx.get(), defaultToken, profile.syscalls[i], i));
  }
  return detail::exportProgram(ctx.get());
}

}  // namespace berth::ns
