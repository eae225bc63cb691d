#pragma once
#include <utility>

namespace berth {

// Runs an undo action at scope exit unless dismissed: the rollback of a
// multi-step operation that commits only at the end.
template <typename F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F undo) : undo_(std::move(undo)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() {
    if (active_) undo_();
  }
  void dismiss() { active_ = false; }

 private:
  F undo_;
  bool active_ = true;
};

}  // namespace berth
