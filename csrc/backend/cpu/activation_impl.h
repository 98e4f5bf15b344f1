// CPU kernels of fused activation backwards, compiled once per ISA (cmake/isa.cmake sets
// EMBER_ISA_NS; activation.cpp registers the best). Rows of plain restrict pointers and the
// call-free erf/exp/tanh of simd_math.h, so the loops vectorize.
#pragma once
#include <algorithm>

#include "backend/cpu/simd_math.h"
#include "backend/cpu/threadpool.h"
#include "core/dtype.h"
#include "core/tensor.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including activation_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
// Internal linkage for the helpers: compiled under several ISA flags (see loops.h).
namespace {

// d/dx [x Phi(x)] = Phi(x) + x phi(x)
template <class T>
void gelu_erf_backward_span(int64_t n, const T* __restrict g, const T* __restrict x,
                            T* __restrict gx) {
  using A = acc_t<T>;
  for (int64_t i = 0; i < n; ++i) {
    const A v = A(x[i]);
    const A cdf = A(0.5) * (A(1) + erf_fast(v * A(0.70710678118654752440)));
    const A pdf = exp_fast(A(-0.5) * v * v) * A(0.39894228040143267794);
    gx[i] = T(A(g[i]) * (cdf + v * pdf));
  }
}

// d/dx [x (1 + tanh(u)) / 2], u = k (x + c x^3)
template <class T>
void gelu_tanh_backward_span(int64_t n, const T* __restrict g, const T* __restrict x,
                             T* __restrict gx) {
  using A = acc_t<T>;
  const A k = A(0.79788456080286535588), c = A(0.044715);
  for (int64_t i = 0; i < n; ++i) {
    const A v = A(x[i]), v2 = v * v;
    const A t = tanh_fast(k * v * (A(1) + c * v2));
    const A dt = (A(1) - t * t) * k * (A(1) + A(3) * c * v2);
    gx[i] = T(A(g[i]) * (A(0.5) * (A(1) + t) + A(0.5) * v * dt));
  }
}

}  // namespace

void gelu_backward_kernel(const Tensor& gx, const Tensor& g, const Tensor& x, bool tanh_approx) {
  const int64_t n = x.numel();
  dispatch_floating(x.dtype(), "gelu_backward", [&]<class T>() {
    const T *gp = g.data<T>(), *xp = x.data<T>();
    T* op = gx.data<T>();
    parallel_for(0, n, 8192, [&](int64_t b, int64_t e) {
      if (tanh_approx)
        gelu_tanh_backward_span<T>(e - b, gp + b, xp + b, op + b);
      else
        gelu_erf_backward_span<T>(e - b, gp + b, xp + b, op + b);
    });
  });
}

}  // namespace ember::cpu::EMBER_ISA_NS
