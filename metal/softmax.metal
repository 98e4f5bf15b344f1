// softmax.metal -- softmax / log_softmax over the last dim of a contiguous [rows, n] tensor, one
// threadgroup per row (any size that is a multiple of 32): max, then sum of exp(x - max), both
// reduced per SIMD-group and then across SIMD-groups through threadgroup memory; float math.
#include "ember_kernel.h"
#include "softmax_params.h"

using namespace metal;

// every thread gets the threadgroup's max (is_max) or sum of v
static inline float softmax_allreduce(float v, bool is_max, threadgroup float* tg, uint lane,
                                      uint sg, uint nsg) {
  v = is_max ? simd_max(v) : simd_sum(v);
  if (lane == 0) {
    tg[sg] = v;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  if (sg == 0) {
    float w = lane < nsg ? tg[lane] : (is_max ? -numeric_limits<float>::infinity() : 0.0f);
    w = is_max ? simd_max(w) : simd_sum(w);
    if (lane == 0) {
      tg[32] = w;
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  return tg[32];
}

template <typename T>
[[kernel]] void softmax_rows(const device T* x [[buffer(0)]], device T* y [[buffer(1)]],
                             constant SoftmaxParams& p [[buffer(2)]],
                             uint row [[threadgroup_position_in_grid]],
                             uint tid [[thread_index_in_threadgroup]],
                             uint ntg [[threads_per_threadgroup]],
                             uint lane [[thread_index_in_simdgroup]],
                             uint sg [[simdgroup_index_in_threadgroup]],
                             uint nsg [[simdgroups_per_threadgroup]]) {
  EMBER_THREADGROUP(float, tg_max, [33]);
  EMBER_THREADGROUP(float, tg_sum, [33]);
  const device T* xr = x + size_t(row) * p.n;
  device T* yr = y + size_t(row) * p.n;
  float m = -numeric_limits<float>::infinity();
  for (uint i = tid; i < p.n; i += ntg) {
    m = max(m,
            float(xr[i]));  // MSL max ignores NaN; a NaN still reaches the sum, so its row is NaN
  }
  m = softmax_allreduce(m, true, tg_max, lane, sg, nsg);
  float s = 0.0f;
  for (uint i = tid; i < p.n; i += ntg) {
    s += exp(float(xr[i]) - m);
  }
  s = softmax_allreduce(s, false, tg_sum, lane, sg, nsg);
  // an all -inf row has m = -inf: exp(-inf - -inf) is NaN, as in PyTorch
  const float lse = log(s);
  for (uint i = tid; i < p.n; i += ntg) {
    float d = float(xr[i]) - m;
    yr[i] = T(p.log != 0 ? d - lse : exp(d) / s);
  }
}

EMBER_INSTANTIATE("softmax_rows_float32", softmax_rows, float)
EMBER_INSTANTIATE("softmax_rows_float16", softmax_rows, half)
EMBER_INSTANTIATE("softmax_rows_bfloat16", softmax_rows, bfloat)
