#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/device.h"

namespace ember {

// Refcounted buffer. Memory comes from the CPU caching allocator, from the device's runtime
// (allocate / free, see core/device.h), or is borrowed from another owner (NumPy, DLPack) through
// `deleter`. `version` is the in-place counter shared by all views.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;    // bytes asked for: views must stay within them (as_strided checks)
  size_t capacity = 0;  // bytes the caching allocator reserved (nbytes rounded up)
  Device device = Device::CPU;
  std::function<void(void*)> deleter;  // empty: owned by the CPU caching allocator
  std::atomic<uint32_t> version{0};  // atomic: optimizer steps bump it with the GIL released
  bool read_only = false;  // borrowed from a non-writable array: in-place ops refuse to write (check_inplace)

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::CPU);
  static std::shared_ptr<Storage> borrow(void* data, size_t nbytes, std::function<void(void*)> deleter);
};

struct MemoryStats {
  int64_t allocated = 0, peak = 0, cached = 0;
};

MemoryStats memory_stats();
void reset_peak_memory_stats();
void empty_cache();

}  // namespace ember
