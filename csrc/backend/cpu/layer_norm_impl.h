// layer_norm / rms_norm CPU kernels over rows of x [R, N], compiled once per ISA
// (cmake/isa.cmake sets EMBER_ISA_NS); layer_norm.cpp registers the best. Rows are spread
// over the thread pool; a row (a few KB) stays in L1 between its statistics and output passes.
// The backward reduces weight/bias gradients into a fixed number of row-chunk partials, summed
// in chunk order (deterministic for a given thread count up to 8).
// Outputs bigger than kStreamOutBytes are written with non-temporal stores: such a tensor
// leaves the caches anyway, and a plain store first reads each line in (a third more traffic
// for this memory-bound kernel).
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "backend/cpu/parallel_claim.h"
#include "backend/cpu/simd.h"
#include "backend/cpu/threadpool.h"
#include "core/tensor.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including layer_norm_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
// Internal linkage: compiled under several ISA flags (see loops.h).
namespace {

template <class A>
using LVec = SimdVec<A>;
template <class A>
constexpr int64_t kLW = kNativeVecBytes / int64_t(sizeof(A));

constexpr int64_t kStreamOutBytes = int64_t(8) << 20;

// A vector store that bypasses the caches; p is aligned to the vector size.
template <class A>
inline void nt_store(A* p, LVec<A> v) {
#if defined(__AVX512F__)
  if constexpr (sizeof(A) == 4) _mm512_stream_ps(reinterpret_cast<float*>(p), std::bit_cast<__m512>(v));
  else _mm512_stream_pd(reinterpret_cast<double*>(p), std::bit_cast<__m512d>(v));
#elif defined(__AVX__)
  if constexpr (sizeof(A) == 4) _mm256_stream_ps(reinterpret_cast<float*>(p), std::bit_cast<__m256>(v));
  else _mm256_stream_pd(reinterpret_cast<double*>(p), std::bit_cast<__m256d>(v));
#elif defined(__SSE2__)
  if constexpr (sizeof(A) == 4) _mm_stream_ps(reinterpret_cast<float*>(p), std::bit_cast<__m128>(v));
  else _mm_stream_pd(reinterpret_cast<double*>(p), std::bit_cast<__m128d>(v));
#else
  simd_store(p, v);
#endif
}

inline void nt_fence() {
#if defined(__SSE2__)
  _mm_sfence();  // streamed stores are weakly ordered: publish them before the pool's join
#endif
}

// Whether an [R, N] output at y takes non-temporal stores: big, and every row vector-aligned.
template <class A>
bool stream_output(const A* y, int64_t R, int64_t N) {
  constexpr int64_t vb = kNativeVecBytes;
  return R * N * int64_t(sizeof(A)) >= kStreamOutBytes && (N * int64_t(sizeof(A))) % vb == 0 &&
         reinterpret_cast<uintptr_t>(y) % vb == 0;
}

template <class A>
A hsum(LVec<A> v) {
  A s = 0;
  for (int64_t i = 0; i < kLW<A>; ++i) s += v[i];
  return s;
}

// sum(x - shift) (shift 0) or sum((x - shift)^2), four accumulator chains.
template <class A, bool Square>
A row_sum(const A* x, int64_t n, A shift) {
  constexpr int64_t W = kLW<A>;
  LVec<A> a0 = {}, a1 = {}, a2 = {}, a3 = {};
  const LVec<A> sv = shift - LVec<A>{};
  auto f = [&](LVec<A> v) {
    v -= sv;
    return Square ? v * v : v;
  };
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 += f(simd_load(x + i));
    a1 += f(simd_load(x + i + W));
    a2 += f(simd_load(x + i + 2 * W));
    a3 += f(simd_load(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) a0 += f(simd_load(x + i));
  A s = hsum<A>((a0 + a1) + (a2 + a3));
  for (; i < n; ++i) {
    A d = x[i] - shift;
    s += Square ? d * d : d;
  }
  return s;
}

// y = (x - mu) * rs [* w] [+ b] over one row; Stream: non-temporal stores (no tail then).
// nx: the next row of x, prefetched meanwhile (this row is in L1 by now), or null.
template <class A, bool Stream>
void write_row(A* yr, const A* xr, const A* w, const A* b, int64_t N, A mu, A rs, const A* nx) {
  constexpr int64_t W = kLW<A>;
  auto store = [nx](A* p, LVec<A> v, int64_t i) {
    if (nx) __builtin_prefetch(nx + i);
    if constexpr (Stream) nt_store<A>(p, v);
    else simd_store(p, v);
  };
  const LVec<A> mv = mu - LVec<A>{}, rv = rs - LVec<A>{};
  int64_t i = 0;
  if (w && b) {
    for (; i + W <= N; i += W) store(yr + i, (simd_load(xr + i) - mv) * rv * simd_load(w + i) + simd_load(b + i), i);
  } else if (w) {
    for (; i + W <= N; i += W) store(yr + i, (simd_load(xr + i) - mv) * rv * simd_load(w + i), i);
  } else {
    for (; i + W <= N; i += W) store(yr + i, (simd_load(xr + i) - mv) * rv, i);
  }
  for (; i < N; ++i) {
    A v = (xr[i] - mu) * rs;
    if (w) v *= w[i];
    if (b) v += b[i];
    yr[i] = v;
  }
}

template <class A>
void ln_forward(const Tensor& y_t, const Tensor& mean_t, const Tensor& rstd_t, const Tensor& x_t, const Tensor& w_t,
                const Tensor& b_t, double eps, bool rms) {
  const int64_t R = x_t.shape()[0], N = x_t.shape()[1];
  const A* x = static_cast<const A*>(x_t.raw_data());
  A* y = static_cast<A*>(y_t.raw_data());
  const A* w = w_t.defined() ? static_cast<const A*>(w_t.raw_data()) : nullptr;
  const A* b = b_t.defined() ? static_cast<const A*>(b_t.raw_data()) : nullptr;
  A* mean = mean_t.defined() ? static_cast<A*>(mean_t.raw_data()) : nullptr;
  A* rstd = static_cast<A*>(rstd_t.raw_data());
  // units of rows claimed one at a time (at least 16K values each; about 16 per thread)
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1));
  const int64_t per = std::max(grain, (R + 16 * num_threads() - 1) / (16 * num_threads()));
  const bool nt = stream_output(y, R, N);
  parallel_claim((R + per - 1) / per, [&](int64_t u) {
    for (int64_t r = u * per, r1 = std::min(R, r + per); r < r1; ++r) {
      const A* xr = x + r * N;
      A* yr = y + r * N;
      A mu = 0, var;
      if (rms) {
        var = row_sum<A, true>(xr, N, A(0)) / A(N);
      } else {  // the shifted two-pass variance: exact-ish even for large means
        mu = row_sum<A, false>(xr, N, A(0)) / A(N);
        var = row_sum<A, true>(xr, N, mu) / A(N);
      }
      const A rs = A(1) / std::sqrt(var + A(eps));
      if (mean) mean[r] = mu;
      rstd[r] = rs;
      const A* nx = r + 1 < R ? xr + N : nullptr;
      if (nt) write_row<A, true>(yr, xr, w, b, N, mu, rs, nx);
      else write_row<A, false>(yr, xr, w, b, N, mu, rs, nx);
    }
    if (nt) nt_fence();
  });
}

