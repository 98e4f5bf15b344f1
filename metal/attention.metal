// attention.metal -- flash-style scaled dot-product attention, float32. One SIMD-group (32
// threads) per query row walks the keys in tiles of 32: each lane scores one key, the tile's
// probabilities go through threadgroup memory, and the output is rescaled online (running max and
// sum), so no L x S score matrix exists. Causal (keys j <= i) and additive masks; GQA heads;
// dropout drawn by a hash of (seed, row, key), recomputed in the backward (no mask stored).
// Backward from the saved log-sum-exp, deterministic without atomics: attn_bwd_dq walks the keys
// per query row, attn_bwd_dkv walks the query rows (of every head sharing the key/value head) per
// key row; attn_bwd_delta precomputes D_i = sum_e g[i, e] * out[i, e].
#include "attention_params.h"
#include "ember_kernel.h"

using namespace metal;

static constant constexpr uint kAttnPer = EMBER_ATTN_MAX_E / 32;  // accumulators per lane

// score of query row (n, h, i) and key j: scale * q.k + mask; -inf when causally hidden
static inline float attn_score(const device float* q, const device float* k,
                               const device float* mask, constant AttnParams& p, uint n, uint h,
                               uint i, uint j) {
  if (p.causal != 0 && j > i) {
    return -numeric_limits<float>::infinity();
  }
  const uint hk = h / (p.H / p.Hk);
  const device float* qr = q + long(n) * p.q_n + long(h) * p.q_h + long(i) * p.q_l;
  const device float* kr = k + long(n) * p.k_n + long(hk) * p.k_h + long(j) * p.k_s;
  float s = 0.0f;
  for (uint e = 0; e < p.E; ++e) {
    s += qr[e] * kr[e];
  }
  s *= p.scale;
  if (p.has_mask != 0) {
    s += mask[long(n) * p.m_n + long(h) * p.m_h + long(i) * p.m_l + long(j) * p.m_s];
  }
  return s;
}

// dropout factor of score (row, j): keep_scale or 0 (attention_row_hash / attention_col_hash of
// backend/kernels_attention.h, bit for bit)
static inline float attn_dropout(constant AttnParams& p, uint row, uint j) {
  if (p.has_dropout == 0) {
    return 1.0f;
  }
  ulong z = ((ulong(p.seed_hi) << 32) | ulong(p.seed_lo)) + (ulong(row) + 1) * 0x9E3779B97F4A7C15ul;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
  uint h = uint(z ^ (z >> 31)) ^ (j * 0x9E3779B9u);
  h = (h ^ (h >> 16)) * 0x7FEB352Du;
  h = (h ^ (h >> 15)) * 0x846CA68Bu;
  return (h ^ (h >> 16)) >= p.drop_threshold ? p.keep_scale : 0.0f;
}

