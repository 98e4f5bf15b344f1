// Flash attention CPU kernels, compiled once per ISA (cmake/isa.cmake sets EMBER_ISA_NS);
// attention.cpp registers the best. Scores are made a tile at a time with the GEMM engine
// (one thread per tile), softmaxed online (running max and sum per query row) and multiplied
// into V, so no [L, S] buffer ever exists. Forward tasks: (batch, head, query block). Backward
// tasks: (batch, key/value head), which own dk/dv of that head and dq of its query heads, so no
// two tasks write the same gradient. f32 without dropout takes the register-tiled fast path of
// attention_flash.h instead; this general path serves f64 and dropout.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel_claim.h"
#include "backend/cpu/simd.h"
#include "backend/cpu/simd_math.h"
#include "backend/cpu/threadpool.h"
#include "backend/kernels_attention.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including attention_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
// Internal linkage: compiled under several ISA flags (see loops.h).
namespace {

constexpr int64_t kBr = 64;  // query rows per backward tile
// Forward: shorter query blocks compute less of the causal diagonal's masked half; K^T is not
// re-packed per block (k_transposed), so the extra blocks cost little.
constexpr int64_t kBrF = 32;
constexpr int64_t kBc = 512;  // key columns per tile: wide, so short sequences take one GEMM each way

template <class A>
struct View4 {  // a 4-D strided view (unit last stride for q/k/v)
  const A* p = nullptr;
  int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 1;
  explicit View4(const Tensor& t) {
    if (!t.defined()) return;
    p = static_cast<const A*>(t.raw_data());
    s0 = t.strides()[0], s1 = t.strides()[1], s2 = t.strides()[2], s3 = t.strides()[3];
  }
  const A* at(int64_t a, int64_t b, int64_t c) const { return p + a * s0 + b * s1 + c * s2; }
};

template <class A>
constexpr GemmIn gemm_in() {
  return std::is_same_v<A, double> ? GemmIn::F64 : GemmIn::F32;
}

// C[m, n] (row stride ldc) = alpha * A @ B + beta * C on the calling thread.
template <class A>
void tile_gemm(int64_t m, int64_t n, int64_t k, double alpha, const A* a, int64_t a_rs, int64_t a_cs, const A* b,
               int64_t b_rs, int64_t b_cs, double beta, A* c, int64_t ldc) {
  if (k == 0) {  // empty inner dim: the product is 0
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? A(0) : A(beta * c[i * ldc + j]);
    return;
  }
  GemmDesc d;
  d.in = gemm_in<A>();
  d.m = m, d.n = n, d.k = k;
  d.a = a, d.a_rs = a_rs, d.a_cs = a_cs;
  d.b = b, d.b_rs = b_rs, d.b_cs = b_cs;
  d.c = c, d.c_rs = ldc, d.c_cs = 1;
  d.alpha = alpha, d.beta = beta;
  d.threads = 1;
  ::ember::cpu::EMBER_ISA_NS::gemm_run(d);  // this ISA's engine (qualified: no ADL)
}

// Adds the mask and the causal cut to a score tile s [br, bc] of rows i0.., columns j0...
template <class A>
void mask_tile(A* s, int64_t br, int64_t bc, int64_t i0, int64_t j0, const View4<A>& mask, int64_t n, int64_t h,
               bool causal) {
  constexpr A kNegInf = -std::numeric_limits<A>::infinity();
  for (int64_t r = 0; r < br; ++r) {
    A* row = s + r * bc;
    if (mask.p) {
      const A* mp = mask.at(n, h, i0 + r) + j0 * mask.s3;
      if (mask.s3 == 1)
        for (int64_t c = 0; c < bc; ++c) row[c] += mp[c];
      else
        for (int64_t c = 0; c < bc; ++c) row[c] += mp[c * mask.s3];
    }
    if (causal)
      for (int64_t c = std::max<int64_t>(0, i0 + r - j0 + 1); c < bc; ++c) row[c] = kNegInf;
  }
}

// row[c] *= (kept ? keep_scale : 0) for the dropout draws of row `grow` (global row id).
template <class A>
void dropout_row(A* row, int64_t bc, int64_t j0, uint64_t seed, uint64_t grow, uint32_t threshold, A keep_scale) {
  const uint32_t rh = attention_row_hash(seed, grow);
  for (int64_t c = 0; c < bc; ++c)
    row[c] *= attention_col_hash(rh, uint32_t(j0 + c)) >= threshold ? keep_scale : A(0);
}

// max and sum of a tile row, in vector lanes (plain loops would stay scalar: no reassociation).
template <class A>
A lane_max(const A* x, int64_t n) {
  using V = SimdVec<A>;
  constexpr int64_t W = kNativeVecBytes / int64_t(sizeof(A));
  A m = -std::numeric_limits<A>::infinity();
  int64_t i = 0;
  if (n >= W) {
    V a = simd_load(x);
    for (i = W; i + W <= n; i += W) {
      V y = simd_load(x + i);
      a = a > y ? a : y;
    }
    for (int64_t j = 0; j < W; ++j) m = std::max(m, a[j]);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

template <class A>
A lane_sum(const A* x, int64_t n) {
  using V = SimdVec<A>;
  constexpr int64_t W = kNativeVecBytes / int64_t(sizeof(A));
  V a = {}, b = {};
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) a += simd_load(x + i), b += simd_load(x + i + W);
  for (; i + W <= n; i += W) a += simd_load(x + i);
  a += b;
  A s = 0;
  for (int64_t j = 0; j < W; ++j) s += a[j];
  for (; i < n; ++i) s += x[i];
  return s;
}

template <class A>
struct Scratch {
  std::vector<A> s, acc, m, l, dp, dsum, kt;
  uint64_t kt_call = 0;  // K^T cache: forward call, (batch, kv head) and columns done
  int64_t kt_nh = -1, kt_done = 0;
  A* take(std::vector<A>& v, int64_t n) {
    if (int64_t(v.size()) < n) v.resize(size_t(n));
    return v.data();
  }
};

template <class A>
Scratch<A>& scratch() {
  thread_local Scratch<A> t;
  return t;
}

// Row stride of the K^T buffer: padded off powers of two, whose rows would share L1 sets.
inline int64_t kt_stride(int64_t S) { return (S + 15) / 16 * 16 + 16; }

// Forward calls get distinct ids, so a thread's K^T cache never outlives its call.
inline std::atomic<uint64_t> fwd_call_id{0};

// K^T of head (n, hk) as [E, S] rows, columns [0, jend) filled: the score GEMM then reads B
// in place (row-major) instead of transposing K again for every query block. The thread keeps
// it while consecutive tasks stay on the same head.
template <class A>
const A* k_transposed(Scratch<A>& w, const View4<A>& k, const AttentionParams& p, uint64_t call, int64_t n,
                      int64_t hk, int64_t jend) {
  const int64_t nh = n * p.Hk + hk;
  if (w.kt_call != call || w.kt_nh != nh) w.kt_call = call, w.kt_nh = nh, w.kt_done = 0;
  const int64_t ld = kt_stride(p.S);
  A* kt = w.take(w.kt, p.E * ld);
  for (int64_t j = w.kt_done; j < jend; ++j) {
    const A* kr = k.at(n, hk, j);
    for (int64_t e = 0; e < p.E; ++e) kt[e * ld + j] = kr[e];
  }
  w.kt_done = std::max(w.kt_done, jend);
  return kt;
}

template <class A>
void fwd_block(const Tensor& out_t, const Tensor& lse_t, const View4<A>& q, const View4<A>& k, const View4<A>& v,
               const View4<A>& mask, const AttentionParams& p, uint64_t call, int64_t n, int64_t h, int64_t i0,
               int64_t br) {
  const int64_t hk = h / (p.H / p.Hk), Ev = p.Ev;
  Scratch<A>& w = scratch<A>();
  A* s = w.take(w.s, kBrF * kBc);
  A* acc = w.take(w.acc, kBrF * std::max<int64_t>(Ev, 1));
  A* m = w.take(w.m, kBrF);
  A* l = w.take(w.l, kBrF);
  std::fill(acc, acc + br * Ev, A(0));
  std::fill(m, m + br, -std::numeric_limits<A>::infinity());
  std::fill(l, l + br, A(0));
  const bool drop = p.dropout_p > 0;
  const uint32_t threshold = attention_dropout_threshold(p.dropout_p);
  const A keep_scale = p.dropout_p >= 1 ? A(0) : A(1 / (1 - p.dropout_p));
  const uint64_t row_base = uint64_t((n * p.H + h) * p.L);
  const int64_t jend = p.causal ? std::min(p.S, i0 + br) : p.S;  // later keys: all masked
  const A* kt = k_transposed(w, k, p, call, n, hk, jend);
  for (int64_t j0 = 0; j0 < jend; j0 += kBc) {
    const int64_t bc = std::min(kBc, jend - j0);
    tile_gemm<A>(br, bc, p.E, p.scale, q.at(n, h, i0), q.s2, 1, kt + j0, kt_stride(p.S), 1, 0, s, bc);
    mask_tile(s, br, bc, i0, j0, mask, n, h, p.causal && j0 + bc > i0);
    for (int64_t r = 0; r < br; ++r) {
      A* row = s + r * bc;
      const A mnew = std::max(m[r], lane_max(row, bc));
      if (mnew == -std::numeric_limits<A>::infinity()) {  // nothing to attend yet
        std::fill(row, row + bc, A(0));
        continue;
      }
      for (int64_t c = 0; c < bc; ++c) row[c] = exp_nonpos<A>(row[c] - mnew);
      const A sum = lane_sum(row, bc);
      if (mnew != m[r]) {
        const A corr = exp_nonpos<A>(m[r] - mnew);  // 0 when m was -inf
        A* ar = acc + r * Ev;
        for (int64_t e = 0; e < Ev; ++e) ar[e] *= corr;
        l[r] *= corr;
        m[r] = mnew;
      }
      l[r] += sum;
      if (drop) dropout_row(row, bc, j0, p.seed, row_base + uint64_t(i0 + r), threshold, keep_scale);
    }
    tile_gemm<A>(br, Ev, bc, 1.0, s, bc, 1, v.at(n, hk, j0), v.s2, 1, 1.0, acc, Ev);
  }
  A* out = static_cast<A*>(out_t.raw_data()) + ((n * p.H + h) * p.L + i0) * Ev;
  A* lse = static_cast<A*>(lse_t.raw_data()) + (n * p.H + h) * p.L + i0;
  for (int64_t r = 0; r < br; ++r) {
    const A inv = l[r] > 0 ? A(1) / l[r] : A(0);  // a fully masked row gives 0
    for (int64_t e = 0; e < Ev; ++e) out[r * Ev + e] = acc[r * Ev + e] * inv;
    lse[r] = l[r] > 0 ? m[r] + std::log(l[r]) : std::numeric_limits<A>::infinity();
  }
}

#include "backend/cpu/attention_flash.h"  // the f32 fast path (flash::)

template <class A>
void attention_fwd(const Tensor& out, const Tensor& lse, const Tensor& q_t, const Tensor& k_t, const Tensor& v_t,
                   const Tensor& mask_t, const AttentionParams& p) {
  const View4<A> q(q_t), k(k_t), v(v_t), mask(mask_t);
  if constexpr (std::is_same_v<A, float>)
    if (p.dropout_p == 0) return flash::forward(out, lse, q, k, v, mask, p);
  const int64_t nblk = (p.L + kBrF - 1) / kBrF, tasks = p.N * p.H * nblk;
  const uint64_t call = fwd_call_id.fetch_add(1) + 1;
  parallel_for(0, tasks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t blk = t % nblk, nh = t / nblk, i0 = blk * kBrF;
      fwd_block<A>(out, lse, q, k, v, mask, p, call, nh / p.H, nh % p.H, i0, std::min(kBrF, p.L - i0));
    }
  });
}

