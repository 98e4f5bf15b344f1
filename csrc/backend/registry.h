#pragma once
// Kernel table: one slot per kernel, one function per device. Backends fill slots from static
// initializers (EMBER_REGISTER_KERNEL); ops call slot(device)(args...). A device without its own
// kernel falls back to the CPU one (Metal buffers are unified memory).
#include <type_traits>
#include <utility>

#include "compile/record.h"
#include "core/device.h"
#include "core/error.h"
#include "core/tensor.h"

namespace ember {

// Kernels run without Python's GIL, so other Python threads (data loading, a second model)
// proceed meanwhile. The bindings install release/restore (the core never sees Python); release
// returns null when the calling thread does not hold the GIL (pool workers, nested kernels).
// Kernels over fewer elements keep it: releasing costs more than they take.
struct GilRelease {
  static inline void* (*release)() = nullptr;
  static inline void (*restore)(void*) = nullptr;
  static constexpr int64_t kMinElements = 1 << 14;
  static inline thread_local int holds = 0;  // > 0: inside a GilHold
};

// Kernels called in this scope keep the GIL: code holding a lock that a GIL holder may wait
// for (the generator's) must not give the GIL away, or the two threads deadlock.
struct GilHold {
  GilHold() { ++GilRelease::holds; }
  ~GilHold() { --GilRelease::holds; }
  GilHold(const GilHold&) = delete;
  GilHold& operator=(const GilHold&) = delete;
};

class GilReleaseScope {
 public:
  explicit GilReleaseScope(int64_t elements)
      : state_(elements >= GilRelease::kMinElements && GilRelease::holds == 0 && GilRelease::release
                   ? GilRelease::release()
                   : nullptr) {}
  ~GilReleaseScope() {
    if (state_) GilRelease::restore(state_);
  }
  GilReleaseScope(const GilReleaseScope&) = delete;
  GilReleaseScope& operator=(const GilReleaseScope&) = delete;

 private:
  void* state_;
};

template <class T>
int64_t elements_of(const T& arg) {
  if constexpr (std::is_same_v<T, Tensor>) return arg.defined() ? arg.numel() : 0;
  else if constexpr (std::is_same_v<T, TensorList>) {
    int64_t n = 0;
    for (const auto& t : arg) n += t.defined() ? t.numel() : 0;
    return n;
  } else return 0;
}

// What slot(device) returns: calls the kernel with the GIL released (by its tensors' size).
// The kernel's own parameter types, so braced arguments ({...}) still convert.
template <class Fn>
struct KernelCall;
template <class R, class... P>
struct KernelCall<R (*)(P...)> {
  R (*fn)(P...);
  const char* name;
  R operator()(P... args) const {
    if (compile::recording()) compile::record_kernel(name, fn, args...);  // ember.compile
    compile::DepthScope depth;
    GilReleaseScope scope((int64_t(0) + ... + elements_of<std::decay_t<P>>(args)));
    return fn(std::forward<P>(args)...);
  }
};

template <class Fn>
struct KernelSlot {
  const char* name;
  Fn impls[kNumDevices] = {};
  constexpr explicit KernelSlot(const char* n) : name(n) {}
  KernelCall<Fn> operator()(Device d) const {
    Fn f = impls[int(d)] ? impls[int(d)] : impls[int(Device::CPU)];
    if (!f) EMBER_RUNTIME_ERROR(name, ": no kernel registered for device ", device_name(d));
    return {f, name};
  }
};

}  // namespace ember

#define EMBER_CONCAT_(a, b) a##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT_(a, b)
#define EMBER_REGISTER_KERNEL(slot, device, fn)                                 \
  static const bool EMBER_CONCAT(ember_kernel_reg_, __COUNTER__) =              \
      (::ember::kernel::slot.impls[int(::ember::Device::device)] = (fn), true)
