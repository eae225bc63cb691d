#include "cgroup/devices.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/unique_fd.hpp"

namespace berth::cgroup {

namespace {

DeviceRule allowChar(uint32_t major, std::optional<uint32_t> minor) {
  return DeviceRule{.allow = true, .type = 'c', .major = major, .minor = minor, .access = kDeviceAllAccess};
}

bool sameNodes(const DeviceRule& a, const DeviceRule& b) {
  return a.type == b.type && a.major == b.major && a.minor == b.minor;
}

bool matches(const DeviceRule& exception, char type, uint32_t major, uint32_t minor) {
  return exception.type == type && (!exception.major || *exception.major == major) &&
         (!exception.minor || *exception.minor == minor);
}

// The program's context (struct bpf_cgroup_dev_ctx): access_type holds the
// device type in its low 16 bits and the access in its high 16.
constexpr int16_t kAccessTypeOffset = 0;
constexpr int16_t kMajorOffset = 4;
constexpr int16_t kMinorOffset = 8;
// Registers: r1 the context, then scratch; r2 type, r3 access, r4 major, r5 minor.
constexpr uint8_t kScratch = 1;
constexpr uint8_t kType = 2;
constexpr uint8_t kAccess = 3;
constexpr uint8_t kMajor = 4;
constexpr uint8_t kMinor = 5;

bpf_insn instruction(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn insn{};
  insn.code = code;
  insn.dst_reg = dst & 0xf;
  insn.src_reg = src & 0xf;
  insn.off = off;
  insn.imm = imm;
  return insn;
}

bpf_insn loadWord(uint8_t dst, int16_t offset) { return instruction(BPF_LDX | BPF_MEM | BPF_W, dst, 1, offset, 0); }
bpf_insn returnValue(int32_t value) { return instruction(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, value); }
bpf_insn exitProgram() { return instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
// A jump to the next block when `reg op value`; its offset is set once the block is whole.
// 32-bit compares: a major or minor above INT32_MAX stays itself as an immediate.
bpf_insn skipIf(uint8_t op, uint8_t reg, uint32_t value) {
  return instruction(BPF_JMP32 | op | BPF_K, reg, 0, 0, static_cast<int32_t>(value));
}

uint32_t bpfAccess(uint8_t access) {
  return ((access & kDeviceMknod) ? BPF_DEVCG_ACC_MKNOD : 0) | ((access & kDeviceRead) ? BPF_DEVCG_ACC_READ : 0) |
         ((access & kDeviceWrite) ? BPF_DEVCG_ACC_WRITE : 0);
}

}  // namespace

const std::vector<DeviceRule>& defaultDeviceRules() {
  // Read from "deny all" (reduceDeviceRules), so the list only allows.
  static const std::vector<DeviceRule> rules = {
      DeviceRule{.allow = true, .type = 'c', .access = kDeviceMknod},
      DeviceRule{.allow = true, .type = 'b', .access = kDeviceMknod},
      allowChar(1, 3),    // null
      allowChar(1, 5),    // zero
      allowChar(1, 7),    // full
      allowChar(1, 8),    // random
      allowChar(1, 9),    // urandom
      allowChar(5, 0),    // tty
      allowChar(5, 2),    // ptmx
      allowChar(136, {}),  // the pty slaves (/dev/pts/*, /dev/console on a terminal)
  };
  return rules;
}

DevicePolicy reduceDeviceRules(const std::vector<DeviceRule>& rules) {
  DevicePolicy policy;
  for (const DeviceRule& rule : rules) {
    if (rule.type == 'a') {
      policy.defaultAllow = rule.allow;
      policy.exceptions.clear();
      continue;
    }
    auto same = std::find_if(policy.exceptions.begin(), policy.exceptions.end(),
                             [&](const DeviceRule& exception) { return sameNodes(exception, rule); });
    if (rule.allow != policy.defaultAllow) {
      if (same != policy.exceptions.end()) {
        same->access |= rule.access;
      } else {
        policy.exceptions.push_back(rule);
      }
    } else if (same != policy.exceptions.end()) {
      same->access &= static_cast<uint8_t>(~rule.access);
      if (same->access == 0) policy.exceptions.erase(same);
    }
  }
  return policy;
}

bool policyAllows(const DevicePolicy& policy, char type, uint32_t major, uint32_t minor, uint8_t access) {
  for (const DeviceRule& exception : policy.exceptions) {
    if (!matches(exception, type, major, minor)) continue;
    if (!policy.defaultAllow && (access & ~exception.access) == 0) return true;
    if (policy.defaultAllow && (access & exception.access) != 0) return false;
  }
  return policy.defaultAllow;
}

std::string v1RuleLine(const DeviceRule& rule) {
  if (rule.type == 'a') return "a";
  std::string line(1, rule.type);
  line += ' ';
  line += rule.major ? std::to_string(*rule.major) : "*";
  line += ':';
  line += rule.minor ? std::to_string(*rule.minor) : "*";
  line += ' ';
  if (rule.access & kDeviceRead) line += 'r';
  if (rule.access & kDeviceWrite) line += 'w';
  if (rule.access & kDeviceMknod) line += 'm';
  return line;
}

std::vector<bpf_insn> deviceProgram(const DevicePolicy& policy) {
  std::vector<bpf_insn> program = {
      loadWord(kType, kAccessTypeOffset),
      instruction(BPF_ALU64 | BPF_MOV | BPF_X, kAccess, kType, 0, 0),
      instruction(BPF_ALU64 | BPF_AND | BPF_K, kType, 0, 0, 0xffff),
      instruction(BPF_ALU64 | BPF_RSH | BPF_K, kAccess, 0, 0, 16),
      loadWord(kMajor, kMajorOffset),
      loadWord(kMinor, kMinorOffset),
  };
  // One block per exception: each test skips to the next block when the
  // access is not the exception's; a block run to its end returns the
  // exception's verdict.
  for (const DeviceRule& exception : policy.exceptions) {
    std::vector<bpf_insn> block;
    block.push_back(
        skipIf(BPF_JNE, kType, exception.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
    const uint32_t access = bpfAccess(exception.access);
    if (exception.access != kDeviceAllAccess) {
      block.push_back(instruction(BPF_ALU64 | BPF_MOV | BPF_X, kScratch, kAccess, 0, 0));
      if (policy.defaultAllow) {
        // A deny exception refuses any access it names.
        block.push_back(instruction(BPF_ALU64 | BPF_AND | BPF_K, kScratch, 0, 0, static_cast<int32_t>(access)));
        block.push_back(skipIf(BPF_JEQ, kScratch, 0));
      } else {
        // An allow exception must cover the whole access asked for.
        block.push_back(instruction(BPF_ALU64 | BPF_AND | BPF_K, kScratch, 0, 0, static_cast<int32_t>(~access)));
        block.push_back(skipIf(BPF_JNE, kScratch, 0));
      }
    }
    if (exception.major) block.push_back(skipIf(BPF_JNE, kMajor, *exception.major));
    if (exception.minor) block.push_back(skipIf(BPF_JNE, kMinor, *exception.minor));
    block.push_back(returnValue(policy.defaultAllow ? 0 : 1));
    block.push_back(exitProgram());
    for (size_t i = 0; i < block.size(); ++i) {
      if (BPF_CLASS(block[i].code) == BPF_JMP32) block[i].off = static_cast<int16_t>(block.size() - i - 1);
    }
    program.insert(program.end(), block.begin(), block.end());
  }
  program.push_back(returnValue(policy.defaultAllow ? 1 : 0));
  program.push_back(exitProgram());
  return program;
}

Result<void> attachDeviceProgram(int cgroupDirFd, const std::vector<bpf_insn>& program) {
  static const char kLicense[] = "Apache-2.0";
  auto load = [&](char* log, uint32_t logSize) {
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uint64_t>(program.data());
    attr.insn_cnt = static_cast<uint32_t>(program.size());
    attr.license = reinterpret_cast<uint64_t>(kLicense);
    attr.log_buf = reinterpret_cast<uint64_t>(log);
    attr.log_size = logSize;
    attr.log_level = log ? 1 : 0;
    return static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  };
  // The program fd is close-on-exec by the kernel's own choice.
  UniqueFd prog(load(nullptr, 0));
  if (!prog) {
    const int err = errno;
    if (err != EINVAL && err != EACCES) return sysFail(Errc::host_refused, "loading the device cgroup program", err);
    // Again with the verifier's log, to say why.
    char log[2048] = {};
    UniqueFd again(load(log, sizeof log));
    log[sizeof log - 1] = '\0';
    return sysFail(Errc::internal, std::string("the verifier refused the device cgroup program: ") + log, err);
  }
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cgroupDirFd);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  // No flags: one program of ours per group, and attaching again replaces it.
  attr.attach_flags = 0;
  if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr) != 0)
    return sysFail(Errc::host_refused, "attaching the device cgroup program");
  // The group holds the program now; our fd may go.
  return {};
}

}  // namespace berth::cgroup
