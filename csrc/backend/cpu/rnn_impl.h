// CPU kernels of the fused LSTM / GRU cells, compiled once per ISA (cmake/isa.cmake sets
// EMBER_ISA_NS; rnn.cpp registers the best): one pass over each batch row, math in the
// accumulation type. Rows are plain functions of restrict pointers and a by-value H, and the
// polynomial exp/tanh of simd_math.h have no calls, so the inner loops vectorize.
#pragma once
#include <algorithm>
#include <type_traits>

#include "backend/cpu/gemm.h"
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

// One hidden unit of an LSTM step from its gate pre-activations (i, f, g, o): stores the
// activations (a[0], a[H], a[2H], a[3H]), c_t and h_t. The cell and sequence kernels share it.
template <class T, class A>
EMBER_ALWAYS_INLINE void lstm_unit(A zi, A zf, A zg, A zo, A cp, T* __restrict a, int64_t H, T* __restrict h,
                                   T* __restrict c) {
  const A i = sigmoid_of(zi), f = sigmoid_of(zf), gg = tanh_fast(zg), o = sigmoid_of(zo);
  const A cn = f * cp + i * gg;
  a[0] = T(i);
  a[H] = T(f);
  a[2 * H] = T(gg);
  a[3 * H] = T(o);
  *c = T(cn);
  *h = T(o * tanh_fast(cn));
}

// Its backward from dh (grad of h_t) and dc_in (grad of c_t from elsewhere): writes the gate
// grads (dg[0], dg[H], ...) and returns the grad of c_{t-1}.
template <class T, class A>
EMBER_ALWAYS_INLINE A lstm_unit_backward(const T* __restrict a, int64_t H, A cp, A c, A dh, A dc_in,
                                         T* __restrict dg) {
  const A i = A(a[0]), f = A(a[H]), gg = A(a[2 * H]), o = A(a[3 * H]);
  const A tc = tanh_fast(c);
  const A dc = dc_in + dh * o * (A(1) - tc * tc);
  dg[0] = T(dc * gg * i * (A(1) - i));
  dg[H] = T(dc * cp * f * (A(1) - f));
  dg[2 * H] = T(dc * i * (A(1) - gg * gg));
  dg[3 * H] = T(dh * tc * o * (A(1) - o));
  return dc * f;
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
void lstm_row(int64_t H, const T* __restrict g, const T* __restrict cp, T* __restrict a,
              T* __restrict h, T* __restrict c) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < H; ++j)
    lstm_unit(A(g[j]), A(g[H + j]), A(g[2 * H + j]), A(g[3 * H + j]), A(cp[j]), a + j, H, h + j, c + j);
}

template <class T>
void lstm_backward_row(int64_t H, const T* __restrict a, const T* __restrict cp,
                       const T* __restrict c, const T* __restrict gh, const T* __restrict gc,
                       T* __restrict dg, T* __restrict dcp) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < H; ++j)
    dcp[j] = T(lstm_unit_backward(a + j, H, A(cp[j]), A(c[j]), A(gh[j]), A(gc[j]), dg + j));
}

// x = input gates, y = hidden gates (r, z, n) [3H]; writes act [3H] and h [H]
template <class T>
void gru_row(int64_t H, const T* __restrict x, const T* __restrict y, const T* __restrict hp,
             T* __restrict a, T* __restrict h) {
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
void gru_backward_row(int64_t H, const T* __restrict a, const T* __restrict y,
                      const T* __restrict hp, const T* __restrict g, T* __restrict dx,
                      T* __restrict dy, T* __restrict dh) {
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

// One step of a whole-sequence LSTM for hidden units [0, n) of a row: gates = xw + hw (the input
// projection with both biases, gate blocks H apart, and h_{t-1} W_hh^T from the step GEMM, gate
// blocks hs apart), so the add is fused here.
template <class T>
void lstm_seq_row(int64_t n, int64_t H, int64_t hs, const T* __restrict xw, const T* __restrict hw,
                  const T* __restrict cp, T* __restrict a, T* __restrict h, T* __restrict c) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < n; ++j)
    lstm_unit(A(xw[j]) + A(hw[j]), A(xw[H + j]) + A(hw[hs + j]), A(xw[2 * H + j]) + A(hw[2 * hs + j]),
              A(xw[3 * H + j]) + A(hw[3 * hs + j]), A(cp[j]), a + j, H, h + j, c + j);
}

