// The inner loops of the fused optimizer kernels, compiled once per ISA (cmake/isa.cmake sets
// EMBER_ISA_NS) so the updates run on full-width vectors (sqrt and two divisions per element
// make Adam compute-bound on SSE2). Everything here lives in the ISA namespace and calls no
// shared inline code, so no AVX-512 instantiation can leak into the portable path.
// Formulas follow torch.optim's operation order (see optim.cpp).
#pragma once
#include <cmath>
#include <cstdint>

#include "backend/cpu/optim_table.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including optim_impl.h"
#endif

// No fused multiply-add contraction: keep PyTorch's roundings (a*b + c rounded twice), so
// trajectories match its single-tensor optimizers on every ISA.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace ember::cpu::EMBER_ISA_NS {
namespace {

// torch.lerp's formula (two forms for accuracy on each side of weight 0.5)
template <class C>
inline C lerp_(C a, C b, C w, bool low) {
  return low ? a + w * (b - a) : b - (b - a) * (C(1) - w);
}

// T: storage type, C: compute type (float for 16-bit storage)
template <class T, class C, unsigned F>
void sgd_range(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n, const SgdScalars& s) {
  constexpr bool WD = F & kWeightDecay, MOM = F & kMomentum, FRESH = F & kFresh, NEST = F & kNesterov;
  const C lr = C(s.lr), momentum = C(s.momentum), damp1 = C(s.damp1), wd = C(s.wd), sign = C(s.sign);
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = sign * C(g[i]);
    if constexpr (WD) gi = gi + wd * pi;
    if constexpr (MOM) {
      C bi;
      if constexpr (FRESH) bi = gi;
      else bi = C(buf[i]) * momentum + damp1 * gi;
      buf[i] = T(bi);
      if constexpr (NEST) gi = gi + momentum * bi;
      else gi = bi;
    }
    p[i] = T(pi + (-lr) * gi);
  }
}

template <class T, class C, unsigned F>
void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
                int64_t n, const AdamScalars& s) {
  constexpr bool DECAY = F & kDecoupled, WD = F & kWeightDecay, AMS = F & kAmsgrad;
  const C sign = C(s.sign), decay = C(s.decay), wd = C(s.wd), w1 = C(s.beta1w), beta2 = C(s.beta2);
  const C w2 = C(s.beta2w), bc2 = C(s.bc2_sqrt), eps = C(s.eps), step_size = C(s.step_size);
  const bool low = s.beta1w < 0.5;
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = sign * C(g[i]);
    if constexpr (DECAY) pi = pi * decay;  // AdamW: decoupled decay first
    if constexpr (WD) gi = gi + wd * pi;   // Adam: L2 term in the gradient
    C mi = lerp_(C(m[i]), gi, w1, low);
    C vi = C(v[i]) * beta2 + w2 * gi * gi;
    m[i] = T(mi);
    v[i] = T(vi);
    C denom;
    if constexpr (AMS) {
      C old = C(vmax[i]);
      C vm = old > vi ? old : vi;
      vmax[i] = T(vm);
      denom = std::sqrt(vm) / bc2 + eps;
    } else {
      denom = std::sqrt(vi) / bc2 + eps;
    }
    p[i] = T(pi + step_size * mi / denom);
  }
}

template <class T, class C, unsigned F>
void rmsprop_range(T* __restrict p, const T* __restrict g, T* __restrict sq, T* __restrict ga, T* __restrict buf,
                   int64_t n, const RmspropScalars& s) {
  constexpr bool WD = F & kWeightDecay, CENTERED = F & kCentered, MOM = F & kMomentum;
  const C sign = C(s.sign), wd = C(s.wd), alpha = C(s.alpha), aw = C(s.alphaw), eps = C(s.eps);
  const C momentum = C(s.momentum), lr = C(s.lr);
  const bool low = s.alphaw < 0.5;
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = sign * C(g[i]);
    if constexpr (WD) gi = gi + wd * pi;
    C sqi = C(sq[i]) * alpha + aw * gi * gi;
    sq[i] = T(sqi);
    C avg;
    if constexpr (CENTERED) {
      C gai = lerp_(C(ga[i]), gi, aw, low);
      ga[i] = T(gai);
      avg = std::sqrt(sqi + C(-1) * gai * gai) + eps;
    } else {
      avg = std::sqrt(sqi) + eps;
    }
    if constexpr (MOM) {
      C bi = C(buf[i]) * momentum + gi / avg;
      buf[i] = T(bi);
      p[i] = T(pi + (-lr) * bi);
    } else {
      p[i] = T(pi + (-lr) * gi / avg);
    }
  }
}

template <class T, class C, unsigned F>
void adagrad_range(T* __restrict p, const T* __restrict g, T* __restrict sum, int64_t n, const AdagradScalars& s) {
  constexpr bool WD = F & kWeightDecay;
  const C sign = C(s.sign), wd = C(s.wd), neg_clr = C(-s.clr), eps = C(s.eps);
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = sign * C(g[i]);
    if constexpr (WD) gi = gi + wd * pi;
    C si = C(sum[i]) + gi * gi;
    sum[i] = T(si);
    p[i] = T(pi + neg_clr * gi / (std::sqrt(si) + eps));
  }
}