[[kernel]] void attn_fwd(const device float* q [[buffer(0)]], const device float* k [[buffer(1)]],
                         const device float* v [[buffer(2)]],
                         const device float* mask [[buffer(3)]], device float* out [[buffer(4)]],
                         device float* lse [[buffer(5)]], constant AttnParams& p [[buffer(6)]],
                         uint row [[threadgroup_position_in_grid]],
                         uint lane [[thread_index_in_simdgroup]]) {
  EMBER_THREADGROUP(float, tile_p, [32]);
  const uint i = row % p.L, h = (row / p.L) % p.H, n = row / (p.L * p.H), hk = h / (p.H / p.Hk);
  float m = -numeric_limits<float>::infinity(), l = 0.0f;
  float acc[kAttnPer];
  for (uint t = 0; t < kAttnPer; ++t) {
    acc[t] = 0.0f;
  }
  const uint end = p.causal != 0 ? min(p.S, i + 1) : p.S;
  for (uint j0 = 0; j0 < end; j0 += 32) {
    const uint j = j0 + lane;
    const float s =
        j < end ? attn_score(q, k, mask, p, n, h, i, j) : -numeric_limits<float>::infinity();
    const float m_new = max(m, simd_max(s));
    // rows whose scores so far are all -inf keep weight 0 (exp(-inf - -inf) would be NaN)
    const float pj = isinf(m_new) ? 0.0f : exp(s - m_new);
    const float rescale = isinf(m_new) ? 1.0f : exp(m - m_new);
    l = l * rescale + simd_sum(pj);  // the normalizer sums the probabilities before dropout
    tile_p[lane] = j < end ? pj * attn_dropout(p, row, j) : 0.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    for (uint t = 0; t < kAttnPer; ++t) {
      const uint e = lane + 32 * t;
      if (e < p.Ev) {
        float a = acc[t] * rescale;
        for (uint jj = 0; jj < 32 && j0 + jj < end; ++jj) {
          a += tile_p[jj] * v[long(n) * p.v_n + long(hk) * p.v_h + long(j0 + jj) * p.v_s + e];
        }
        acc[t] = a;
      }
    }
    m = m_new;  // the next tile's simd_max keeps lanes from overwriting tile_p while it is read
  }
  const bool empty = l == 0.0f;  // nothing to attend: output 0, lse +inf (as the CPU kernel)
  for (uint t = 0; t < kAttnPer; ++t) {
    const uint e = lane + 32 * t;
    if (e < p.Ev) {
      out[long(row) * p.Ev + e] = empty ? 0.0f : acc[t] / l;
    }
  }
  if (lane == 0) {
    lse[row] = empty ? numeric_limits<float>::infinity() : m + log(l);
  }
}

// D[row] = sum_e g[row, e] * out[row, e]
[[kernel]] void attn_bwd_delta(const device float* g [[buffer(0)]],
                               const device float* out [[buffer(1)]],
                               device float* delta [[buffer(2)]],
                               constant AttnParams& p [[buffer(3)]],
                               uint row [[threadgroup_position_in_grid]],
                               uint lane [[thread_index_in_simdgroup]]) {
  float s = 0.0f;
  for (uint e = lane; e < p.Ev; e += 32) {
    s += g[long(row) * p.Ev + e] * out[long(row) * p.Ev + e];
  }
  s = simd_sum(s);
  if (lane == 0) {
    delta[row] = s;
  }
}

