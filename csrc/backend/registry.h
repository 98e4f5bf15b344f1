#pragma once
// Kernel table: one slot per kernel, one function per device. Backends fill slots from static
// initializers (EMBER_REGISTER_KERNEL); ops call slot(device)(args...). A device without its own
// kernel falls back to the CPU one (Metal buffers are unified memory).
#include "core/device.h"
#include "core/error.h"

namespace ember {

template <class Fn>
struct KernelSlot {
  const char* name;
  Fn impls[kNumDevices] = {};
  constexpr explicit KernelSlot(const char* n) : name(n) {}
  Fn operator()(Device d) const {
    Fn f = impls[int(d)] ? impls[int(d)] : impls[int(Device::CPU)];
    if (!f) EMBER_RUNTIME_ERROR(name, ": no kernel registered for device ", device_name(d));
    return f;
  }
};

}  // namespace ember

#define EMBER_CONCAT_(a, b) a##b
#define EMBER_CONCAT(a, b) EMBER_CONCAT_(a, b)
#define EMBER_REGISTER_KERNEL(slot, device, fn)                                 \
  static const bool EMBER_CONCAT(ember_kernel_reg_, __COUNTER__) =              \
      (::ember::kernel::slot.impls[int(::ember::Device::device)] = (fn), true)
