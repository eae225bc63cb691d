// The device policy as pure logic: v1's reading of rules in order, the lines
// for devices.allow/deny, and the eBPF program, run here by a small
// interpreter of the instructions it uses and held to the same decisions.
// (The kernel runs both for real in kernel_cgroup.)
#include <catch2/catch.hpp>
#include <cstdint>

#include "cgroup/devices.hpp"

using namespace berth::cgroup;

namespace {

// The subset of eBPF deviceProgram() emits; anything else fails the test.
uint64_t runProgram(const std::vector<bpf_insn>& program, char type, uint32_t major, uint32_t minor, uint8_t access) {
  const uint32_t bpfType = type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
  const uint32_t bpfAccess = ((access & kDeviceMknod) ? BPF_DEVCG_ACC_MKNOD : 0) |
                             ((access & kDeviceRead) ? BPF_DEVCG_ACC_READ : 0) |
                             ((access & kDeviceWrite) ? BPF_DEVCG_ACC_WRITE : 0);
  const uint32_t context[3] = {bpfType | (bpfAccess << 16), major, minor};
  uint64_t reg[11] = {};
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const bpf_insn& insn = program[pc];
    const uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(insn.imm));
    switch (insn.code) {
      case BPF_LDX | BPF_MEM | BPF_W:
        REQUIRE(insn.src_reg == 1);
        REQUIRE(insn.off % 4 == 0);
        REQUIRE(insn.off / 4 < 3);
        reg[insn.dst_reg] = context[insn.off / 4];
        break;
      case BPF_ALU64 | BPF_MOV | BPF_X: reg[insn.dst_reg] = reg[insn.src_reg]; break;
      case BPF_ALU64 | BPF_MOV | BPF_K: reg[insn.dst_reg] = imm; break;
      case BPF_ALU64 | BPF_AND | BPF_K: reg[insn.dst_reg] &= imm; break;
      case BPF_ALU64 | BPF_RSH | BPF_K: reg[insn.dst_reg] >>= insn.imm; break;
      case BPF_JMP32 | BPF_JNE | BPF_K:
        if (static_cast<uint32_t>(reg[insn.dst_reg]) != static_cast<uint32_t>(insn.imm)) pc += insn.off;
        break;
      case BPF_JMP32 | BPF_JEQ | BPF_K:
        if (static_cast<uint32_t>(reg[insn.dst_reg]) == static_cast<uint32_t>(insn.imm)) pc += insn.off;
        break;
      case BPF_JMP | BPF_EXIT: return reg[0];
      default: FAIL("unexpected instruction code " << int(insn.code));
    }
  }
  FAIL("the program ran off its end");
  return 0;
}

bool allowedByProgram(const DevicePolicy& policy, char type, uint32_t major, uint32_t minor, uint8_t access) {
  return runProgram(deviceProgram(policy), type, major, minor, access) == 1;
}

DeviceRule rule(bool allow, char type, std::optional<uint32_t> major, std::optional<uint32_t> minor,
                uint8_t access = kDeviceAllAccess) {
  return DeviceRule{.allow = allow, .type = type, .major = major, .minor = minor, .access = access};
}

}  // namespace

TEST_CASE("the default policy: deny all but mknod and the default nodes") {
  const DevicePolicy policy = reduceDeviceRules(defaultDeviceRules());
  CHECK_FALSE(policy.defaultAllow);
  for (auto check : {policyAllows, allowedByProgram}) {
    CHECK(check(policy, 'c', 1, 3, kDeviceRead));        // /dev/null
    CHECK(check(policy, 'c', 1, 9, kDeviceWrite));       // /dev/urandom
    CHECK(check(policy, 'c', 5, 2, kDeviceRead | kDeviceWrite));  // ptmx
    CHECK(check(policy, 'c', 136, 7, kDeviceWrite));     // a pty slave
    CHECK(check(policy, 'b', 8, 0, kDeviceMknod));       // making a node opens nothing
    CHECK_FALSE(check(policy, 'b', 8, 0, kDeviceRead));  // the host's disk
    CHECK_FALSE(check(policy, 'c', 1, 1, kDeviceRead));  // /dev/mem
    CHECK_FALSE(check(policy, 'c', 10, 200, kDeviceRead));  // tun is not a default
    CHECK_FALSE(check(policy, 'c', 5, 1, kDeviceRead));  // the host's console
  }
}

