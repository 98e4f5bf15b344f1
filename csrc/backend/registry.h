#pragma once
// Kernel table: one slot per kernel, one function per device. Backends fill slots from static
// initializers (EMBER_REGISTER_KERNEL); ops call slot(device)(args...). A device without its own
// kernel for an op falls back to the CPU one (Metal buffers are unified memory), counted.
#include <type_traits>
#include <utility>

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

// > 0 while a CPU kernel runs as a device's fallback: kernels it calls run on the CPU too
// (synchronously, on the device's unified memory), whatever device they are asked for.
struct HostFallback {
  static inline thread_local int depth = 0;
};

// Every tensor argument must live on the kernel's device: ops never copy between devices.
inline void check_device_of(const char* slot, Device d, const Tensor& t) {
  if (t.defined() && t.device() != d && HostFallback::depth == 0)
    EMBER_RUNTIME_ERROR(slot, ": expected all tensors to be on the same device, but found at least two devices, ",
                        device_str(d), " and ", device_str(t.device()));
}
template <class T>
void check_device_of(const char* slot, Device d, const T& arg) {
  if constexpr (std::is_same_v<T, TensorList>)
    for (const auto& t : arg) check_device_of(slot, d, t);
}

template <class Fn>
struct KernelSlot;

// What slot(device) returns: calls the kernel with the GIL released (by its tensors' size). The
// kernel's own parameter types, so braced arguments ({...}) still convert. On a device other than
// the CPU, a missing kernel or one that declines this call (an op it does not implement) runs the
// CPU kernel on the same unified-memory buffers after a synchronize, and counts the fallback.
template <class Fn>
struct KernelCall;
template <class R, class... P>
struct KernelCall<R (*)(P...)> {
  const KernelSlot<R (*)(P...)>* slot;
  Device device;
  R operator()(P... args) const {
    (check_device_of(slot->name, device, args), ...);
    R (*fn)(P...) = slot->impls[int(device)];
    bool fallback = false;
    if (device != Device::CPU && HostFallback::depth == 0) {
      const char* declined = fn && slot->declines[int(device)] ? slot->declines[int(device)](args...) : nullptr;
      if (!fn || declined) {
        count_fallback(slot->name, declined);
        synchronize(device);
        fn = slot->impls[int(Device::CPU)];
        fallback = true;
      }
    } else if (HostFallback::depth > 0) {
      fn = slot->impls[int(Device::CPU)];
    }
    if (!fn) EMBER_RUNTIME_ERROR(slot->name, ": no kernel registered for device ", device_name(device));
    GilReleaseScope scope((int64_t(0) + ... + elements_of<std::decay_t<P>>(args)));
    struct Depth {
      bool on;
      explicit Depth(bool b) : on(b) { HostFallback::depth += on; }
      ~Depth() { HostFallback::depth -= on; }
    } depth(fallback);
    return fn(std::forward<P>(args)...);
  }
};

// One function per device. `declines[d]`, when set, returns the name of the op a device kernel does
// not implement for these arguments (null: it runs them), e.g. "erf" for a Metal unary kernel.
template <class R, class... P>
struct KernelSlot<R (*)(P...)> {
  using Fn = R (*)(P...);
  using Declines = const char* (*)(P...);
  const char* name;
  Fn impls[kNumDevices] = {};
  Declines declines[kNumDevices] = {};
  constexpr explicit KernelSlot(const char* n) : name(n) {}
  KernelCall<Fn> operator()(Device d) const { return {this, d}; }
  // The CPU kernel on any device's unified memory, without device checks: for device transfers,
  // whose caller has synchronized.
  Fn host() const { return impls[int(Device::CPU)]; }
};

}  // namespace ember

#define EMBER_CONCAT_(a, b) a##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT_(a, b)
#define EMBER_REGISTER_KERNEL(slot, device, fn)                                 \
  static const bool EMBER_CONCAT(ember_kernel_reg_, __COUNTER__) =              \
      (::ember::kernel::slot.impls[int(::ember::Device::device)] = (fn), true)
// fn(args...) -> the name of an op the device kernel does not implement, or null
#define EMBER_REGISTER_DECLINES(slot, device, fn)                               \
  static const bool EMBER_CONCAT(ember_kernel_reg_, __COUNTER__) =              \
      (::ember::kernel::slot.declines[int(::ember::Device::device)] = (fn), true)
