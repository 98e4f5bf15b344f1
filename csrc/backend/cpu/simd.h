// Vector types and the streaming row sum shared by the per-ISA kernel headers (reduce_impl.h,
// norm_impl.h, pool_impl.h, conv_impl.h). Included inside each *_isa_*.cpp after EMBER_ISA_NS
// is defined, so everything here has internal linkage in that ISA's namespace: copies built
// with different -m flags are never merged.
#pragma once
#include <cstdint>

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including simd.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
namespace {

// The ISA's register width, and the width for loops that stream from memory: on Zen 4 (512-bit
// ops split in two) 256-bit loads stream ~10% faster than 512-bit ones.
#if defined(__AVX512F__)
constexpr int kNativeVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kNativeVecBytes = 32;
#else
constexpr int kNativeVecBytes = 16;
#endif
constexpr int kStreamVecBytes = kNativeVecBytes > 32 ? 32 : kNativeVecBytes;

// GCC/Clang vector extension of B bytes of T; element-aligned, so loads may be unaligned.
template <class T, int B>
struct SimdVecOf {
  typedef T type __attribute__((vector_size(B), aligned(alignof(T)), may_alias));
};
template <class T, int B = kNativeVecBytes>
using SimdVec = typename SimdVecOf<T, B>::type;

template <int B = kNativeVecBytes, class T>
inline SimdVec<T, B> simd_load(const T* p) {
  return *reinterpret_cast<const SimdVec<T, B>*>(p);
}
template <int B = kNativeVecBytes, class T>
inline void simd_store(T* p, SimdVec<T, B> v) {
  *reinterpret_cast<SimdVec<T, B>*>(p) = v;
}

// Sum of a contiguous row of floats with eight independent accumulator chains (enough loads
// in flight to stream from memory at full speed); the lanes are added in a tree at the end.
template <class T>
T stream_sum(const T* x, int64_t n) {
  using V = SimdVec<T, kStreamVecBytes>;
  constexpr int W = kStreamVecBytes / int(sizeof(T));
  V a[8] = {};
  int64_t i = 0;
  for (; i + 8 * W <= n; i += 8 * W)
    for (int k = 0; k < 8; ++k) a[k] += simd_load<kStreamVecBytes>(x + i + k * W);
  for (; i + W <= n; i += W) a[0] += simd_load<kStreamVecBytes>(x + i);
  V t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  for (int half = W / 2; half >= 1; half /= 2)
    for (int j = 0; j < half; ++j) t[j] += t[j + half];
  T s = t[0];
  for (; i < n; ++i) s += x[i];
  return s;
}

}  // namespace
}  // namespace ember::cpu::EMBER_ISA_NS