// Backward of one step: dh = go + dh_rec (the output's grad and the recurrent one), dc = dcarry
// + gc (grad of the saved c_t) + through h. Writes the gate grads and dcarry = dc * f in place.
template <class T>
void lstm_seq_backward_row(int64_t n, int64_t H, const T* __restrict a, const T* __restrict cp,
                           const T* __restrict c, const T* __restrict go, const T* __restrict dhr,
                           const T* __restrict gc, T* __restrict dcarry, T* __restrict dg) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < n; ++j)
    dcarry[j] = T(lstm_unit_backward(a + j, H, A(cp[j]), A(c[j]), A(go[j]) + A(dhr[j]), A(dcarry[j]) + A(gc[j]),
                                     dg + j));
}

template <class T>
constexpr GemmIn gemm_in() {
  return std::is_same_v<T, double> ? GemmIn::F64 : GemmIn::F32;
}

// C [m, n] (row stride ldc) = beta * C + A @ B for A and B with element strides; threads = 1
// inside a step region (the caller's thread only), 0 = the pool.
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
          int64_t b_rs, int64_t b_cs, T* c, int64_t ldc, double beta, int threads) {
  GemmDesc d;
  d.in = gemm_in<T>();
  d.m = m, d.n = n, d.k = k;
  d.a = a, d.a_rs = a_rs, d.a_cs = a_cs;
  d.b = b, d.b_rs = b_rs, d.b_cs = b_cs;
  d.c = c, d.c_rs = ldc, d.c_cs = 1;
  d.beta = beta;
  d.threads = threads;
  ::ember::cpu::gemm_run(d);  // the engine of cpu_isa()
}

// Runs fn(j0, j1) over slices of the H hidden units (every gate's columns of a slice) for one
// step, as one pool job: each slice does its own threads=1 GEMM and pointwise, so a step costs
// one fork/join (not one for the GEMM and one for the pointwise), and slices are claimed
// dynamically (a descheduled worker on a busy machine leaves its share to the others).
// slice = unit_slice(H): about two slices per thread, a multiple of 8 units (whole vectors).
inline int64_t unit_slice(int64_t H) {
  const int64_t nt = num_threads();
  return std::max<int64_t>(16, ((H + 2 * nt - 1) / (2 * nt) + 7) & ~int64_t(7));
}

// Row stride (elements) for a slice's repacked W block of n columns, read in place by the step
// GEMMs: whole cache lines, an odd number of them, so a strip's rows spread over every L1 set
// (with 64 units a plain stride of 256 floats put them in 4 sets and each pass re-read L2).
template <class S>
constexpr int64_t padded_ld(int64_t n) {
  constexpr int64_t E = 64 / int64_t(sizeof(S));
  const int64_t lines = (n + E - 1) / E;
  return (lines % 2 ? lines : lines + 1) * E;
}

template <class F>
void over_unit_slices(int64_t B, int64_t H, int64_t slice, F&& fn) {
  const int64_t ns = (H + slice - 1) / slice;
  const int64_t grain = B * H * H >= 16384 ? 1 : ns;  // small steps: the calling thread alone
  parallel_for(0, ns, grain, [&](int64_t b, int64_t e) {
    for (int64_t q = b; q < e; ++q) fn(q * slice, std::min(H, (q + 1) * slice));
  });
}

}  // namespace

void lstm_cell_kernel(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& gates,
                      const Tensor& c_prev) {
  const int64_t B = h.shape()[0], H = h.shape()[1];
  dispatch_floating(h.dtype(), "lstm_cell", [&]<class T>() {
    over_rows(B, 4 * H, [&](int64_t r) {
      lstm_row<T>(H, gates.data<T>() + r * 4 * H, c_prev.data<T>() + r * H,
                  act.data<T>() + r * 4 * H, h.data<T>() + r * H, c.data<T>() + r * H);
    });
  });
}

void lstm_cell_backward_kernel(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& gh,
                               const Tensor& gc, const Tensor& act, const Tensor& c_prev,
                               const Tensor& c) {
  const int64_t B = c.shape()[0], H = c.shape()[1];
  dispatch_floating(c.dtype(), "lstm_cell_backward", [&]<class T>() {
    over_rows(B, 4 * H, [&](int64_t r) {
      lstm_backward_row<T>(H, act.data<T>() + r * 4 * H, c_prev.data<T>() + r * H,
                           c.data<T>() + r * H, gh.data<T>() + r * H, gc.data<T>() + r * H,
                           d_gates.data<T>() + r * 4 * H, d_c_prev.data<T>() + r * H);
    });
  });
}