// The backward takes two passes over each row (x and g come from memory once; the second pass
// finds them in L1). Pass A, over P rows at once (so the weight/bias partials pw, pb are read and
// written once per P rows): pw += g * xhat, pb += g (Part), and each row's sums of gh = g * w and
// gh * xhat into dot[p], sum[p]. Rows are N apart.
template <class A, int P, bool Part>
void ln_backward_sums(A* pw, A* pb, const A* gr, const A* xr, const A* w, int64_t N, const A* mu, const A* rs,
                      A* dot, A* sum) {
  constexpr int64_t W = kLW<A>;
  LVec<A> mv[P], rv[P], d[P], s[P];
  for (int p = 0; p < P; ++p) mv[p] = mu[p] - LVec<A>{}, rv[p] = rs[p] - LVec<A>{}, d[p] = s[p] = LVec<A>{};
  int64_t i = 0;
  for (; i + W <= N; i += W) {
    LVec<A> aw = {}, ab = {};
    if constexpr (Part) aw = simd_load(pw + i), ab = simd_load(pb + i);
    const LVec<A> wv = w ? simd_load(w + i) : LVec<A>{};
#pragma GCC unroll 2
    for (int p = 0; p < P; ++p) {
      const LVec<A> gv = simd_load(gr + p * N + i), xh = (simd_load(xr + p * N + i) - mv[p]) * rv[p];
      if constexpr (Part) aw += gv * xh, ab += gv;
      const LVec<A> gh = w ? gv * wv : gv;
      d[p] += gh * xh, s[p] += gh;
    }
    if constexpr (Part) simd_store(pw + i, aw), simd_store(pb + i, ab);
  }
  for (int p = 0; p < P; ++p) dot[p] = hsum<A>(d[p]), sum[p] = hsum<A>(s[p]);
  for (; i < N; ++i)
    for (int p = 0; p < P; ++p) {
      const A gv = gr[p * N + i], xh = (xr[p * N + i] - mu[p]) * rs[p], gh = w ? gv * w[i] : gv;
      if constexpr (Part) pw[i] += gv * xh, pb[i] += gv;
      dot[p] += gh * xh, sum[p] += gh;
    }
}

