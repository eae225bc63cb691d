#pragma once
// The cloned child between clone and execve. Async-signal-safe only: it runs
// the plan the parent prepared and allocates nothing. Outside ASan builds it
// shares the parent's memory (CLONE_VM) on a stack of its own, so it also
// writes nothing but its stack (and errno, which the suspended parent does not
// read meanwhile).
#include "namespaces/init_plan.hpp"

namespace berth::ns {

// Runs the plan's steps and execs. Never returns: a failed step is reported
// on errorWrite (closed by a successful exec: O_CLOEXEC) and the child exits
// with 127.
[[noreturn]] void runChild(const InitPlan& plan, int errorWrite) noexcept;

}  // namespace berth::ns
