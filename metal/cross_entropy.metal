// cross_entropy.metal -- fused cross entropy over rows of float logits z [rows, V] with int64
// targets, optional class weights and label smoothing; forward saves lse per row, backward
// recomputes softmax from it. One threadgroup per row (a multiple of 32 threads).
#include "cross_entropy_params.h"
#include "ember_kernel.h"

using namespace metal;

static inline float ce_sum(float v, bool is_max, threadgroup float* tg, uint lane, uint sg,
                           uint nsg) {
  v = is_max ? simd_max(v) : simd_sum(v);
  if (lane == 0) {
    tg[sg] = v;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  float w = lane < nsg ? tg[lane] : (is_max ? -numeric_limits<float>::infinity() : 0.0f);
  return is_max ? simd_max(w) : simd_sum(w);  // each call site has its own tg array
}

static inline bool ce_ignored(long t, constant CrossEntropyParams& p) {
  long ig = long(p.ignore_hi) * 4294967296l + long(uint(p.ignore_lo));
  return t == ig;
}

[[kernel]] void cross_entropy_fwd(
    const device float* z [[buffer(0)]], const device long* target [[buffer(1)]],
    const device float* weight [[buffer(2)]], device float* loss [[buffer(3)]],
    device float* lse [[buffer(4)]], constant CrossEntropyParams& p [[buffer(5)]],
    uint row [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint ntg [[threads_per_threadgroup]], uint lane [[thread_index_in_simdgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint nsg [[simdgroups_per_threadgroup]]) {
  EMBER_THREADGROUP(float, tg_max, [32]);
  EMBER_THREADGROUP(float, tg_sum, [32]);
  EMBER_THREADGROUP(float, tg_wz, [32]);
  const device float* zr = z + size_t(row) * p.V;
  float m = -numeric_limits<float>::infinity();
  for (uint c = tid; c < p.V; c += ntg) {
    m = max(m, zr[c]);
  }
  m = ce_sum(m, true, tg_max, lane, sg, nsg);
  float s = 0.0f, wz = 0.0f;
  for (uint c = tid; c < p.V; c += ntg) {
    s += exp(zr[c] - m);
    wz += (p.has_weight != 0 ? weight[c] : 1.0f) * zr[c];
  }
  s = ce_sum(s, false, tg_sum, lane, sg, nsg);
  wz = p.ls > 0.0f ? ce_sum(wz, false, tg_wz, lane, sg, nsg) : 0.0f;
  if (tid == 0) {
    const float l = isinf(m) ? m : m + log(s);
    lse[row] = l;
    const long t = target[row];
    if (ce_ignored(t, p)) {
      loss[row] = 0.0f;
    } else {
      const float wt = p.has_weight != 0 ? weight[t] : 1.0f;
      float v = (1.0f - p.ls) * wt * (l - zr[t]);
      if (p.ls > 0.0f) {
        v += p.ls / float(p.V) * (p.wsum * l - wz);
      }
      loss[row] = v;
    }
  }
}

// grad[r, c] = gs[r] * (p_c * ((1 - ls) w_t + ls/V * wsum) - (1 - ls) w_t [c == t] - ls/V * w_c)
[[kernel]] void cross_entropy_bwd(
    const device float* z [[buffer(0)]], const device long* target [[buffer(1)]],
    const device float* weight [[buffer(2)]], const device float* lse [[buffer(3)]],
    const device float* gs [[buffer(4)]], device float* grad [[buffer(5)]],
    constant CrossEntropyParams& p [[buffer(6)]], uint2 pos [[thread_position_in_grid]]) {
  const uint c = pos.x, row = pos.y;
  if (c >= p.V) {
    return;
  }
  const size_t k = size_t(row) * p.V + c;
  const long t = target[row];
  const float g = gs[row];
  if (ce_ignored(t, p) || g == 0.0f) {
    grad[k] = 0.0f;
    return;
  }
  const float wt = p.has_weight != 0 ? weight[t] : 1.0f, eps_c = p.ls / float(p.V);
  const float coef = g * ((1.0f - p.ls) * wt + eps_c * p.wsum);
  float v =
      coef * exp(min(z[k] - lse[row], 0.0f)) - g * eps_c * (p.has_weight != 0 ? weight[c] : 1.0f);
  if (long(c) == t) {
    v -= g * (1.0f - p.ls) * wt;
  }
  grad[k] = v;
}

EMBER_EXPORT(cross_entropy_fwd)
EMBER_EXPORT(cross_entropy_bwd)
