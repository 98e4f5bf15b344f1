// Fused cross entropy CPU kernels over rows of logits [R, V], compiled once per ISA
// (cmake/isa.cmake sets EMBER_ISA_NS); loss.cpp registers the best. Forward: one max pass and one
// exp-sum pass per row (a row of a 50k vocabulary stays in L2); backward: one pass writing
// softmax - target. Rows are spread over the thread pool.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/simd.h"
#include "backend/cpu/simd_math.h"
#include "backend/cpu/threadpool.h"
#include "core/tensor.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including loss_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
// Internal linkage: compiled under several ISA flags (see loops.h).
namespace {

template <class A>
using CVec = SimdVec<A>;
template <class A>
constexpr int64_t kCW = kNativeVecBytes / int64_t(sizeof(A));

template <class A>
A row_max(const A* z, int64_t n) {
  constexpr int64_t W = kCW<A>;
  A m = -std::numeric_limits<A>::infinity();
  int64_t i = 0;
  if (n >= 2 * W) {
    CVec<A> a = simd_load(z), b = simd_load(z + W);
    for (i = 2 * W; i + 2 * W <= n; i += 2 * W) {
      CVec<A> x = simd_load(z + i), y = simd_load(z + i + W);
      a = a > x ? a : x;  // NaN in x is dropped here; the exp-sum pass turns it into a NaN loss
      b = b > y ? b : y;
    }
    a = a > b ? a : b;
    for (int64_t j = 0; j < W; ++j) m = std::max(m, a[j]);
  }
  for (; i < n; ++i) m = std::max(m, z[i]);
  return m;
}

// sum(exp(z - m)) (lanes in blocks the compiler vectorizes) and sum(w * z) or sum(z).
template <class A>
A exp_sum(const A* z, int64_t n, A m) {
  constexpr int64_t B = 4 * kCW<A>;
  A lanes[B] = {};
  int64_t i = 0;
  for (; i + B <= n; i += B)
    for (int64_t j = 0; j < B; ++j) lanes[j] += exp_nonpos<A>(z[i + j] - m);
  A s = 0;
  for (int64_t j = 0; j < B; ++j) s += lanes[j];
  for (; i < n; ++i) s += exp_nonpos<A>(z[i] - m);
  return s;
}

template <class A>
A weighted_sum(const A* z, const A* w, int64_t n) {
  constexpr int64_t W = kCW<A>;
  CVec<A> a = {}, b = {};
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a += w ? simd_load(z + i) * simd_load(w + i) : simd_load(z + i);
    b += w ? simd_load(z + i + W) * simd_load(w + i + W) : simd_load(z + i + W);
  }
  a += b;
  A s = 0;
  for (int64_t j = 0; j < W; ++j) s += a[j];
  for (; i < n; ++i) s += w ? z[i] * w[i] : z[i];
  return s;
}

template <class A>
void ce_forward(const Tensor& loss_t, const Tensor& lse_t, const Tensor& z_t, const Tensor& target_t,
                const Tensor& w_t, int64_t ignore_index, double ls) {
  const int64_t R = z_t.shape()[0], V = z_t.shape()[1];
  const A* z = z_t.data<A>();
  const int64_t* t = target_t.data<int64_t>();
  const A* w = w_t.defined() ? w_t.data<A>() : nullptr;
  A *loss = loss_t.data<A>(), *lse = lse_t.data<A>();
  const A wsum = w ? weighted_sum<A>(w, nullptr, V) : A(V);
  parallel_for(0, R, std::max<int64_t>(1, 32768 / std::max<int64_t>(V, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const A* zr = z + r * V;
      const A m = row_max<A>(zr, V);
      const A l = std::isinf(m) ? m : m + std::log(exp_sum<A>(zr, V, m));
      lse[r] = l;
      if (t[r] == ignore_index) {
        loss[r] = 0;
        continue;
      }
      const A wt = w ? w[t[r]] : A(1);
      A v = A(1 - ls) * wt * (l - zr[t[r]]);
      if (ls > 0) v += A(ls / double(V)) * (wsum * l - weighted_sum<A>(zr, w, V));
      loss[r] = v;
    }
  });
}

template <class A>
void ce_backward(const Tensor& grad_t, const Tensor& gs_t, const Tensor& z_t, const Tensor& target_t,
                 const Tensor& w_t, const Tensor& lse_t, int64_t ignore_index, double ls) {
  const int64_t R = z_t.shape()[0], V = z_t.shape()[1];
  const A* z = z_t.data<A>();
  const int64_t* t = target_t.data<int64_t>();
  const A* w = w_t.defined() ? w_t.data<A>() : nullptr;
  const A *lse = lse_t.data<A>(), *gs = gs_t.data<A>();
  A* grad = grad_t.data<A>();
  const A wsum = w ? weighted_sum<A>(w, nullptr, V) : A(V);
  const A eps_c = A(ls / double(V));
  parallel_for(0, R, std::max<int64_t>(1, 32768 / std::max<int64_t>(V, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const A* zr = z + r * V;
      A* gr = grad + r * V;
      if (t[r] == ignore_index || gs[r] == 0) {
        std::fill(gr, gr + V, A(0));
        continue;
      }
      // d loss / d z_c = p_c * ((1 - ls) w_t + ls/V * sum w) - (1 - ls) w_t [c == t] - ls/V * w_c
      const A wt = w ? w[t[r]] : A(1);
      const A coef = gs[r] * (A(1 - ls) * wt + eps_c * wsum), l = lse[r], sub = gs[r] * eps_c;
      if (w) {
        for (int64_t c = 0; c < V; ++c) gr[c] = coef * exp_nonpos<A>(std::min(zr[c] - l, A(0))) - sub * w[c];
      } else {
        for (int64_t c = 0; c < V; ++c) gr[c] = coef * exp_nonpos<A>(std::min(zr[c] - l, A(0))) - sub;
      }
      gr[t[r]] -= gs[r] * A(1 - ls) * wt;
    }
  });
}

}  // namespace

void cross_entropy_kernel(const Tensor& loss, const Tensor& lse, const Tensor& z, const Tensor& target,
                          const Tensor& w, int64_t ignore_index, double ls) {
  if (z.dtype() == Dtype::Float64) ce_forward<double>(loss, lse, z, target, w, ignore_index, ls);
  else ce_forward<float>(loss, lse, z, target, w, ignore_index, ls);
}

void cross_entropy_backward_kernel(const Tensor& grad, const Tensor& gs, const Tensor& z, const Tensor& target,
                                   const Tensor& w, const Tensor& lse, int64_t ignore_index, double ls) {
  if (z.dtype() == Dtype::Float64) ce_backward<double>(grad, gs, z, target, w, lse, ignore_index, ls);
  else ce_backward<float>(grad, gs, z, target, w, lse, ignore_index, ls);
}

}  // namespace ember::cpu::EMBER_ISA_NS
