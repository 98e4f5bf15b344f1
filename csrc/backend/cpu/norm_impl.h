// Batch norm CPU kernels, compiled once per ISA (cmake/isa.cmake sets EMBER_ISA_NS); norm.cpp
// registers the best. x is [N, C, S]: channel c is N runs of S contiguous elements.
//  - long runs (S >= kShortRun): runs are visited in memory order (a per-channel sweep would
//    jump a page per run and defeat the prefetcher), in a fixed number of tasks that each keep
//    per-channel partials; a run is summed in the compute type with lane arrays (vectorized),
//    partials merge in double (Chan's parallel variance), in task order (deterministic).
//  - short runs ([N, C] or tiny images): channels sit side by side in each row, so blocks of
//    whole channels are swept row by row with per-column double accumulators (two-pass).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cpu/simd.h"
#include "backend/cpu/threadpool.h"
#include "core/tensor.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including norm_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
// Internal linkage: compiled under several ISA flags (see loops.h).
namespace {

constexpr int64_t kPiece = 4096;     // run piece summed in the compute type: bounds float error,
                                     // and its second (deviation) pass hits L1
constexpr int64_t kShortRun = 32;    // shorter runs use the column layout
constexpr int64_t kColBlock = 512;   // columns per task in the column layout
constexpr int64_t kTaskElems = 1 << 15;  // minimum elements per task worth a thread hand-off

// ---- contiguous runs. Reductions use explicit vectors: GCC does not vectorize float sums
// (no reassociation), and lane arrays with two accumulators came out as scalar shuffles.

template <class A>
using Vec = SimdVec<A, kStreamVecBytes>;
template <class A>
constexpr int kW = kStreamVecBytes / int(sizeof(A));

template <class A>
inline Vec<A> vload(const A* p) {
  return simd_load<kStreamVecBytes>(p);
}
template <class A>
inline A hsum(const Vec<A>& v) {
  A s = 0;
  for (int j = 0; j < kW<A>; ++j) s += v[j];
  return s;
}

// sum(x - m) and sum((x - m)^2)
template <class A>
void vec_dev(const A* x, int64_t n, A m, A& s1, A& s2) {
  constexpr int W = kW<A>;
  Vec<A> a0 = {}, a1 = {}, b0 = {}, b1 = {};
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    Vec<A> d0 = vload(x + i) - m, d1 = vload(x + i + W) - m;
    a0 += d0, a1 += d1, b0 += d0 * d0, b1 += d1 * d1;
  }
  A p = hsum<A>(a0 + a1), q = hsum<A>(b0 + b1);
  for (; i < n; ++i) {
    A d = x[i] - m;
    p += d, q += d * d;
  }
  s1 += p, s2 += q;
}

// sum(g) and sum(g * (x - m))
template <class A>
void vec_dot(const A* g, const A* x, int64_t n, A m, A& sg, A& sgx) {
  constexpr int W = kW<A>;
  Vec<A> a0 = {}, a1 = {}, b0 = {}, b1 = {};
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    Vec<A> g0 = vload(g + i), g1 = vload(g + i + W);
    a0 += g0, a1 += g1;
    b0 += g0 * (vload(x + i) - m), b1 += g1 * (vload(x + i + W) - m);
  }
  A p = hsum<A>(a0 + a1), q = hsum<A>(b0 + b1);
  for (; i < n; ++i) p += g[i], q += g[i] * (x[i] - m);
  sg += p, sgx += q;
}

// 16-bit storage: blocks are widened to the compute type first
constexpr int64_t kWiden = 512;
template <class T, class A>
void widen(A* dst, const T* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = A(src[i]);
}

template <class T, class A>
A run_sum(const T* x, int64_t n) {
  if constexpr (std::is_same_v<T, A>) {
    return stream_sum<A>(x, n);
  } else {
    A buf[kWiden], s = 0;
    for (int64_t i = 0; i < n; i += kWiden) {
      const int64_t len = std::min(kWiden, n - i);
      widen<T, A>(buf, x + i, len);
      s += stream_sum<A>(buf, len);
    }
    return s;
  }
}

template <class T, class A>
void run_dev(const T* x, int64_t n, A m, A& s1, A& s2) {
  s1 = 0, s2 = 0;
  if constexpr (std::is_same_v<T, A>) {
    vec_dev<A>(x, n, m, s1, s2);
  } else {
    A buf[kWiden];
    for (int64_t i = 0; i < n; i += kWiden) {
      const int64_t len = std::min(kWiden, n - i);
      widen<T, A>(buf, x + i, len);
      vec_dev<A>(buf, len, m, s1, s2);
    }
  }
}

