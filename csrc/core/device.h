#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "core/error.h"

namespace ember {

enum class Device : uint8_t { CPU = 0, Metal = 1 };
constexpr int kNumDevices = 2;

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "metal"; }
// What tensor.device prints: "cpu" / "metal:0" (one GPU; "mps" is accepted as an alias).
inline std::string device_str(Device d) { return d == Device::CPU ? "cpu" : "metal:0"; }

// A device's memory and queue. Backends register one from a static initializer, like kernels;
// the CPU has none (Storage uses its caching allocator). Metal memory is unified: the CPU may
// read and write a buffer after synchronize().
struct DeviceRuntime {
  void* (*allocate)(size_t nbytes);  // throws ember::Error (Runtime) when out of memory
  void (*free)(void* p);
  void (*synchronize)();  // waits for every queued kernel
};
void register_device_runtime(Device d, const DeviceRuntime* rt);
const DeviceRuntime* device_runtime(Device d);  // null: the backend is not built in
bool device_available(Device d);
void synchronize(Device d);  // no-op for the CPU

// Parses "cpu", "cpu:0", "metal", "metal:0" and "mps" / "mps:0" (PyTorch's name, an alias). A
// Metal device without the backend is a RuntimeError saying how to get it.
Device parse_device(const std::string& s);

// Per-op fallback to the CPU kernel (a device kernel that does not implement an op): counted per
// "slot" or "slot/op" so tests can prove a computation never left the device.
void count_fallback(const char* slot, const char* op);
std::map<std::string, int64_t> fallback_counts();
void reset_fallback_counts();

}  // namespace ember