// dk, dv of key/value head (n, hk) and dq of its query heads.
template <class A>
void bwd_head(const Tensor& dq_t, const Tensor& dk_t, const Tensor& dv_t, const Tensor& g_t, const View4<A>& q,
              const View4<A>& k, const View4<A>& v, const Tensor& out_t, const Tensor& lse_t, const View4<A>& mask,
              const AttentionParams& p, int64_t n, int64_t hk) {
  const int64_t rep = p.H / p.Hk, L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  Scratch<A>& w = scratch<A>();
  A* s = w.take(w.s, kBr * kBc);
  A* dp = w.take(w.dp, kBr * kBc);
  A* dsum = w.take(w.dsum, L);
  A* dk = static_cast<A*>(dk_t.raw_data()) + (n * p.Hk + hk) * S * E;
  A* dv = static_cast<A*>(dv_t.raw_data()) + (n * p.Hk + hk) * S * Ev;
  std::fill(dk, dk + S * E, A(0));
  std::fill(dv, dv + S * Ev, A(0));
  const bool drop = p.dropout_p > 0;
  const uint32_t threshold = attention_dropout_threshold(p.dropout_p);
  const A keep_scale = p.dropout_p >= 1 ? A(0) : A(1 / (1 - p.dropout_p));
  for (int64_t h = hk * rep; h < (hk + 1) * rep; ++h) {
    const int64_t bh = n * p.H + h;
    const A* g = static_cast<const A*>(g_t.raw_data()) + bh * L * Ev;
    const A* o = static_cast<const A*>(out_t.raw_data()) + bh * L * Ev;
    const A* lse = static_cast<const A*>(lse_t.raw_data()) + bh * L;
    A* dq = static_cast<A*>(dq_t.raw_data()) + bh * L * E;
    std::fill(dq, dq + L * E, A(0));
    for (int64_t i = 0; i < L; ++i) {  // D_i = rowsum(dO * O) (= rowsum(dP * P))
      A d = 0;
      for (int64_t e = 0; e < Ev; ++e) d += g[i * Ev + e] * o[i * Ev + e];
      dsum[i] = d;
    }  // (L * Ev multiply-adds: small next to the tiles)
    for (int64_t j0 = 0; j0 < S; j0 += kBc) {
      const int64_t istart = p.causal ? j0 / kBr * kBr : 0;  // earlier query blocks see none of these keys
      for (int64_t i0 = istart; i0 < L; i0 += kBr) {
        const int64_t br = std::min(kBr, L - i0);
        // causal: keys past this block's last query are all masked
        const int64_t bc = std::min(std::min(kBc, S - j0), p.causal ? i0 + br - j0 : kBc);
        if (bc <= 0) continue;
        tile_gemm<A>(br, bc, E, p.scale, q.at(n, h, i0), q.s2, 1, k.at(n, hk, j0), 1, k.s2, 0, s, bc);
        mask_tile(s, br, bc, i0, j0, mask, n, h, p.causal && j0 + bc > i0);
        for (int64_t r = 0; r < br; ++r) {  // P = exp(S - lse); lse = +inf (empty row) gives 0
          A* row = s + r * bc;
          const A ls = lse[i0 + r];
          if (ls == std::numeric_limits<A>::infinity()) {
            std::fill(row, row + bc, A(0));
            continue;
          }
          for (int64_t c = 0; c < bc; ++c) row[c] = exp_nonpos<A>(std::min<A>(row[c] - ls, A(0)));
        }
        // dP = dO V^T
        tile_gemm<A>(br, bc, Ev, 1.0, g + i0 * Ev, Ev, 1, v.at(n, hk, j0), 1, v.s2, 0, dp, bc);
        if (drop) {  // dV uses the dropped P (P * Z); dP flows back through the same draws
          A* pz = w.take(w.acc, kBr * kBc);
          for (int64_t r = 0; r < br; ++r) {
            const uint32_t rh = attention_row_hash(p.seed, uint64_t(bh * L + i0 + r));
            for (int64_t c = 0; c < bc; ++c) {
              const A z = attention_col_hash(rh, uint32_t(j0 + c)) >= threshold ? keep_scale : A(0);
              pz[r * bc + c] = s[r * bc + c] * z;
              dp[r * bc + c] *= z;
            }
          }
          tile_gemm<A>(bc, Ev, br, 1.0, pz, 1, bc, g + i0 * Ev, Ev, 1, 1.0, dv + j0 * Ev, Ev);
        } else {
          tile_gemm<A>(bc, Ev, br, 1.0, s, 1, bc, g + i0 * Ev, Ev, 1, 1.0, dv + j0 * Ev, Ev);
        }
        for (int64_t r = 0; r < br; ++r) {  // dS = P * (dP - D)
          const A d = dsum[i0 + r];
          A *srow = s + r * bc, *drow = dp + r * bc;
          for (int64_t c = 0; c < bc; ++c) drow[c] = srow[c] * (drow[c] - d);
        }
        // dK += scale dS^T Q; dQ += scale dS K
        tile_gemm<A>(bc, E, br, p.scale, dp, 1, bc, q.at(n, h, i0), q.s2, 1, 1.0, dk + j0 * E, E);
        tile_gemm<A>(br, E, bc, p.scale, dp, bc, 1, k.at(n, hk, j0), k.s2, 1, 1.0, dq + i0 * E, E);
      }
    }
  }
}

