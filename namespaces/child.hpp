#pragma once
// The cloned child between clone3 and execve. Async-signal-safe only: it
// runs the plan the parent prepared and allocates nothing.
#include "namespaces/init_plan.hpp"

namespace berth::ns {

struct ChildFds {
  int errorWrite;  // ChildReport on failure; closed by a successful exec (O_CLOEXEC)
  int syncRead;    // one byte from the parent once it has placed us in our cgroups
  int syncWrite;   // the parent's end, inherited; closed first
};

// Waits for the parent's go, runs the plan's steps and execs. Never returns:
// a failed step is reported on fds.errorWrite and the child exits with 127.
[[noreturn]] void runChild(const InitPlan& plan, const ChildFds& fds) noexcept;

}  // namespace berth::ns
