#pragma once
// Small helpers shared by the per-family Metal launch code (reduce.cpp, gemm.cpp, ...).
#include <sys/types.h>  // `uint`, as the shared <family>_params.h headers spell it

#include <algorithm>
#include <cstdint>
#include <limits>

#include "backend/metal/runtime.h"
#include "core/tensor.h"

namespace ember::metal {

// host-name suffix of a floating dtype the kernels are instantiated for; null otherwise
inline const char* float_suffix(Dtype d) {
  switch (d) {
    case Dtype::Float32:
      return "float32";
    case Dtype::Float16:
      return "float16";
    case Dtype::BFloat16:
      return "bfloat16";
    default:
      return nullptr;
  }
}

// threads per threadgroup for n elements of work: a multiple of 32 (every SIMD lane active), <= cap
inline uint32_t simd_threads(int64_t n, uint32_t cap = 256) {
  int64_t t = (std::max<int64_t>(n, 1) + 31) / 32 * 32;
  return uint32_t(std::min<int64_t>(t, cap));
}

inline bool fits_int32(int64_t v) {
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

// true when every element offset of t fits in int32 (the kernels index with 32-bit strides)
inline bool offsets_fit_int32(const Tensor& t) {
  int64_t hi = 0;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.shape()[d] == 0) return true;
    if (!fits_int32(t.strides()[d])) return false;
    hi += std::abs(t.strides()[d]) * (t.shape()[d] - 1);
  }
  return hi < (int64_t(1) << 31);
}

// a pointer to bind where a kernel has an unused slot (never read; any live buffer will do)
inline const void* unused_binding(const Tensor& t) { return t.raw_data(); }

// RAII scratch buffer on the device (freed once the commands using it completed)
struct Scratch {
  void* p;
  explicit Scratch(size_t nbytes) : p(allocate(std::max<size_t>(nbytes, 16))) {}
  ~Scratch() { free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

}  // namespace ember::metal
