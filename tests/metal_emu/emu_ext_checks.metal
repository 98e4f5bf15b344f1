// emu_ext_checks.metal -- kernels that exercise the emulator extensions (simdgroup_matrix, atomics,
// bfloat). MSL style, like metal/*.metal; driven by test_emu_ext.cpp.
#include "ember_kernel.h"

using namespace metal;

// One SIMD-group: D = A * op(B) + C for 8x8 tiles staged through threadgroup memory (as the GEMM
// kernels do), op(B) = B^T when transpose_b != 0.
template <typename T>
[[kernel]] void sgm_mma8(const device T* a [[buffer(0)]], const device T* b [[buffer(1)]],
                         const device float* c [[buffer(2)]], device float* d [[buffer(3)]],
                         constant uint& transpose_b [[buffer(4)]],
                         uint tid [[thread_index_in_threadgroup]]) {
  EMBER_THREADGROUP(T, ta, [64]);
  EMBER_THREADGROUP(T, tb, [64]);
  for (uint i = tid; i < 64; i += 32) {
    ta[i] = a[i];
    tb[i] = b[i];
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  simdgroup_matrix<T, 8, 8> ma;
  simdgroup_matrix<T, 8, 8> mb;
  simdgroup_matrix<float, 8, 8> mc;
  simdgroup_load(ma, ta, 8);
  simdgroup_load(mb, tb, 8, ulong2(0, 0), transpose_b != 0);
  simdgroup_load(mc, c, 8);
  simdgroup_multiply_accumulate(mc, ma, mb, mc);
  simdgroup_store(mc, d, 8);
}

// Half a SIMD-group calls simdgroup_load: the emulator must refuse.
[[kernel]] void bad_sgm_partial(const device float* a [[buffer(0)]], device float* d [[buffer(1)]],
                                uint tid [[thread_index_in_threadgroup]]) {
  if (tid < 16) {
    simdgroup_float8x8 m;
    simdgroup_load(m, a, 8);
    d[tid] = m.thread_elements()[0];
  }
}

// Every thread of every group adds into shared counters: exact for integers.
[[kernel]] void atomic_accumulate(device atomic_uint* count [[buffer(0)]],
                                  device atomic_int* maxv [[buffer(1)]],
                                  device atomic_float* sum [[buffer(2)]],
                                  const device int* vals [[buffer(3)]],
                                  uint gid [[thread_position_in_grid]]) {
  atomic_fetch_add_explicit(count, 1u, memory_order_relaxed);
  atomic_fetch_max_explicit(maxv, vals[gid], memory_order_relaxed);
  atomic_fetch_add_explicit(sum, float(vals[gid]), memory_order_relaxed);
}

// float -> bfloat -> float, elementwise
[[kernel]] void bfloat_roundtrip(const device float* x [[buffer(0)]],
                                 device bfloat* y [[buffer(1)]], device float* back [[buffer(2)]],
                                 uint gid [[thread_position_in_grid]]) {
  bfloat v = bfloat(x[gid]);
  y[gid] = v;
  back[gid] = float(v);
}

EMBER_INSTANTIATE("sgm_mma8_float32", sgm_mma8, float)
EMBER_INSTANTIATE("sgm_mma8_float16", sgm_mma8, half)
EMBER_INSTANTIATE("sgm_mma8_bfloat16", sgm_mma8, bfloat)
EMBER_EXPORT(bad_sgm_partial)
EMBER_EXPORT(atomic_accumulate)
EMBER_EXPORT(bfloat_roundtrip)