// Pass B over one row: gx = rs * (gh - mean(gh) - xhat * mean(gh * xhat)), written as
// rs * gh - (x - mu) * k - rs * mean(gh) with k = rs^2 * mean(gh * xhat). Prefetches the row
// pass A takes next (nx, ng; null: none).
template <class A, bool Stream>
void ln_backward_gx(A* gxr, const A* gr, const A* xr, const A* w, int64_t N, A mu, A rs, A dot, A sum, bool rms,
                    const A* nx, const A* ng) {
  constexpr int64_t W = kLW<A>;
  const A k = rs * rs * dot / A(N), cc = rms ? A(0) : -rs * sum / A(N);
  const LVec<A> mv = mu - LVec<A>{}, rv = rs - LVec<A>{}, kv = k - LVec<A>{}, cv = cc - LVec<A>{};
  int64_t i = 0;
  for (; i + W <= N; i += W) {
    if (nx) __builtin_prefetch(nx + i), __builtin_prefetch(ng + i);
    const LVec<A> gv = simd_load(gr + i), gh = w ? gv * simd_load(w + i) : gv;
    const LVec<A> v = rv * gh + (cv - (simd_load(xr + i) - mv) * kv);
    if constexpr (Stream) nt_store<A>(gxr + i, v);
    else simd_store(gxr + i, v);
  }
  for (; i < N; ++i) gxr[i] = rs * (w ? gr[i] * w[i] : gr[i]) + (cc - (xr[i] - mu) * k);
}

// Rows [r0, r1) in pairs (a last single row alone); pw/pb null: no weight/bias gradients.
template <class A, bool Stream>
void ln_backward_rows(A* gx, A* pw, A* pb, const A* g, const A* x, const A* w, const A* mean, const A* rstd,
                      int64_t R, int64_t N, bool rms, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1;) {
    const int P = r + 1 < r1 ? 2 : 1;
    A mu[2] = {mean ? mean[r] : A(0), P == 2 && mean ? mean[r + 1] : A(0)};
    A rs[2] = {rstd[r], P == 2 ? rstd[r + 1] : A(0)}, dot[2], sum[2];
    const A *gr = g + r * N, *xr = x + r * N;
    if (P == 2) {
      if (pw) ln_backward_sums<A, 2, true>(pw, pb, gr, xr, w, N, mu, rs, dot, sum);
      else ln_backward_sums<A, 2, false>(pw, pb, gr, xr, w, N, mu, rs, dot, sum);
    } else {
      if (pw) ln_backward_sums<A, 1, true>(pw, pb, gr, xr, w, N, mu, rs, dot, sum);
      else ln_backward_sums<A, 1, false>(pw, pb, gr, xr, w, N, mu, rs, dot, sum);
    }
    if (gx)
      for (int p = 0; p < P; ++p) {  // meanwhile prefetch the rows of the next pair
        const int64_t nr = r + P + p;
        const bool pre = nr < R;
        ln_backward_gx<A, Stream>(gx + (r + p) * N, gr + p * N, xr + p * N, w, N, mu[p], rs[p], dot[p], sum[p], rms,
                                  pre ? x + nr * N : nullptr, pre ? g + nr * N : nullptr);
      }
    r += P;
  }
}