void gru_cell_kernel(const Tensor& h, const Tensor& act, const Tensor& gi, const Tensor& gh,
                     const Tensor& h_prev) {
  const int64_t B = h.shape()[0], H = h.shape()[1];
  dispatch_floating(h.dtype(), "gru_cell", [&]<class T>() {
    over_rows(B, 3 * H, [&](int64_t r) {
      gru_row<T>(H, gi.data<T>() + r * 3 * H, gh.data<T>() + r * 3 * H, h_prev.data<T>() + r * H,
                 act.data<T>() + r * 3 * H, h.data<T>() + r * H);
    });
  });
}

void gru_cell_backward_kernel(const Tensor& d_gi, const Tensor& d_gh, const Tensor& d_h_prev,
                              const Tensor& g, const Tensor& act, const Tensor& gh,
                              const Tensor& h_prev) {
  const int64_t B = h_prev.shape()[0], H = h_prev.shape()[1];
  dispatch_floating(g.dtype(), "gru_cell_backward", [&]<class T>() {
    over_rows(B, 3 * H, [&](int64_t r) {
      gru_backward_row<T>(H, act.data<T>() + r * 3 * H, gh.data<T>() + r * 3 * H,
                          h_prev.data<T>() + r * H, g.data<T>() + r * H, d_gi.data<T>() + r * 3 * H,
                          d_gh.data<T>() + r * 3 * H, d_h_prev.data<T>() + r * H);
    });
  });
}

// The whole LSTM layer direction: T steps of the gate GEMM (h_{t-1} W_hh^T) and the fused pointwise
// kernel, each step one pool job over slices of hidden units; reverse walks t from T-1 down.
// act is [T, B, 4H] (kept for the backward) or [B, 4H] (scratch, inference).
void lstm_seq_kernel(const Tensor& out, const Tensor& cs, const Tensor& act, const Tensor& xw,
                     const Tensor& h0, const Tensor& c0, const Tensor& w_hh, bool reverse) {
  const int64_t T = xw.shape()[0], B = xw.shape()[1], H = h0.shape()[1], G = 4 * H;
  const bool keep = act.dim() == 3;
  dispatch_floating(xw.dtype(), "lstm", [&]<class S>() {
    if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
      // W_hh^T repacked once per call into an [H, 4n] block (rows padded_ld apart) per slice of n units
      // (columns: gate g's units at g*n + [0, n)): each step is then one GEMM per slice reading
      // a compact B in place (no per-step packing, no long row strides). The slice's gate
      // pre-activations go to its own [B, 4n] block of hw.
      const int64_t slice = unit_slice(H), ns = (H + slice - 1) / slice, ld = padded_ld<S>(4 * slice);
      Tensor wp_t = empty({ns * H * ld}, xw.dtype(), xw.device()),
             hw_t = empty({B, G}, xw.dtype(), xw.device());
      S* wp = wp_t.data<S>();
      S* hw = hw_t.data<S>();
      const S* w = w_hh.data<S>();
      over_unit_slices(B, H, slice, [&](int64_t j0, int64_t j1) {
        const int64_t n = j1 - j0;
        S* blk = wp + j0 / slice * H * ld;
        for (int64_t g = 0; g < 4; ++g)
          for (int64_t jj = 0; jj < n; ++jj) {
            const S* row = w + (g * H + j0 + jj) * H;
            for (int64_t k = 0; k < H; ++k) blk[k * ld + g * n + jj] = row[k];
          }
      });
      for (int64_t s = 0; s < T; ++s) {
        const int64_t t = reverse ? T - 1 - s : s, tp = reverse ? t + 1 : t - 1;
        const S* hp = s == 0 ? h0.data<S>() : out.data<S>() + tp * B * H;
        const S* cp = s == 0 ? c0.data<S>() : cs.data<S>() + tp * B * H;
        const S* x = xw.data<S>() + t * B * G;
        S* a = act.data<S>() + (keep ? t * B * G : 0);
        S* h = out.data<S>() + t * B * H;
        S* c = cs.data<S>() + t * B * H;
        over_unit_slices(B, H, slice, [&](int64_t j0, int64_t j1) {
          const int64_t n = j1 - j0;
          S* hws = hw + 4 * B * j0;
          gemm<S>(B, 4 * n, H, hp, H, 1, wp + j0 / slice * H * ld, ld, 1, hws, 4 * n, 0.0, 1);
          for (int64_t r = 0; r < B; ++r)
            lstm_seq_row<S>(n, H, n, x + r * G + j0, hws + r * 4 * n, cp + r * H + j0,
                            a + r * G + j0, h + r * H + j0, c + r * H + j0);
        });
      }
    } else {
      EMBER_TYPE_ERROR("lstm: the fused sequence kernel takes float32 or float64, got ",
                       dtype_name(xw.dtype()));
    }
  });
}

