// layer_norm.metal -- layer_norm / rms_norm over the rows of a contiguous float [rows, n] tensor,
// forward and backward. One threadgroup per row (a multiple of 32 threads) for the row passes;
// the weight / bias gradients sum columns over rows in a second kernel (one thread per column,
// rows in order: deterministic, no atomics).
#include "ember_kernel.h"
#include "layer_norm_params.h"

using namespace metal;

// every thread gets the threadgroup's sum of v; each call site passes its own tg array, so no
// second barrier is needed before the next sum's writes
static inline float norm_sum(float v, threadgroup float* tg, uint lane, uint sg, uint nsg) {
  v = simd_sum(v);
  if (lane == 0) {
    tg[sg] = v;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  float w = lane < nsg ? tg[lane] : 0.0f;
  return simd_sum(w);
}

[[kernel]] void layer_norm_fwd(
    const device float* x [[buffer(0)]], const device float* weight [[buffer(1)]],
    const device float* bias [[buffer(2)]], device float* y [[buffer(3)]],
    device float* mean [[buffer(4)]], device float* rstd [[buffer(5)]],
    constant LayerNormParams& p [[buffer(6)]], uint row [[threadgroup_position_in_grid]],
    uint tid [[thread_index_in_threadgroup]], uint ntg [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint sg [[simdgroup_index_in_threadgroup]],
    uint nsg [[simdgroups_per_threadgroup]]) {
  EMBER_THREADGROUP(float, tg_mean, [32]);
  EMBER_THREADGROUP(float, tg_var, [32]);
  const device float* xr = x + size_t(row) * p.n;
  device float* yr = y + size_t(row) * p.n;
  float mu = 0.0f;
  if (p.rms == 0) {
    float s = 0.0f;
    for (uint i = tid; i < p.n; i += ntg) {
      s += xr[i];
    }
    mu = norm_sum(s, tg_mean, lane, sg, nsg) / float(p.n);
  }
  float q = 0.0f;  // two passes: the variance of (x - mean) stays accurate for large means
  for (uint i = tid; i < p.n; i += ntg) {
    float d = xr[i] - mu;
    q += d * d;
  }
  const float r = rsqrt(norm_sum(q, tg_var, lane, sg, nsg) / float(p.n) + p.eps);
  for (uint i = tid; i < p.n; i += ntg) {
    float v = (xr[i] - mu) * r;
    if (p.has_weight != 0) {
      v *= weight[i];
    }
    if (p.has_bias != 0) {
      v += bias[i];
    }
    yr[i] = v;
  }
  if (tid == 0) {
    if (p.rms == 0) {
      mean[row] = mu;
    }
    rstd[row] = r;
  }
}

// gx = rstd * (g*w - mean(g*w) - xhat * mean(g*w * xhat))   (rms: without the mean(g*w) term)
[[kernel]] void layer_norm_bwd_rows(
    const device float* g [[buffer(0)]], const device float* x [[buffer(1)]],
    const device float* weight [[buffer(2)]], const device float* mean [[buffer(3)]],
    const device float* rstd [[buffer(4)]], device float* gx [[buffer(5)]],
    constant LayerNormParams& p [[buffer(6)]], uint row [[threadgroup_position_in_grid]],
    uint tid [[thread_index_in_threadgroup]], uint ntg [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint sg [[simdgroup_index_in_threadgroup]],
    uint nsg [[simdgroups_per_threadgroup]]) {
  EMBER_THREADGROUP(float, tg_1, [32]);
  EMBER_THREADGROUP(float, tg_2, [32]);
  const size_t base = size_t(row) * p.n;
  const float mu = p.rms != 0 ? 0.0f : mean[row], r = rstd[row];
  float s1 = 0.0f, s2 = 0.0f;
  for (uint i = tid; i < p.n; i += ntg) {
    float gw = g[base + i] * (p.has_weight != 0 ? weight[i] : 1.0f);
    s1 += gw;
    s2 += gw * (x[base + i] - mu) * r;
  }
  const float m1 = p.rms != 0 ? 0.0f : norm_sum(s1, tg_1, lane, sg, nsg) / float(p.n);
  const float m2 = norm_sum(s2, tg_2, lane, sg, nsg) / float(p.n);
  for (uint i = tid; i < p.n; i += ntg) {
    float gw = g[base + i] * (p.has_weight != 0 ? weight[i] : 1.0f);
    float xhat = (x[base + i] - mu) * r;
    gx[base + i] = r * (gw - m1 - xhat * m2);
  }
}

// gw[c] = sum_r g * xhat, gb[c] = sum_r g
[[kernel]] void layer_norm_bwd_cols(const device float* g [[buffer(0)]],
                                    const device float* x [[buffer(1)]],
                                    const device float* mean [[buffer(2)]],
                                    const device float* rstd [[buffer(3)]],
                                    device float* gw [[buffer(4)]], device float* gb [[buffer(5)]],
                                    constant LayerNormParams& p [[buffer(6)]],
                                    uint c [[thread_position_in_grid]]) {
  if (c >= p.n) {
    return;
  }
  float sw = 0.0f, sb = 0.0f;
  for (uint r = 0; r < p.rows; ++r) {
    size_t k = size_t(r) * p.n + c;
    float mu = p.rms != 0 ? 0.0f : mean[r];
    sw += g[k] * (x[k] - mu) * rstd[r];
    sb += g[k];
  }
  if (p.want_gw != 0) {
    gw[c] = sw;
  }
  if (p.want_gb != 0) {
    gb[c] = sb;
  }
}

EMBER_EXPORT(layer_norm_fwd)
EMBER_EXPORT(layer_norm_bwd_rows)
EMBER_EXPORT(layer_norm_bwd_cols)