// dq[i] = scale * sum_j P_ij (g_i . v_j - D_i) k_j
[[kernel]] void attn_bwd_dq(
    const device float* q [[buffer(0)]], const device float* k [[buffer(1)]],
    const device float* v [[buffer(2)]], const device float* mask [[buffer(3)]],
    const device float* g [[buffer(4)]], const device float* lse [[buffer(5)]],
    const device float* delta [[buffer(6)]], device float* dq [[buffer(7)]],
    constant AttnParams& p [[buffer(8)]], uint row [[threadgroup_position_in_grid]],
    uint lane [[thread_index_in_simdgroup]]) {
  EMBER_THREADGROUP(float, tile_ds, [32]);
  const uint i = row % p.L, h = (row / p.L) % p.H, n = row / (p.L * p.H), hk = h / (p.H / p.Hk);
  const float li = lse[row], di = delta[row];
  float acc[kAttnPer];
  for (uint t = 0; t < kAttnPer; ++t) {
    acc[t] = 0.0f;
  }
  const uint end = p.causal != 0 ? min(p.S, i + 1) : p.S;
  for (uint j0 = 0; j0 < end && !isinf(li); j0 += 32) {
    const uint j = j0 + lane;
    float ds = 0.0f;
    if (j < end) {
      const float pij = exp(attn_score(q, k, mask, p, n, h, i, j) - li);
      float dp = 0.0f;
      for (uint e = 0; e < p.Ev; ++e) {
        dp += g[long(row) * p.Ev + e] * v[long(n) * p.v_n + long(hk) * p.v_h + long(j) * p.v_s + e];
      }
      ds = pij * (dp * attn_dropout(p, row, j) - di);
    }
    tile_ds[lane] = ds;
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    for (uint t = 0; t < kAttnPer; ++t) {
      const uint e = lane + 32 * t;
      if (e < p.E) {
        float a = acc[t];
        for (uint jj = 0; jj < 32 && j0 + jj < end; ++jj) {
          a += tile_ds[jj] * k[long(n) * p.k_n + long(hk) * p.k_h + long(j0 + jj) * p.k_s + e];
        }
        acc[t] = a;
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  }
  for (uint t = 0; t < kAttnPer; ++t) {
    const uint e = lane + 32 * t;
    if (e < p.E) {
      dq[long(row) * p.E + e] = p.scale * acc[t];
    }
  }
}

// per key row j of kv head hk: dv[j] = sum_{h, i} P_ij g_i, dk[j] = scale * sum_{h, i} dS_ij q_i
[[kernel]] void attn_bwd_dkv(
    const device float* q [[buffer(0)]], const device float* k [[buffer(1)]],
    const device float* v [[buffer(2)]], const device float* mask [[buffer(3)]],
    const device float* g [[buffer(4)]], const device float* lse [[buffer(5)]],
    const device float* delta [[buffer(6)]], device float* dk [[buffer(7)]],
    device float* dv [[buffer(8)]], constant AttnParams& p [[buffer(9)]],
    uint krow [[threadgroup_position_in_grid]], uint lane [[thread_index_in_simdgroup]]) {
  EMBER_THREADGROUP(float, tile_p, [32]);
  EMBER_THREADGROUP(float, tile_ds, [32]);
  const uint j = krow % p.S, hk = (krow / p.S) % p.Hk, n = krow / (p.S * p.Hk), rep = p.H / p.Hk;
  float acc_k[kAttnPer];
  float acc_v[kAttnPer];
  for (uint t = 0; t < kAttnPer; ++t) {
    acc_k[t] = 0.0f;
    acc_v[t] = 0.0f;
  }
  const uint begin = p.causal != 0 ? j : 0;  // causal: only rows i >= j see key j
  for (uint h = hk * rep; h < (hk + 1) * rep; ++h) {
    for (uint i0 = begin; i0 < p.L; i0 += 32) {
      const uint i = i0 + lane;
      const uint row = (n * p.H + h) * p.L + i;
      float pij = 0.0f, ds = 0.0f;
      if (i < p.L && !isinf(lse[row])) {
        pij = exp(attn_score(q, k, mask, p, n, h, i, j) - lse[row]);
        float dp = 0.0f;
        for (uint e = 0; e < p.Ev; ++e) {
          dp +=
              g[long(row) * p.Ev + e] * v[long(n) * p.v_n + long(hk) * p.v_h + long(j) * p.v_s + e];
        }
        const float z = attn_dropout(p, row, j);
        ds = pij * (dp * z - delta[row]);
        pij *= z;  // dv sees the dropped probabilities
      }
      tile_p[lane] = pij;
      tile_ds[lane] = ds;
      threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
      for (uint ii = 0; ii < 32 && i0 + ii < p.L; ++ii) {
        const uint r = (n * p.H + h) * p.L + i0 + ii;
        const device float* qr = q + long(n) * p.q_n + long(h) * p.q_h + long(i0 + ii) * p.q_l;
        for (uint t = 0; t < kAttnPer; ++t) {
          const uint e = lane + 32 * t;
          if (e < p.Ev) {
            acc_v[t] += tile_p[ii] * g[long(r) * p.Ev + e];
          }
          if (e < p.E) {
            acc_k[t] += tile_ds[ii] * qr[e];
          }
        }
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    }
  }
  for (uint t = 0; t < kAttnPer; ++t) {
    const uint e = lane + 32 * t;
    if (e < p.E) {
      dk[long(krow) * p.E + e] = p.scale * acc_k[t];
    }
    if (e < p.Ev) {
      dv[long(krow) * p.Ev + e] = acc_v[t];
    }
  }
}

EMBER_EXPORT(attn_fwd)
EMBER_EXPORT(attn_bwd_delta)
EMBER_EXPORT(attn_bwd_dq)
EMBER_EXPORT(attn_bwd_dkv)
