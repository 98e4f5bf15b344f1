// CPU kernels of the fused LSTM / GRU cells, compiled once per ISA (rnn_isa_*.cpp set
// EMBER_ISA_NS; rnn.cpp registers the best): one pass over each batch row, math in the
// accumulation type; the polynomial exp/tanh of simd_math.h keep the inner loops vectorized.
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

}  // namespace

void lstm_cell_kernel(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& gates, const Tensor& c_prev) {
  const int64_t B = h.shape()[0], H = h.shape()[1];
  dispatch_floating(h.dtype(), "lstm_cell", [&]<class T>() {
    using A = acc_t<T>;
    over_rows(B, 4 * H, [&](int64_t r) {
      const T* g = gates.data<T>() + r * 4 * H;
      const T* cp = c_prev.data<T>() + r * H;
      T* a = act.data<T>() + r * 4 * H;
      T* hr = h.data<T>() + r * H;
      T* cr = c.data<T>() + r * H;
      for (int64_t j = 0; j < H; ++j) {
        A i = sigmoid_of(A(g[j])), f = sigmoid_of(A(g[H + j]));
        A gg = tanh_fast(A(g[2 * H + j])), o = sigmoid_of(A(g[3 * H + j]));
        A cn = f * A(cp[j]) + i * gg;
        a[j] = T(i);
        a[H + j] = T(f);
        a[2 * H + j] = T(gg);
        a[3 * H + j] = T(o);
        cr[j] = T(cn);
        hr[j] = T(o * tanh_fast(cn));
      }
    });
  });
}

void lstm_cell_backward_kernel(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& gh, const Tensor& gc,
                               const Tensor& act, const Tensor& c_prev, const Tensor& c) {
  const int64_t B = c.shape()[0], H = c.shape()[1];
  dispatch_floating(c.dtype(), "lstm_cell_backward", [&]<class T>() {
    using A = acc_t<T>;
    over_rows(B, 4 * H, [&](int64_t r) {
      const T* a = act.data<T>() + r * 4 * H;
      const T *cp = c_prev.data<T>() + r * H, *cr = c.data<T>() + r * H;
      const T *ghr = gh.data<T>() + r * H, *gcr = gc.data<T>() + r * H;
      T* dg = d_gates.data<T>() + r * 4 * H;
      T* dcp = d_c_prev.data<T>() + r * H;
      for (int64_t j = 0; j < H; ++j) {
        A i = A(a[j]), f = A(a[H + j]), gg = A(a[2 * H + j]), o = A(a[3 * H + j]);
        A tc = tanh_fast(A(cr[j]));
        A dh = A(ghr[j]);
        A dc = A(gcr[j]) + dh * o * (A(1) - tc * tc);
        dg[j] = T(dc * gg * i * (A(1) - i));
        dg[H + j] = T(dc * A(cp[j]) * f * (A(1) - f));
        dg[2 * H + j] = T(dc * i * (A(1) - gg * gg));
        dg[3 * H + j] = T(dh * tc * o * (A(1) - o));
        dcp[j] = T(dc * f);
      }
    });
  });
}

void gru_cell_kernel(const Tensor& h, const Tensor& act, const Tensor& gi, const Tensor& gh, const Tensor& h_prev) {
  const int64_t B = h.shape()[0], H = h.shape()[1];
  dispatch_floating(h.dtype(), "gru_cell", [&]<class T>() {
    using A = acc_t<T>;
    over_rows(B, 3 * H, [&](int64_t r) {
      const T *x = gi.data<T>() + r * 3 * H, *y = gh.data<T>() + r * 3 * H;
      const T* hp = h_prev.data<T>() + r * H;
      T* a = act.data<T>() + r * 3 * H;
      T* hr = h.data<T>() + r * H;
      for (int64_t j = 0; j < H; ++j) {
        A rg = sigmoid_of(A(x[j]) + A(y[j]));
        A z = sigmoid_of(A(x[H + j]) + A(y[H + j]));
        A n = tanh_fast(A(x[2 * H + j]) + rg * A(y[2 * H + j]));
        a[j] = T(rg);
        a[H + j] = T(z);
        a[2 * H + j] = T(n);
        hr[j] = T(n + z * (A(hp[j]) - n));
      }
    });
  });
}

void gru_cell_backward_kernel(const Tensor& d_gi, const Tensor& d_gh, const Tensor& d_h_prev, const Tensor& g,
                              const Tensor& act, const Tensor& gh, const Tensor& h_prev) {
  const int64_t B = h_prev.shape()[0], H = h_prev.shape()[1];
  dispatch_floating(g.dtype(), "gru_cell_backward", [&]<class T>() {
    using A = acc_t<T>;
    over_rows(B, 3 * H, [&](int64_t r) {
      const T* a = act.data<T>() + r * 3 * H;
      const T* y = gh.data<T>() + r * 3 * H;
      const T *hp = h_prev.data<T>() + r * H, *gr = g.data<T>() + r * H;
      T *dx = d_gi.data<T>() + r * 3 * H, *dy = d_gh.data<T>() + r * 3 * H;
      T* dh = d_h_prev.data<T>() + r * H;
      for (int64_t j = 0; j < H; ++j) {
        A rg = A(a[j]), z = A(a[H + j]), n = A(a[2 * H + j]), G = A(gr[j]);
        A dn = G * (A(1) - z) * (A(1) - n * n);  // grad of n's pre-activation
        A dz = G * (A(hp[j]) - n) * z * (A(1) - z);
        A dr = dn * A(y[2 * H + j]) * rg * (A(1) - rg);
        dx[j] = T(dr);
        dy[j] = T(dr);
        dx[H + j] = T(dz);
        dy[H + j] = T(dz);
        dx[2 * H + j] = T(dn);
        dy[2 * H + j] = T(dn * rg);
        dh[j] = T(G * z);
      }
    });
  });
}

}  // namespace ember::cpu::EMBER_ISA_NS