// Its backward, one pool job per step over slices of hidden units like the forward: a slice's
// columns of dh_rec = d_gates W_hh from the step processed before (complete: the previous job),
// then its pointwise grads. After the loop dh0 = the last step's d_gates W_hh, and
// d_W_hh = sum_t d_gates_t^T h_{t-1} as two GEMMs over all rows (the steps reading out[] and the
// one reading h0). d_c0 carries the running grad of c. d_w undefined: W_hh needs no grad.
void lstm_seq_backward_kernel(const Tensor& d_xw, const Tensor& d_h0, const Tensor& d_c0,
                              const Tensor& d_w, const Tensor& g_out, const Tensor& g_cs,
                              const Tensor& g_hT, const Tensor& g_cT, const Tensor& act,
                              const Tensor& out, const Tensor& cs, const Tensor& h0,
                              const Tensor& c0, const Tensor& w_hh, bool reverse) {
  const int64_t T = act.shape()[0], B = act.shape()[1], H = h0.shape()[1], G = 4 * H;
  dispatch_floating(act.dtype(), "lstm_backward", [&]<class S>() {
    if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
      S* dhr = d_h0.data<S>();
      S* dcar = d_c0.data<S>();
      std::copy_n(g_hT.data<S>(), B * H, dhr);
      std::copy_n(g_cT.data<S>(), B * H, dcar);
      S* dg = d_xw.data<S>();
      const S* w = w_hh.data<S>();
      // each slice's columns of W_hh as one [4H, n] block (rows padded_ld apart): a compact B for the steps
      const int64_t slice = unit_slice(H), ns = (H + slice - 1) / slice, ld = padded_ld<S>(slice);
      Tensor wp_t = empty({ns * G * ld}, act.dtype(), act.device());
      S* wp = wp_t.data<S>();
      over_unit_slices(B, H, slice, [&](int64_t j0, int64_t j1) {
        const int64_t n = j1 - j0;
        for (int64_t k = 0; k < G; ++k) std::copy_n(w + k * H + j0, n, wp + j0 / slice * G * ld + k * ld);
      });
      const auto step_of = [&](int64_t s) { return reverse ? T - 1 - s : s; };
      for (int64_t s = T - 1; s >= 0; --s) {
        const int64_t t = step_of(s), tp = reverse ? t + 1 : t - 1;
        const S* cp = s == 0 ? c0.data<S>() : cs.data<S>() + tp * B * H;
        const S* a = act.data<S>() + t * B * G;
        const S* c = cs.data<S>() + t * B * H;
        const S* go = g_out.data<S>() + t * B * H;
        const S* gc = g_cs.data<S>() + t * B * H;
        const S* dgn =
            s < T - 1 ? dg + step_of(s + 1) * B * G : nullptr;  // the step processed before
        S* dgt = dg + t * B * G;
        over_unit_slices(B, H, slice, [&](int64_t j0, int64_t j1) {
          const int64_t n = j1 - j0;
          if (dgn) gemm<S>(B, n, G, dgn, G, 1, wp + j0 / slice * G * ld, ld, 1, dhr + j0, H, 0.0, 1);
          for (int64_t r = 0; r < B; ++r) {
            const int64_t o = r * H + j0;
            lstm_seq_backward_row<S>(n, H, a + r * G + j0, cp + o, c + o, go + o, dhr + o, gc + o,
                                     dcar + o, dgt + r * G + j0);
          }
        });
      }
      gemm<S>(B, H, G, dg + step_of(0) * B * G, G, 1, w, H, 1, dhr, H, 0.0, 0);  // dh0
      if (d_w.defined()) {
        S* dw = d_w.data<S>();
        // steps whose h_{t-1} is out[tp]: forward t = 1..T-1 (tp = t-1), reverse t = 0..T-2 (tp =
        // t+1)
        const int64_t n = (T - 1) * B;
        const S* dgs = dg + (reverse ? 0 : B * G);
        const S* hs = out.data<S>() + (reverse ? B * H : 0);
        if (n > 0) gemm<S>(G, H, n, dgs, 1, G, hs, H, 1, dw, H, 0.0, 0);
        const S* dg0 = dg + step_of(0) * B * G;  // the step that read h0
        gemm<S>(G, H, B, dg0, 1, G, h0.data<S>(), H, 1, dw, H, n > 0 ? 1.0 : 0.0, 0);
      }
    } else {
      EMBER_TYPE_ERROR("lstm_backward: the fused sequence kernel takes float32 or float64, got ",
                       dtype_name(act.dtype()));
    }
  });
}

}  // namespace ember::cpu::EMBER_ISA_NS
