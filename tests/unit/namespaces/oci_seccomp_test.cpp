// An OCI seccomp profile compiled to BPF: names, refusals, and what the
// program does once loaded (in a forked child with no_new_privs: no root).
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>

#include "namespaces/oci_seccomp.hpp"
#include "namespaces/security.hpp"

namespace berth::ns {
namespace {

bool sameProgram(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].code != b[i].code || a[i].jt != b[i].jt || a[i].jf != b[i].jf || a[i].k != b[i].k) return false;
  }
  return true;
}

// Loads the program in a child and runs probe there; returns probe's value
// (0..255) or -1 if the child did not exit normally.
template <typename Probe>
int inFilteredChild(const std::vector<sock_filter>& program, Probe probe) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    SecurityPlan plan;
    plan.seccompFilter = program;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(200);
    if (loadSeccompFilter(plan) != 0) ::_exit(201);
    ::_exit(probe());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The errno of a failed call, 0 if it succeeded.
int errnoOf(int rc) { return rc < 0 ? errno : 0; }

TEST_CASE("seccomp names resolve as the OCI spec spells them", "[oci_seccomp]") {
  CHECK(seccompActionFromName("SCMP_ACT_KILL") == SeccompAction::killThread);
  CHECK(seccompActionFromName("SCMP_ACT_KILL_THREAD") == SeccompAction::killThread);
  CHECK(seccompActionFromName("SCMP_ACT_KILL_PROCESS") == SeccompAction::killProcess);
  CHECK(seccompActionFromName("SCMP_ACT_TRAP") == SeccompAction::trap);
  CHECK(seccompActionFromName("SCMP_ACT_ERRNO") == SeccompAction::returnErrno);
  CHECK(seccompActionFromName("SCMP_ACT_TRACE") == SeccompAction::trace);
  CHECK(seccompActionFromName("SCMP_ACT_ALLOW") == SeccompAction::allow);
  CHECK(seccompActionFromName("SCMP_ACT_LOG") == SeccompAction::log);
  CHECK(seccompActionFromName("SCMP_ACT_NOTIFY") == SeccompAction::notify);
  CHECK_FALSE(seccompActionFromName("SCMP_ACT_FOO"));
  CHECK_FALSE(seccompActionFromName("scmp_act_allow"));

  CHECK(seccompOpFromName("SCMP_CMP_NE") == SeccompOp::notEqual);
  CHECK(seccompOpFromName("SCMP_CMP_MASKED_EQ") == SeccompOp::maskedEqual);
  CHECK_FALSE(seccompOpFromName("SCMP_CMP_XX"));

  CHECK(seccompArchFromName("SCMP_ARCH_X86_64") == SeccompArch::x86_64);
  CHECK(seccompArchFromName("SCMP_ARCH_X32") == SeccompArch::x32);
  CHECK(seccompArchFromName("SCMP_ARCH_RISCV64") == SeccompArch::riscv64);
  CHECK_FALSE(seccompArchFromName("SCMP_ARCH_VAX"));

  CHECK(seccompFilterFlagFromName("SECCOMP_FILTER_FLAG_LOG") == 2u);
  CHECK_FALSE(seccompFilterFlagFromName("SECCOMP_FILTER_FLAG_NEW_LISTENER"));
}

TEST_CASE("a profile compiles to a BPF program", "[oci_seccomp]") {
  SeccompProfile profile;
  profile.defaultAction = SeccompAction::returnErrno;
  profile.architectures = {SeccompArch::x86_64, SeccompArch::x86, SeccompArch::x32};
  profile.syscalls = {
      {{"read", "write", "exit_group", "futex"}, SeccompAction::allow, std::nullopt, {}},
      {{"personality"}, SeccompAction::allow, std::nullopt, {{0, 0, 0, SeccompOp::equal}}},
      {{"clone"}, SeccompAction::allow, std::nullopt, {{0, 0x7E020000, 0, SeccompOp::maskedEqual}}},
      {{"socket"}, SeccompAction::returnErrno, 97, {{0, 40, 0, SeccompOp::equal}}},
      {{"kill"}, SeccompAction::log, std::nullopt, {}},
      {{"ptrace"}, SeccompAction::killProcess, std::nullopt, {}},
      // 32-bit x86 only: translated for that architecture, absent from the others.
      {{"socketcall"}, SeccompAction::allow, std::nullopt, {}},
  };
  auto program = compileSeccompProfile(profile);
  REQUIRE(program);
  CHECK(program->size() > 10);
  // Every program ends by returning a verdict.
  CHECK(program->back().code == (BPF_RET | BPF_K));
}

TEST_CASE("the default filter shares the export path and still compiles", "[oci_seccomp]") {
  auto program = compileDefaultFilter();
  REQUIRE(program);
  CHECK(program->size() > 10);
  CHECK(program->back().code == (BPF_RET | BPF_K));
}

TEST_CASE("unknown syscall names are skipped and default-action rules dropped", "[oci_seccomp]") {
  SeccompProfile empty;
  empty.defaultAction = SeccompAction::allow;
  auto bare = compileSeccompProfile(empty);
  REQUIRE(bare);

  SeccompProfile unknown = empty;
  unknown.syscalls = {{{"no_such_syscall_at_all", "another_made_up_one"}, SeccompAction::returnErrno, 1, {}},
                      {{"getpid"}, SeccompAction::allow, std::nullopt, {}}};
  auto skipped = compileSeccompProfile(unknown);
  REQUIRE(skipped);
  CHECK(sameProgram(*bare, *skipped));

  // The same errno as the default: dropped. A different errno: a real rule.
  SeccompProfile errnoDefault;
  errnoDefault.defaultAction = SeccompAction::returnErrno;
  errnoDefault.defaultErrnoRet = 38;
  auto plain = compileSeccompProfile(errnoDefault);
  REQUIRE(plain);
  errnoDefault.syscalls = {{{"getpid"}, SeccompAction::returnErrno, 38, {}}};
  auto same = compileSeccompProfile(errnoDefault);
  REQUIRE(same);
  CHECK(sameProgram(*plain, *same));
  errnoDefault.syscalls = {{{"getpid"}, SeccompAction::returnErrno, 1, {}}};
  auto different = compileSeccompProfile(errnoDefault);
  REQUIRE(different);
  CHECK_FALSE(sameProgram(*plain, *different));
}

