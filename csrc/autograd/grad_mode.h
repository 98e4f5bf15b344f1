#pragma once

namespace ember::autograd {

// Whether ops record a backward graph (thread-local, like PyTorch).
struct GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};

struct GradModeGuard {
  bool prev;
  explicit GradModeGuard(bool on) : prev(GradMode::enabled()) { GradMode::set_enabled(on); }
  ~GradModeGuard() { GradMode::set_enabled(prev); }
};

}  // namespace ember::autograd
