#pragma once
// The device cgroup: which device nodes a group's processes may open or make.
// Rules are read as the v1 `devices` controller reads its writes, one after
// another from "deny all"; the result (a default and its exceptions) is
// written to the v1 group where the host has that controller, or compiled to
// an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program for the v2 group (pure v2
// hosts). Both paths therefore decide alike (runc does the same).
#include <linux/bpf.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace berth::cgroup {

// Access bits, as the v1 controller's "rwm".
inline constexpr uint8_t kDeviceRead = 1;
inline constexpr uint8_t kDeviceWrite = 2;
inline constexpr uint8_t kDeviceMknod = 4;
inline constexpr uint8_t kDeviceAllAccess = kDeviceRead | kDeviceWrite | kDeviceMknod;

struct DeviceRule {
  bool allow = false;
  char type = 'a';                // 'a' (every device: resets the default, as v1's "a"), 'c' or 'b'
  std::optional<uint32_t> major;  // unset: any ("*")
  std::optional<uint32_t> minor;
  uint8_t access = kDeviceAllAccess;
};

// The mainstream runtimes' default allow list (runc's AllowedDevices without
// tun), read after "deny all": making any node (mknod alone opens nothing)
// and opening null, zero, full, random, urandom, tty, ptmx and the pty
// slaves (136:*, also /dev/console on a terminal). An OCI spec's rules come
// before it, as in runc.
const std::vector<DeviceRule>& defaultDeviceRules();

// What the rules come to, applied in order from "deny all" by v1's rules: a
// type 'a' rule sets the default and clears the exceptions; a rule opposite
// to the default adds an exception (access merged into one of the same
// type and numbers); a rule like the default removes access from the
// exception of exactly the same type and numbers (it cannot punch a hole in
// a wider one).
struct DevicePolicy {
  bool defaultAllow = false;
  std::vector<DeviceRule> exceptions;  // each the opposite of the default
};
DevicePolicy reduceDeviceRules(const std::vector<DeviceRule>& rules);

// The decision for one access (one bit) to one node, as the v1 controller
// makes it: with default deny, an exception must cover the access; with
// default allow, any exception that matches refuses it.
bool policyAllows(const DevicePolicy& policy, char type, uint32_t major, uint32_t minor, uint8_t access);

// "c 1:3 rwm", "b *:* m": a line for devices.allow or devices.deny.
std::string v1RuleLine(const DeviceRule& rule);

// The policy as a BPF_PROG_TYPE_CGROUP_DEVICE program (returns 1 to allow).
std::vector<bpf_insn> deviceProgram(const DevicePolicy& policy);

// Loads the program and attaches it to the cgroup2 directory (an fd opened
// O_RDONLY | O_DIRECTORY), replacing the one attached there before.
Result<void> attachDeviceProgram(int cgroupDirFd, const std::vector<bpf_insn>& program);

}  // namespace berth::cgroup