// sum |x|^p (p = inf: max |x|, NaN propagates), accumulated in double
template <class T, class C>
double norm_range(const T* __restrict x, int64_t n, double p) {
  if (std::isinf(p)) {
    C m = 0;
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
      C a = std::fabs(C(x[i]));
      nan |= a != a;
      m = a > m ? a : m;
    }
    return nan ? NAN : double(m);
  }
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent lanes: vectorizes, and accurate
  int64_t i = 0;
  if (p == 2) {
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) {
        double v = double(C(x[i + k]));
        acc[k] += v * v;
      }
    for (; i < n; ++i) acc[0] += double(C(x[i])) * double(C(x[i]));
  } else if (p == 1) {
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) acc[k] += std::fabs(double(C(x[i + k])));
    for (; i < n; ++i) acc[0] += std::fabs(double(C(x[i])));
  } else {
    for (; i < n; ++i) acc[0] += std::pow(std::fabs(double(C(x[i]))), p);
  }
  double s = 0;
  for (double a : acc) s += a;
  return s;
}

template <class T, class C>
void scale_range(T* __restrict x, int64_t n, double scale) {
  const C s = C(scale);
  for (int64_t i = 0; i < n; ++i) x[i] = T(C(x[i]) * s);
}

template <class T, class C>
void clamp_range(T* __restrict x, int64_t n, double lo, double hi) {
  const C l = C(lo), u = C(hi);
  for (int64_t i = 0; i < n; ++i) {
    C v = C(x[i]);
    x[i] = T(v < l ? l : (v > u ? u : v));  // NaN stays NaN (like torch.clamp)
  }
}

// flags (a runtime bit set) -> the instantiation for those flags
template <class T, class C, unsigned F = 0>
void sgd_dispatch(unsigned f, T* p, const T* g, T* buf, int64_t n, const SgdScalars& s) {
  if constexpr (F == kSgdFlagsEnd) {
    (void)f, (void)p, (void)g, (void)buf, (void)n, (void)s;
  } else {
    if (f == F) sgd_range<T, C, F>(p, g, buf, n, s);
    else sgd_dispatch<T, C, F + 1>(f, p, g, buf, n, s);
  }
}

template <class T, class C, unsigned F = 0>
void adam_dispatch(unsigned f, T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamScalars& s) {
  if constexpr (F == kAdamFlagsEnd) {
    (void)f, (void)p, (void)g, (void)m, (void)v, (void)vmax, (void)n, (void)s;
  } else {
    if (f == F) adam_range<T, C, F>(p, g, m, v, vmax, n, s);
    else adam_dispatch<T, C, F + 1>(f, p, g, m, v, vmax, n, s);
  }
}

template <class T, class C, unsigned F = 0>
void rmsprop_dispatch(unsigned f, T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, const RmspropScalars& s) {
  if constexpr (F == kRmspropFlagsEnd) {
    (void)f, (void)p, (void)g, (void)sq, (void)ga, (void)buf, (void)n, (void)s;
  } else {
    if (f == F) rmsprop_range<T, C, F>(p, g, sq, ga, buf, n, s);
    else rmsprop_dispatch<T, C, F + 1>(f, p, g, sq, ga, buf, n, s);
  }
}

template <class T, class C>
void adagrad_dispatch(unsigned f, T* p, const T* g, T* sum, int64_t n, const AdagradScalars& s) {
  if (f & kWeightDecay) adagrad_range<T, C, kWeightDecay>(p, g, sum, n, s);
  else adagrad_range<T, C, 0>(p, g, sum, n, s);
}

template <class T, class C>
OptimFns<T> make_fns() {
  OptimFns<T> f;
  f.sgd = &sgd_dispatch<T, C>;
  f.adam = &adam_dispatch<T, C>;
  f.rmsprop = &rmsprop_dispatch<T, C>;
  f.adagrad = &adagrad_dispatch<T, C>;
  f.norm = &norm_range<T, C>;
  f.scale = &scale_range<T, C>;
  f.clamp = &clamp_range<T, C>;
  return f;
}

}  // namespace

void optim_fns(OptimFns<float>& f32, OptimFns<double>& f64) {
  f32 = make_fns<float, float>();
  f64 = make_fns<double, double>();
}

}  // namespace ember::cpu::EMBER_ISA_NS

#ifdef EMBER_ISA_BASE
namespace ember::cpu::EMBER_ISA_NS {
// 16-bit storage, float math (portable build only: the conversions are shared inline code)
void optim_fns_half(OptimFns<Half>& f16, OptimFns<BFloat16>& bf16) {
  f16 = make_fns<Half, float>();
  bf16 = make_fns<BFloat16, float>();
}
}  // namespace ember::cpu::EMBER_ISA_NS
#endif