TEST_CASE("what the profile gets wrong is refused", "[oci_seccomp]") {
  SeccompProfile profile;
  profile.defaultAction = SeccompAction::notify;
  auto notifyDefault = compileSeccompProfile(profile);
  REQUIRE_FALSE(notifyDefault);
  CHECK(notifyDefault.error().code == Errc::invalid_argument);
  CHECK_THAT(notifyDefault.error().message, Catch::Contains("defaultAction") && Catch::Contains("SCMP_ACT_NOTIFY"));

  profile.defaultAction = SeccompAction::allow;
  profile.syscalls = {{{"getpid"}, SeccompAction::notify, std::nullopt, {}}};
  auto notifyRule = compileSeccompProfile(profile);
  REQUIRE_FALSE(notifyRule);
  CHECK_THAT(notifyRule.error().message, Catch::Contains("syscalls[0]") && Catch::Contains("SCMP_ACT_NOTIFY"));

  // An action outside the enum (a struct built by hand, not by the parser).
  profile.syscalls = {{{"getpid"}, static_cast<SeccompAction>(200), std::nullopt, {}}};
  auto unknownAction = compileSeccompProfile(profile);
  REQUIRE_FALSE(unknownAction);
  CHECK(unknownAction.error().code == Errc::invalid_argument);
  CHECK_THAT(unknownAction.error().message, Catch::Contains("unknown action"));

  profile.syscalls = {{{"getpid"}, SeccompAction::returnErrno, 0x10000, {}}};
  auto bigErrno = compileSeccompProfile(profile);
  REQUIRE_FALSE(bigErrno);
  CHECK_THAT(bigErrno.error().message, Catch::Contains("errnoRet 65536"));

  profile.syscalls = {{{"getpid"}, SeccompAction::returnErrno, 1, {{6, 0, 0, SeccompOp::equal}}}};
  auto badIndex = compileSeccompProfile(profile);
  REQUIRE_FALSE(badIndex);
  CHECK_THAT(badIndex.error().message, Catch::Contains("argument index 6"));

  profile.syscalls = {{{"getpid"}, SeccompAction::returnErrno, 1, {{0, 0, 0, static_cast<SeccompOp>(99)}}}};
  CHECK_FALSE(compileSeccompProfile(profile));

  profile.syscalls = {};
  profile.architectures = {static_cast<SeccompArch>(99)};
  auto badArch = compileSeccompProfile(profile);
  REQUIRE_FALSE(badArch);
  CHECK_THAT(badArch.error().message, Catch::Contains("unknown architecture"));
}

TEST_CASE("a loaded profile compares arguments as the spec says", "[oci_seccomp]") {
  SeccompProfile profile;
  profile.defaultAction = SeccompAction::allow;
  profile.syscalls = {
      // One index twice: either value matches.
      {{"dup"}, SeccompAction::returnErrno, EMLINK, {{0, 1000, 0, SeccompOp::equal}, {0, 1001, 0, SeccompOp::equal}}},
      // Distinct indexes: both must match.
      {{"dup3"}, SeccompAction::returnErrno, EXDEV, {{0, 1000, 0, SeccompOp::equal}, {1, 1001, 0, SeccompOp::equal}}},
      // (fd & 0xff00) == 0x0700
      {{"fchdir"}, SeccompAction::returnErrno, ENOTSUP, {{0, 0xff00, 0x0700, SeccompOp::maskedEqual}}},
      // errnoRet unset: EPERM.
      {{"fchmod"}, SeccompAction::returnErrno, std::nullopt, {{0, 5000, 0, SeccompOp::greaterOrEqual}}},
  };
  auto program = compileSeccompProfile(profile);
  REQUIRE(program);

  // Without the filter each of these fails with EBADF (no such fd).
  CHECK(inFilteredChild(*program, [] { return errnoOf(::dup(1000)); }) == EMLINK);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::dup(1001)); }) == EMLINK);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::dup(1002)); }) == EBADF);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::dup3(1000, 1001, 0)); }) == EXDEV);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::dup3(1000, 1002, 0)); }) == EBADF);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::fchdir(0x0712)); }) == ENOTSUP);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::fchdir(0x0812)); }) == EBADF);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::fchmod(6000, 0644)); }) == EPERM);
  CHECK(inFilteredChild(*program, [] { return errnoOf(::fchmod(4999, 0644)); }) == EBADF);
}

TEST_CASE("a kill action kills the process", "[oci_seccomp]") {
  SeccompProfile profile;
  profile.defaultAction = SeccompAction::allow;
  profile.syscalls = {{{"getppid"}, SeccompAction::killProcess, std::nullopt, {}}};
  auto program = compileSeccompProfile(profile);
  REQUIRE(program);
  CHECK(inFilteredChild(*program, [] { return static_cast<int>(::getppid() > 0); }) == -1);
  CHECK(inFilteredChild(*program, [] { return static_cast<int>(::getpid() > 0); }) == 1);
}

}  // namespace
}  // namespace berth::ns