TEST_CASE("rules apply in order as v1 applies them") {
  SECTION("an allow-all rule clears what came before, a deny adds an exception") {
    const DevicePolicy policy = reduceDeviceRules({rule(false, 'c', 1, 3), rule(true, 'a', {}, {}), rule(false, 'b', 8, {})});
    CHECK(policy.defaultAllow);
    REQUIRE(policy.exceptions.size() == 1);
    CHECK(v1RuleLine(policy.exceptions[0]) == "b 8:* rwm");
    CHECK_FALSE(policyAllows(policy, 'b', 8, 16, kDeviceRead));
    CHECK(policyAllows(policy, 'b', 9, 0, kDeviceRead));
    CHECK(policyAllows(policy, 'c', 1, 3, kDeviceRead));
  }
  SECTION("access of the same nodes merges, and a later rule takes it away again") {
    const DevicePolicy policy = reduceDeviceRules({rule(false, 'a', {}, {}), rule(true, 'c', 1, 3, kDeviceRead),
                                                   rule(true, 'c', 1, 3, kDeviceWrite), rule(true, 'c', 4, 1),
                                                   rule(false, 'c', 4, 1, kDeviceWrite | kDeviceMknod),
                                                   rule(true, 'c', 7, 0), rule(false, 'c', 7, 0)});
    REQUIRE(policy.exceptions.size() == 2);
    CHECK(v1RuleLine(policy.exceptions[0]) == "c 1:3 rw");
    CHECK(v1RuleLine(policy.exceptions[1]) == "c 4:1 r");
    CHECK(policyAllows(policy, 'c', 1, 3, kDeviceRead | kDeviceWrite));
    CHECK_FALSE(policyAllows(policy, 'c', 1, 3, kDeviceMknod));
    CHECK_FALSE(policyAllows(policy, 'c', 7, 0, kDeviceRead));
  }
  SECTION("a narrower deny cannot punch a hole in a wider allow (v1 matches exceptions exactly)") {
    const DevicePolicy policy = reduceDeviceRules({rule(true, 'c', 1, {}), rule(false, 'c', 1, 1)});
    CHECK(policyAllows(policy, 'c', 1, 1, kDeviceRead));
  }
  SECTION("no rules at all: nothing is allowed") {
    const DevicePolicy policy = reduceDeviceRules({});
    CHECK_FALSE(policy.defaultAllow);
    CHECK(policy.exceptions.empty());
    CHECK_FALSE(allowedByProgram(policy, 'c', 1, 3, kDeviceRead));
  }
}

TEST_CASE("v1 lines name type, numbers or *, and the access") {
  CHECK(v1RuleLine(rule(true, 'a', {}, {})) == "a");
  CHECK(v1RuleLine(rule(true, 'b', {}, {}, kDeviceMknod)) == "b *:* m");
  CHECK(v1RuleLine(rule(true, 'c', 136, {})) == "c 136:* rwm");
  CHECK(v1RuleLine(rule(true, 'c', 1, 3, kDeviceRead | kDeviceWrite)) == "c 1:3 rw");
}

TEST_CASE("the eBPF program decides as the policy does, for every kind of access") {
  const std::vector<DevicePolicy> policies = {
      reduceDeviceRules(defaultDeviceRules()),
      reduceDeviceRules({rule(true, 'a', {}, {}), rule(false, 'b', 8, {}), rule(false, 'c', 1, 1, kDeviceRead)}),
      reduceDeviceRules({rule(false, 'a', {}, {}), rule(true, 'c', 1, 3, kDeviceRead), rule(true, 'b', {}, 2)}),
      // Numbers above INT32_MAX survive the program's 32-bit immediates.
      reduceDeviceRules({rule(false, 'a', {}, {}), rule(true, 'c', 4000000000u, 4000000001u)}),
  };
  const uint32_t majors[] = {1, 5, 8, 136, 4000000000u};
  const uint32_t minors[] = {0, 1, 2, 3, 4000000001u};
  const uint8_t accesses[] = {kDeviceRead, kDeviceWrite, kDeviceMknod, kDeviceRead | kDeviceWrite};
  int allowed = 0;
  int refused = 0;
  for (const DevicePolicy& policy : policies) {
    for (char type : {'c', 'b'}) {
      for (uint32_t major : majors) {
        for (uint32_t minor : minors) {
          for (uint8_t access : accesses) {
            const bool expected = policyAllows(policy, type, major, minor, access);
            INFO(type << " " << major << ":" << minor << " access " << int(access));
            CHECK(allowedByProgram(policy, type, major, minor, access) == expected);
            (expected ? allowed : refused)++;
          }
        }
      }
    }
  }
  // The grid has both outcomes, so agreement means something.
  CHECK(allowed > 20);
  CHECK(refused > 20);
}