template <class T, class A>
void run_dot(const T* g, const T* x, int64_t n, A m, A& sg, A& sgx) {
  sg = 0, sgx = 0;
  if constexpr (std::is_same_v<T, A>) {
    vec_dot<A>(g, x, n, m, sg, sgx);
  } else {
    A bg[kWiden], bx[kWiden];
    for (int64_t i = 0; i < n; i += kWiden) {
      const int64_t len = std::min(kWiden, n - i);
      widen<T, A>(bg, g + i, len);
      widen<T, A>(bx, x + i, len);
      vec_dot<A>(bg, bx, len, m, sg, sgx);
    }
  }
}

// The elementwise passes. K = 0: out = (p - m)*a + b (normalize); 1: out = p*a + (q - m)*b + c
// (training grad_input, p = g, q = x); 2: out = p*a (eval grad_input). Centering first keeps
// precision when |mean| >> std (a folded x*a + b would cancel catastrophically).
template <int K, class T, class A>
void run_apply(T* __restrict out, const T* __restrict p, const T* __restrict q, int64_t n, A a, A b, A c, A m) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (K == 0) out[i] = T((A(p[i]) - m) * a + b);
    else if constexpr (K == 1) out[i] = T(A(p[i]) * a + (A(q[i]) - m) * b + c);
    else out[i] = T(A(p[i]) * a);
  }
}
template <int K, class T, class A>
void cols_apply(T* __restrict out, const T* __restrict p, const T* __restrict q, int64_t n, const A* __restrict a,
                const A* __restrict b, const A* __restrict c, const A* __restrict m) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (K == 0) out[i] = T((A(p[i]) - m[i]) * a[i] + b[i]);
    else if constexpr (K == 1) out[i] = T(A(p[i]) * a[i] + (A(q[i]) - m[i]) * b[i] + c[i]);
    else out[i] = T(A(p[i]) * a[i]);
  }
}

// Moments of a set of values, merged pairwise (Chan et al.) in double.
struct Moments {
  double n = 0, mean = 0, m2 = 0;
  void add(double nb, double mb, double m2b) {
    if (nb == 0) return;
    const double tot = n + nb, d = mb - mean;
    mean += d * nb / tot;
    m2 += m2b + d * d * n * nb / tot;
    n = tot;
  }
};

struct Shape3 {
  int64_t N, C, S;
  explicit Shape3(const Tensor& x) : N(x.shape()[0]), C(x.shape()[1]), S(x.numel() / std::max<int64_t>(1, N * C)) {}
};

// Per-channel coefficients of one elementwise pass (run_apply's a, b, c, m).
template <class A>
struct Coefs {
  std::vector<A> a, b, c, m;  // m: the channel mean
  explicit Coefs(int64_t C) : a(C), b(C), c(C), m(C) {}
};

// out[n, c, :] = f(p, q) with channel c's coefficients, over all of [N, C, S].
template <int K, class T, class A>
void apply_all(T* out, const T* p, const T* q, const Shape3& s, const Coefs<A>& k) {
  const int64_t N = s.N, C = s.C, S = s.S;
  if (S >= kShortRun) {
    parallel_for(0, N * C, std::max<int64_t>(1, kTaskElems / S), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t c = r % C, o = r * S;
        run_apply<K, T, A>(out + o, p + o, q ? q + o : nullptr, S, k.a[c], k.b[c], k.c[c], k.m[c]);
      }
    });
    return;
  }
  // short runs: coefficients expanded per column, then plain row sweeps
  const int64_t W = C * S;
  std::vector<A> a(W), b(W), c(W), m(W);
  for (int64_t j = 0; j < W; ++j) a[j] = k.a[j / S], b[j] = k.b[j / S], c[j] = k.c[j / S], m[j] = k.m[j / S];
  parallel_for(0, N, std::max<int64_t>(1, kTaskElems / std::max<int64_t>(1, W)), [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n)
      cols_apply<K, T, A>(out + n * W, p + n * W, q ? q + n * W : nullptr, W, a.data(), b.data(), c.data(),
                          m.data());
  });
}

// Adds one run of S elements to m (pieces: corrected two-pass in the compute type).
template <class T, class A>
void add_run(Moments& m, const T* run, int64_t S) {
  for (int64_t i = 0; i < S; i += kPiece) {
    const int64_t len = std::min(kPiece, S - i);
    const A mu = run_sum<T, A>(run + i, len) / A(len);
    A d1, d2;
    run_dev<T, A>(run + i, len, mu, d1, d2);
    m.add(double(len), double(mu) + double(d1) / len, double(d2) - double(d1) * d1 / len);
  }
}

