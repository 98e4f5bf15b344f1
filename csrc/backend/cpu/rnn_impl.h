// CPU kernels of the fused LSTM / GRU cells, compiled once per ISA (cmake/isa.cmake sets
// EMBER_ISA_NS; rnn.cpp registers the best): one pass over each batch row, math in the
// accumulation type. Rows are plain functions of restrict pointers and a by-value H, and the
// polynomial exp/tanh of simd_math.h have no calls, so the inner loops vectorize.
#pragma once
#include <algorithm>

#include "backend/cpu/simd_math.h"
#include "backend/cpu/threadpool.h"
#include "core/dtype.h"
#include "core/tensor.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including rnn_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
// Internal linkage for the helpers: compiled under several ISA flags (see loops.h).
namespace {

template <class A>
EMBER_ALWAYS_INLINE A sigmoid_of(A x) {
  return A(1) / (A(1) + exp_fast(-x));
}

// fn(row) over the B rows; a row is a few hundred elements, so chunks of several rows
template <class F>
void over_rows(int64_t rows, int64_t row_len, F&& fn) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1));
  parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) fn(r);
  });
}

// g: gates (i, f, g, o) [4H]; writes act [4H], h, c [H]
template <class T>
void lstm_row(int64_t H, const T* __restrict g, const T* __restrict cp, T* __restrict a, T* __restrict h,
              T* __restrict c) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < H; ++j) {
    A i = sigmoid_of(A(g[j])), f = sigmoid_of(A(g[H + j]));
    A gg = tanh_fast(A(g[2 * H + j])), o = sigmoid_of(A(g[3 * H + j]));
    A cn = f * A(cp[j]) + i * gg;
    a[j] = T(i);
    a[H + j] = T(f);
    a[2 * H + j] = T(gg);
    a[3 * H + j] = T(o);
    c[j] = T(cn);
    h[j] = T(o * tanh_fast(cn));
  }
}

template <class T>
void lstm_backward_row(int64_t H, const T* __restrict a, const T* __restrict cp, const T* __restrict c,
                       const T* __restrict gh, const T* __restrict gc, T* __restrict dg, T* __restrict dcp) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < H; ++j) {
    A i = A(a[j]), f = A(a[H + j]), gg = A(a[2 * H + j]), o = A(a[3 * H + j]);
    A tc = tanh_fast(A(c[j]));
    A dh = A(gh[j]);
    A dc = A(gc[j]) + dh * o * (A(1) - tc * tc);
    dg[j] = T(dc * gg * i * (A(1) - i));
    dg[H + j] = T(dc * A(cp[j]) * f * (A(1) - f));
    dg[2 * H + j] = T(dc * i * (A(1) - gg * gg));
    dg[3 * H + j] = T(dh * tc * o * (A(1) - o));
    dcp[j] = T(dc * f);
  }
}

// x = input gates, y = hidden gates (r, z, n) [3H]; writes act [3H] and h [H]
template <class T>
void gru_row(int64_t H, const T* __restrict x, const T* __restrict y, const T* __restrict hp, T* __restrict a,
             T* __restrict h) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < H; ++j) {
    A r = sigmoid_of(A(x[j]) + A(y[j]));
    A z = sigmoid_of(A(x[H + j]) + A(y[H + j]));
    A n = tanh_fast(A(x[2 * H + j]) + r * A(y[2 * H + j]));
    a[j] = T(r);
    a[H + j] = T(z);
    a[2 * H + j] = T(n);
    h[j] = T(n + z * (A(hp[j]) - n));
  }
}

template <class T>
void gru_backward_row(int64_t H, const T* __restrict a, const T* __restrict y, const T* __restrict hp,
                      const T* __restrict g, T* __restrict dx, T* __restrict dy, T* __restrict dh) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < H; ++j) {
    A r = A(a[j]), z = A(a[H + j]), n = A(a[2 * H + j]), G = A(g[j]);
    A dn = G * (A(1) - z) * (A(1) - n * n);  // grad of n's pre-activation
    A dz = G * (A(hp[j]) - n) * z * (A(1) - z);
    A dr = dn * A(y[2 * H + j]) * r * (A(1) - r);
    dx[j] = T(dr);
    dy[j] = T(dr);
    dx[H + j] = T(dz);
    dy[H + j] = T(dz);
    dx[2 * H + j] = T(dn);
    dy[2 * H + j] = T(dn * r);
    dh[j] = T(G * z);
  }
}

}  // namespace

void lstm_cell_kernel(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& gates, const Tensor& c_prev) {
  const int64_t B = h.shape()[0], H = h.shape()[1];
  dispatch_floating(h.dtype(), "lstm_cell", [&]<class T>() {
    over_rows(B, 4 * H, [&](int64_t r) {
      lstm_row<T>(H, gates.data<T>() + r * 4 * H, c_prev.data<T>() + r * H, act.data<T>() + r * 4 * H,
                  h.data<T>() + r * H, c.data<T>() + r * H);
    });
  });
}

void lstm_cell_backward_kernel(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& gh, const Tensor& gc,
                               const Tensor& act, const Tensor& c_prev, const Tensor& c) {
  const int64_t B = c.shape()[0], H = c.shape()[1];
  dispatch_floating(c.dtype(), "lstm_cell_backward", [&]<class T>() {
    over_rows(B, 4 * H, [&](int64_t r) {
      lstm_backward_row<T>(H, act.data<T>() + r * 4 * H, c_prev.data<T>() + r * H, c.data<T>() + r * H,
                           gh.data<T>() + r * H, gc.data<T>() + r * H, d_gates.data<T>() + r * 4 * H,
                           d_c_prev.data<T>() + r * H);
    });
  });
}

void gru_cell_kernel(const Tensor& h, const Tensor& act, const Tensor& gi, const Tensor& gh, const Tensor& h_prev) {
  const int64_t B = h.shape()[0], H = h.shape()[1];
  dispatch_floating(h.dtype(), "gru_cell", [&]<class T>() {
    over_rows(B, 3 * H, [&](int64_t r) {
      gru_row<T>(H, gi.data<T>() + r * 3 * H, gh.data<T>() + r * 3 * H, h_prev.data<T>() + r * H,
                 act.data<T>() + r * 3 * H, h.data<T>() + r * H);
    });
  });
}

void gru_cell_backward_kernel(const Tensor& d_gi, const Tensor& d_gh, const Tensor& d_h_prev, const Tensor& g,
                              const Tensor& act, const Tensor& gh, const Tensor& h_prev) {
  const int64_t B = h_prev.shape()[0], H = h_prev.shape()[1];
  dispatch_floating(g.dtype(), "gru_cell_backward", [&]<class T>() {
    over_rows(B, 3 * H, [&](int64_t r) {
      gru_backward_row<T>(H, act.data<T>() + r * 3 * H, gh.data<T>() + r * 3 * H, h_prev.data<T>() + r * H,
                          g.data<T>() + r * H, d_gi.data<T>() + r * 3 * H, d_gh.data<T>() + r * 3 * H,
                          d_h_prev.data<T>() + r * H);
    });
  });
}

}  // namespace ember::cpu::EMBER_ISA_NS