template <class A>
void ln_backward(const Tensor& gx_t, const Tensor& gw_t, const Tensor& gb_t, const Tensor& g_t, const Tensor& x_t,
                 const Tensor& w_t, const Tensor& mean_t, const Tensor& rstd_t, bool rms) {
  const int64_t R = x_t.shape()[0], N = x_t.shape()[1];
  const A* x = static_cast<const A*>(x_t.raw_data());
  const A* g = static_cast<const A*>(g_t.raw_data());
  const A* w = w_t.defined() ? static_cast<const A*>(w_t.raw_data()) : nullptr;
  const A* mean = mean_t.defined() ? static_cast<const A*>(mean_t.raw_data()) : nullptr;
  const A* rstd = static_cast<const A*>(rstd_t.raw_data());
  A* gx = gx_t.defined() ? static_cast<A*>(gx_t.raw_data()) : nullptr;
  const bool need_w = gw_t.defined(), need_b = gb_t.defined();
  // the weight/bias partials of a fixed number of row chunks (a few per thread, for balance)
  // (claimed one at a time: the partials are per chunk, so the sums do not depend on which
  // thread, small inputs in one chunk: waking the pool would cost more than the work)
  const int64_t chunks = R * N < 32768 ? 1 : std::min<int64_t>(R, std::max(16, 2 * num_threads()));
  std::vector<A> part(size_t((need_w || need_b) ? chunks * 2 * N : 0), A(0));
  const bool nt = gx && stream_output(gx, R, N);
  parallel_claim(chunks, [&](int64_t c) {
    A* pw = part.empty() ? nullptr : part.data() + c * 2 * N;
    A* pb = pw ? pw + N : nullptr;
    const int64_t r0 = R * c / chunks, r1 = R * (c + 1) / chunks;
    if (nt) ln_backward_rows<A, true>(gx, pw, pb, g, x, w, mean, rstd, R, N, rms, r0, r1);
    else ln_backward_rows<A, false>(gx, pw, pb, g, x, w, mean, rstd, R, N, rms, r0, r1);
    if (nt) nt_fence();
  });
  if (!need_w && !need_b) return;
  A* gw = need_w ? static_cast<A*>(gw_t.raw_data()) : nullptr;
  A* gb = need_b ? static_cast<A*>(gb_t.raw_data()) : nullptr;
  // the partials summed in chunk order, chunk by chunk (contiguous rows: vectorized)
  for (int64_t c = 0; c < chunks; ++c) {
    const A* pw = part.data() + c * 2 * N;
    for (int64_t i = 0; i < N; ++i) {
      if (gw) gw[i] = c == 0 ? pw[i] : gw[i] + pw[i];
      if (gb) gb[i] = c == 0 ? pw[N + i] : gb[i] + pw[N + i];
    }
  }
}

}  // namespace

void layer_norm_kernel(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                       const Tensor& b, double eps, bool rms) {
  if (x.dtype() == Dtype::Float64) ln_forward<double>(y, mean, rstd, x, w, b, eps, rms);
  else ln_forward<float>(y, mean, rstd, x, w, b, eps, rms);
}

void layer_norm_backward_kernel(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                                const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, bool rms) {
  if (x.dtype() == Dtype::Float64) ln_backward<double>(gx, gw, gb, g, x, w, mean, rstd, rms);
  else ln_backward<float>(gx, gw, gb, g, x, w, mean, rstd, rms);
}

}  // namespace ember::cpu::EMBER_ISA_NS