template <class A>
void attention_bwd(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& g, const Tensor& q_t,
                   const Tensor& k_t, const Tensor& v_t, const Tensor& out, const Tensor& lse, const Tensor& mask_t,
                   const AttentionParams& p) {
  const View4<A> q(q_t), k(k_t), v(v_t), mask(mask_t);
  if constexpr (std::is_same_v<A, float>)
    if (p.dropout_p == 0) return flash::backward(dq, dk, dv, g, q, k, v, out, lse, mask, p);
  parallel_for(0, p.N * p.Hk, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) bwd_head<A>(dq, dk, dv, g, q, k, v, out, lse, mask, p, t / p.Hk, t % p.Hk);
  });
}

}  // namespace

void attention_forward_kernel(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                              const Tensor& v, const Tensor& mask, const AttentionParams& p) {
  if (q.dtype() == Dtype::Float64) attention_fwd<double>(out, lse, q, k, v, mask, p);
  else attention_fwd<float>(out, lse, q, k, v, mask, p);
}

void attention_backward_kernel(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& g,
                               const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                               const Tensor& lse, const Tensor& mask, const AttentionParams& p) {
  if (q.dtype() == Dtype::Float64) attention_bwd<double>(dq, dk, dv, g, q, k, v, out, lse, mask, p);
  else attention_bwd<float>(dq, dk, dv, g, q, k, v, out, lse, mask, p);
}

}  // namespace ember::cpu::EMBER_ISA_NS