// Moments of channels [c0, c1) (short-run layout): two passes with per-column double sums.
template <class T>
void column_moments(const T* x, const Shape3& s, int64_t c0, int64_t c1, Moments* out) {
  const int64_t W = (c1 - c0) * s.S, stride = s.C * s.S, cnt = s.N * s.S;
  const T* base = x + c0 * s.S;
  std::vector<double> acc(W, 0.0), mcol(W);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < W; ++j) acc[j] += double(base[n * stride + j]);
  for (int64_t c = 0; c < c1 - c0; ++c) {
    double t = 0;
    for (int64_t j = c * s.S; j < (c + 1) * s.S; ++j) t += acc[j];
    out[c].n = double(cnt);
    out[c].mean = t / double(cnt);
    for (int64_t j = c * s.S; j < (c + 1) * s.S; ++j) mcol[j] = out[c].mean;
  }
  std::fill(acc.begin(), acc.end(), 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < W; ++j) {
      const double d = double(base[n * stride + j]) - mcol[j];
      acc[j] += d * d;
    }
  for (int64_t c = 0; c < c1 - c0; ++c) {
    double t = 0;
    for (int64_t j = c * s.S; j < (c + 1) * s.S; ++j) t += acc[j];
    out[c].m2 = t;
  }
}

// Sums of the backward (sum g, sum g * (x - mean)) for channels [c0, c1), short-run layout.
template <class T, class A>
void column_dots(const T* g, const T* x, const Shape3& s, const A* mean, int64_t c0, int64_t c1, double* sg,
                 double* sgx) {
  const int64_t W = (c1 - c0) * s.S, stride = s.C * s.S, off = c0 * s.S;
  std::vector<double> ag(W, 0.0), agx(W, 0.0), mcol(W);
  for (int64_t j = 0; j < W; ++j) mcol[j] = double(mean[c0 + j / s.S]);
  for (int64_t n = 0; n < s.N; ++n) {
    const T* gr = g + n * stride + off;
    const T* xr = x + n * stride + off;
    for (int64_t j = 0; j < W; ++j) {
      const double gj = double(gr[j]);
      ag[j] += gj;
      agx[j] += gj * (double(xr[j]) - mcol[j]);
    }
  }
  for (int64_t c = 0; c < c1 - c0; ++c) {
    double a = 0, b = 0;
    for (int64_t j = c * s.S; j < (c + 1) * s.S; ++j) a += ag[j], b += agx[j];
    sg[c0 + c] = a, sgx[c0 + c] = b;
  }
}

// Tasks of the memory-order sweep: fixed by the size only, so results do not depend on the
// number of threads.
inline int64_t sweep_tasks(const Shape3& s) {
  return std::clamp<int64_t>(s.N * s.C * s.S / kTaskElems, 1, std::min<int64_t>(16, s.N * s.C));
}

// f(task, run) over all N * C runs in memory order, task t taking a contiguous share.
template <class F>
void sweep_runs(const Shape3& s, int64_t ntasks, F&& f) {
  const int64_t R = s.N * s.C;
  parallel_for(0, ntasks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t)
      for (int64_t r = R * t / ntasks; r < R * (t + 1) / ntasks; ++r) f(t, r);
  });
}

template <class T>
void batch_norm_typed(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                      const Tensor& invstd, const Tensor& running_mean, const Tensor& running_var, bool training,
                      double momentum, double eps) {
  using A = acc_t<T>;
  const Shape3 s(x);
  const int64_t C = s.C;
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  A* mp = mean.data<A>();
  A* ip = invstd.data<A>();
  const A* wp = weight.defined() ? weight.data<A>() : nullptr;
  const A* bp = bias.defined() ? bias.data<A>() : nullptr;
  A* rmp = running_mean.defined() ? running_mean.data<A>() : nullptr;
  A* rvp = running_var.defined() ? running_var.data<A>() : nullptr;
  Coefs<A> k(C);
  // mean/invstd of channel c known: the normalize pass coefficients
  auto coef = [&](int64_t c) {
    const A sc = wp ? wp[c] * ip[c] : ip[c];
    k.a[c] = sc;
    k.b[c] = bp ? bp[c] : A(0);
    k.m[c] = mp[c];
  };
  // batch moments of channel c known: save them and move the running stats
  auto finish = [&](int64_t c, const Moments& m) {
    mp[c] = A(m.mean);
    ip[c] = A(1.0 / std::sqrt(m.m2 / m.n + eps));
    if (rmp) rmp[c] = A((1 - momentum) * double(rmp[c]) + momentum * m.mean);
    if (rvp) rvp[c] = A((1 - momentum) * double(rvp[c]) + momentum * (m.m2 / (m.n - 1)));
    coef(c);
  };

  if (!training) {
    for (int64_t c = 0; c < C; ++c) {
      mp[c] = rmp[c];
      ip[c] = A(1.0 / std::sqrt(double(rvp[c]) + eps));
      coef(c);
    }
    apply_all<0, T, A>(yp, xp, nullptr, s, k);
    return;
  }
  if (s.S < kShortRun) {
    std::vector<Moments> m(C);
    const int64_t per = std::max<int64_t>(1, kColBlock / std::max<int64_t>(1, s.S));
    parallel_for(0, (C + per - 1) / per, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) column_moments<T>(xp, s, t * per, std::min(C, (t + 1) * per), &m[t * per]);
    });
    for (int64_t c = 0; c < C; ++c) finish(c, m[c]);
    apply_all<0, T, A>(yp, xp, nullptr, s, k);
    return;
  }
  const int64_t ntasks = sweep_tasks(s);
  std::vector<Moments> part(ntasks * C);
  sweep_runs(s, ntasks, [&](int64_t t, int64_t r) { add_run<T, A>(part[t * C + r % C], xp + r * s.S, s.S); });
  for (int64_t c = 0; c < C; ++c) {
    Moments m;
    for (int64_t t = 0; t < ntasks; ++t) m.add(part[t * C + c].n, part[t * C + c].mean, part[t * C + c].m2);
    finish(c, m);
  }
  apply_all<0, T, A>(yp, xp, nullptr, s, k);
}

