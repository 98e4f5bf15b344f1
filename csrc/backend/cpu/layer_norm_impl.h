// layer_norm / rms_norm CPU kernels over rows of x [R, N], compiled once per ISA
// (cmake/isa.cmake sets EMBER_ISA_NS); layer_norm.cpp registers the best. Rows are spread
// over the thread pool; a row (a few KB) stays in L1 between its statistics and output passes.
// The backward reduces weight/bias gradients into a fixed number of row-chunk partials, summed
// in chunk order (deterministic for a given thread count up to 16).
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

// sum(a * b) and sum(a) over a row (both vectorized).
template <class A>
void dot_and_sum(const A* a, const A* b, int64_t n, A& dot, A& sum) {
  constexpr int64_t W = kLW<A>;
  LVec<A> d0 = {}, d1 = {}, s0 = {}, s1 = {};
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    LVec<A> x0 = simd_load(a + i), x1 = simd_load(a + i + W);
    d0 += x0 * simd_load(b + i);
    d1 += x1 * simd_load(b + i + W);
    s0 += x0;
    s1 += x1;
  }
  for (; i + W <= n; i += W) {
    LVec<A> x0 = simd_load(a + i);
    d0 += x0 * simd_load(b + i);
    s0 += x0;
  }
  dot = hsum<A>(d0 + d1), sum = hsum<A>(s0 + s1);
  for (; i < n; ++i) dot += a[i] * b[i], sum += a[i];
}

// y = (x - mu) * rs [* w] [+ b] over one row; Stream: non-temporal stores (no tail then).
template <class A, bool Stream>
void write_row(A* yr, const A* xr, const A* w, const A* b, int64_t N, A mu, A rs) {
  constexpr int64_t W = kLW<A>;
  auto store = [](A* p, LVec<A> v) {
    if constexpr (Stream) nt_store<A>(p, v);
    else simd_store(p, v);
  };
  const LVec<A> mv = mu - LVec<A>{}, rv = rs - LVec<A>{};
  int64_t i = 0;
  if (w && b) {
    for (; i + W <= N; i += W) store(yr + i, (simd_load(xr + i) - mv) * rv * simd_load(w + i) + simd_load(b + i));
  } else if (w) {
    for (; i + W <= N; i += W) store(yr + i, (simd_load(xr + i) - mv) * rv * simd_load(w + i));
  } else {
    for (; i + W <= N; i += W) store(yr + i, (simd_load(xr + i) - mv) * rv);
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
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1));
  const bool nt = stream_output(y, R, N);
  parallel_for(0, R, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
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
      if (nt) write_row<A, true>(yr, xr, w, b, N, mu, rs);
      else write_row<A, false>(yr, xr, w, b, N, mu, rs);
    }
    if (nt) nt_fence();
  });
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
  const int64_t chunks = std::min<int64_t>(R, std::max(16, num_threads()));
  std::vector<A> part(size_t((need_w || need_b) ? chunks * 2 * N : 0), A(0));
  const bool nt = gx && stream_output(gx, R, N);
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    constexpr int64_t W = kLW<A>;
    std::vector<A> gxhat(static_cast<size_t>(N));
    for (int64_t c = c0; c < c1; ++c) {
      A* pw = need_w || need_b ? part.data() + c * 2 * N : nullptr;
      A* pb = pw ? pw + N : nullptr;
      for (int64_t r = R * c / chunks; r < R * (c + 1) / chunks; ++r) {
        const A *xr = x + r * N, *gr = g + r * N;
        const A mu = mean ? mean[r] : A(0), rs = rstd[r];
        const LVec<A> mv = mu - LVec<A>{}, rv = rs - LVec<A>{};
        int64_t i = 0;
        if (pw) {  // weight/bias partials: g * xhat, g
          for (; i + W <= N; i += W) {
            LVec<A> gv = simd_load(gr + i);
            simd_store(pw + i, simd_load(pw + i) + gv * ((simd_load(xr + i) - mv) * rv));
            simd_store(pb + i, simd_load(pb + i) + gv);
          }
          for (; i < N; ++i) pw[i] += gr[i] * (xr[i] - mu) * rs, pb[i] += gr[i];
        }
        if (!gx) continue;
        const A* gh = gr;
        if (w) {
          i = 0;
          for (; i + W <= N; i += W) simd_store(gxhat.data() + i, simd_load(gr + i) * simd_load(w + i));
          for (; i < N; ++i) gxhat[size_t(i)] = gr[i] * w[i];
          gh = gxhat.data();
        }
        // sum(gxhat * (x - mu)) and sum(gxhat): gx = rs * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))
        A dot, s;
        dot_and_sum<A>(gh, xr, N, dot, s);
        dot -= mu * s;
        const A c1v = rms ? A(0) : s / A(N), c2 = dot * rs * rs / A(N);
        const LVec<A> c1 = c1v - LVec<A>{}, c2v = c2 - LVec<A>{};
        A* gxr = gx + r * N;
        i = 0;
        if (nt)
          for (; i + W <= N; i += W) nt_store<A>(gxr + i, rv * (simd_load(gh + i) - c1 - (simd_load(xr + i) - mv) * c2v));
        else
          for (; i + W <= N; i += W)
            simd_store(gxr + i, rv * (simd_load(gh + i) - c1 - (simd_load(xr + i) - mv) * c2v));
        for (; i < N; ++i) gxr[i] = rs * (gh[i] - c1v - (xr[i] - mu) * c2);
      }
    }
    if (nt) nt_fence();
  });
  if (!need_w && !need_b) return;
  A* gw = need_w ? static_cast<A*>(gw_t.raw_data()) : nullptr;
  A* gb = need_b ? static_cast<A*>(gb_t.raw_data()) : nullptr;
  for (int64_t i = 0; i < N; ++i) {
    A sw = 0, sb = 0;
    for (int64_t c = 0; c < chunks; ++c) sw += part[size_t(c * 2 * N + i)], sb += part[size_t(c * 2 * N + N + i)];
    if (gw) gw[i] = sw;
    if (gb) gb[i] = sb;
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