template <class T>
void batch_norm_backward_typed(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g, const Tensor& x,
                               const Tensor& weight, const Tensor& mean, const Tensor& invstd, bool training) {
  using A = acc_t<T>;
  const Shape3 s(x);
  const int64_t C = s.C;
  const double M = double(s.N * s.S);
  const T* gp = g.data<T>();
  const T* xp = x.data<T>();
  T* gxp = gx.defined() ? gx.data<T>() : nullptr;
  const A* mp = mean.data<A>();
  const A* ip = invstd.data<A>();
  const A* wp = weight.defined() ? weight.data<A>() : nullptr;
  const bool sums = training || gw.defined() || gb.defined();
  Coefs<A> k(C);
  // channel sums known: the weight/bias grads and the grad_input coefficients
  auto finish = [&](int64_t c, double sg, double sgx) {
    if (gb.defined()) gb.data<A>()[c] = A(sg);
    if (gw.defined()) gw.data<A>()[c] = A(sgx * double(ip[c]));
    const double k1 = (wp ? double(wp[c]) : 1.0) * double(ip[c]);
    k.a[c] = A(k1);
    if (training) {
      const double k2 = -k1 * double(ip[c]) * double(ip[c]) * sgx / M;
      k.b[c] = A(k2);
      k.c[c] = A(-k1 * sg / M);
      k.m[c] = mp[c];
    }
  };
  auto grad_input = [&] {
    if (!gxp) return;
    if (training) apply_all<1, T, A>(gxp, gp, xp, s, k);
    else apply_all<2, T, A>(gxp, gp, nullptr, s, k);
  };
  if (!sums) {
    for (int64_t c = 0; c < C; ++c) finish(c, 0, 0);
    grad_input();
    return;
  }
  if (s.S < kShortRun) {
    std::vector<double> sg(C), sgx(C);
    const int64_t per = std::max<int64_t>(1, kColBlock / std::max<int64_t>(1, s.S));
    parallel_for(0, (C + per - 1) / per, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t)
        column_dots<T, A>(gp, xp, s, mp, t * per, std::min(C, (t + 1) * per), sg.data(), sgx.data());
    });
    for (int64_t c = 0; c < C; ++c) finish(c, sg[c], sgx[c]);
    grad_input();
    return;
  }
  const int64_t ntasks = sweep_tasks(s);
  std::vector<double> psg(ntasks * C, 0.0), psgx(ntasks * C, 0.0);
  sweep_runs(s, ntasks, [&](int64_t t, int64_t r) {
    const int64_t c = r % C;
    for (int64_t i = 0; i < s.S; i += kPiece) {
      A a, b;
      run_dot<T, A>(gp + r * s.S + i, xp + r * s.S + i, std::min(kPiece, s.S - i), mp[c], a, b);
      psg[t * C + c] += double(a), psgx[t * C + c] += double(b);
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double sg = 0, sgx = 0;
    for (int64_t t = 0; t < ntasks; ++t) sg += psg[t * C + c], sgx += psgx[t * C + c];
    finish(c, sg, sgx);
  }
  grad_input();
}

}  // namespace

void batch_norm_kernel(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& mean,
                       const Tensor& invstd, const Tensor& running_mean, const Tensor& running_var, bool training,
                       double momentum, double eps) {
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    batch_norm_typed<T>(y, x, weight, bias, mean, invstd, running_mean, running_var, training, momentum, eps);
  });
}

void batch_norm_backward_kernel(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g, const Tensor& x,
                                const Tensor& weight, const Tensor& mean, const Tensor& invstd, bool training) {
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<class T>() {
    batch_norm_backward_typed<T>(gx, gw, gb, g, x, weight, mean, invstd, training);
  });
}

}  // namespace ember::cpu::EMBER_ISA_NS
