// CPU fused multi-tensor optimizer kernels: one pass over each parameter reads param, grad and
// state once and writes them once (PyTorch's single-tensor path makes ~8 passes). Every tensor
// is cut into chunks and all chunks of all tensors are spread over the thread pool; the inner
// loops are branch-free (flags are template parameters) so the compiler vectorizes them.
// The formulas follow torch.optim's operation order so trajectories match to rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/threadpool.h"
#include "backend/kernels_optim.h"

namespace ember::cpu {
namespace {

constexpr int64_t kChunk = 1 << 15;  // elements per task: big enough to amortize scheduling

struct Chunk {
  int32_t t;
  int64_t b, e;
};

// f(tensor index, begin, end) over every chunk of every tensor, in parallel.
template <class F>
void for_chunks(const TensorList& xs, F&& f) {
  std::vector<Chunk> chunks;
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    int64_t n = xs[i].numel();
    total += n;
    for (int64_t b = 0; b < n; b += kChunk) chunks.push_back({int32_t(i), b, std::min(n, b + kChunk)});
  }
  if (chunks.empty()) return;
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) f(chunks[c].t, chunks[c].b, chunks[c].e);
  };
  if (total < 2 * kChunk) run(0, int64_t(chunks.size()));
  else parallel_for(0, int64_t(chunks.size()), 1, run);
}

template <class T> T* ptr(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

// torch.lerp's formula (two forms for accuracy on each side of weight 0.5)
template <class C>
inline C lerp(C a, C b, C w) {
  return std::abs(w) < C(0.5) ? a + w * (b - a) : b - (b - a) * (C(1) - w);
}

// ---------------------------------------------------------------------------------------- SGD

template <class T, bool WD, bool MOM, bool FRESH, bool NESTEROV>
void sgd_range(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n, acc_t<T> lr,
               acc_t<T> momentum, acc_t<T> damp1, acc_t<T> wd, acc_t<T> sign) {
  using C = acc_t<T>;
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = sign * C(g[i]);
    if constexpr (WD) gi = gi + wd * pi;
    if constexpr (MOM) {
      C bi;
      if constexpr (FRESH) bi = gi;
      else bi = C(buf[i]) * momentum + damp1 * gi;
      buf[i] = T(bi);
      if constexpr (NESTEROV) gi = gi + momentum * bi;
      else gi = bi;
    }
    p[i] = T(pi + (-lr) * gi);
  }
}

template <class T, bool WD, bool MOM, bool FRESH>
auto pick_sgd(bool nesterov) {
  return nesterov ? &sgd_range<T, WD, MOM, FRESH, true> : &sgd_range<T, WD, MOM, FRESH, false>;
}

void sgd_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                  const std::vector<bool>& fresh, const SgdHyper& h) {
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(params[t].dtype(), "sgd_step", [&]<class T>() {
      using C = acc_t<T>;
      bool wd = h.weight_decay != 0, mom = h.momentum != 0, fr = mom && fresh[t];
      auto fn = wd ? (mom ? (fr ? pick_sgd<T, true, true, true>(h.nesterov) : pick_sgd<T, true, true, false>(h.nesterov))
                          : pick_sgd<T, true, false, false>(false))
                   : (mom ? (fr ? pick_sgd<T, false, true, true>(h.nesterov) : pick_sgd<T, false, true, false>(h.nesterov))
                          : pick_sgd<T, false, false, false>(false));
      T* buf = mom ? ptr<T>(bufs[t]) + b : nullptr;
      fn(ptr<T>(params[t]) + b, ptr<T>(grads[t]) + b, buf, e - b, C(h.lr), C(h.momentum), C(1 - h.dampening),
         C(h.weight_decay), C(h.maximize ? -1 : 1));
    });
  });
}

// ------------------------------------------------------------------------------- Adam / AdamW

template <class T>
struct AdamScalars {
  acc_t<T> sign, decay, wd, beta1w, beta2, beta2w, bc2_sqrt, eps, step_size;
};

template <class T, bool DECAY, bool WD, bool AMSGRAD>
void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T* __restrict vmax,
                int64_t n, const AdamScalars<T>& s) {
  using C = acc_t<T>;
  const C sign = s.sign, decay = s.decay, wd = s.wd, w1 = s.beta1w, beta2 = s.beta2, w2 = s.beta2w;
  const C bc2 = s.bc2_sqrt, eps = s.eps, step_size = s.step_size;
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = sign * C(g[i]);
    if constexpr (DECAY) pi = pi * decay;     // AdamW: decoupled decay first
    if constexpr (WD) gi = gi + wd * pi;      // Adam: L2 term in the gradient
    C mi = lerp(C(m[i]), gi, w1);
    C vi = C(v[i]) * beta2 + w2 * gi * gi;
    m[i] = T(mi);
    v[i] = T(vi);
    C denom;
    if constexpr (AMSGRAD) {
      C vm = std::max(C(vmax[i]), vi);
      vmax[i] = T(vm);
      denom = std::sqrt(vm) / bc2 + eps;
    } else {
      denom = std::sqrt(vi) / bc2 + eps;
    }
    p[i] = T(pi + step_size * mi / denom);
  }
}

void adam_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                   const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs,
                   const std::vector<double>& steps, const AdamHyper& h) {
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(params[t].dtype(), "adam_step", [&]<class T>() {
      using C = acc_t<T>;
      double step = steps[t];
      double bc1 = 1 - std::pow(h.beta1, step), bc2 = 1 - std::pow(h.beta2, step);
      AdamScalars<T> s{C(h.maximize ? -1 : 1), C(1 - h.lr * h.weight_decay), C(h.weight_decay), C(1 - h.beta1),
                       C(h.beta2), C(1 - h.beta2), C(std::sqrt(bc2)), C(h.eps), C(-(h.lr / bc1))};
      bool decay = h.decoupled_weight_decay && h.weight_decay != 0;
      bool wd = !h.decoupled_weight_decay && h.weight_decay != 0;
      using Fn = void (*)(T*, const T*, T*, T*, T*, int64_t, const AdamScalars<T>&);
      static constexpr Fn table[8] = {
          &adam_range<T, false, false, false>, &adam_range<T, false, false, true>,
          &adam_range<T, false, true, false>,  &adam_range<T, false, true, true>,
          &adam_range<T, true, false, false>,  &adam_range<T, true, false, true>,
          &adam_range<T, true, true, false>,   &adam_range<T, true, true, true>};
      Fn fn = table[(decay ? 4 : 0) | (wd ? 2 : 0) | (h.amsgrad ? 1 : 0)];
      T* vmax = h.amsgrad ? ptr<T>(max_exp_avg_sqs[t]) + b : nullptr;
      fn(ptr<T>(params[t]) + b, ptr<T>(grads[t]) + b, ptr<T>(exp_avgs[t]) + b, ptr<T>(exp_avg_sqs[t]) + b, vmax,
         e - b, s);
    });
  });
}

// ------------------------------------------------------------------------------------ RMSprop

template <class T>
struct RmsScalars {
  acc_t<T> sign, wd, alpha, alphaw, eps, momentum, lr;
};

template <class T, bool WD, bool CENTERED, bool MOM>
void rmsprop_range(T* __restrict p, const T* __restrict g, T* __restrict sq, T* __restrict ga, T* __restrict buf,
                   int64_t n, const RmsScalars<T>& s) {
  using C = acc_t<T>;
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = s.sign * C(g[i]);
    if constexpr (WD) gi = gi + s.wd * pi;
    C sqi = C(sq[i]) * s.alpha + s.alphaw * gi * gi;
    sq[i] = T(sqi);
    C avg;
    if constexpr (CENTERED) {
      C gai = lerp(C(ga[i]), gi, s.alphaw);
      ga[i] = T(gai);
      avg = std::sqrt(sqi + C(-1) * gai * gai) + s.eps;
    } else {
      avg = std::sqrt(sqi) + s.eps;
    }
    if constexpr (MOM) {
      C bi = C(buf[i]) * s.momentum + gi / avg;
      buf[i] = T(bi);
      p[i] = T(pi + (-s.lr) * bi);
    } else {
      p[i] = T(pi + (-s.lr) * gi / avg);
    }
  }
}

void rmsprop_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                      const TensorList& grad_avgs, const TensorList& bufs, const RmspropHyper& h) {
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(params[t].dtype(), "rmsprop_step", [&]<class T>() {
      using C = acc_t<T>;
      RmsScalars<T> s{C(h.maximize ? -1 : 1), C(h.weight_decay), C(h.alpha), C(1 - h.alpha),
                      C(h.eps),                C(h.momentum),     C(h.lr)};
      using Fn = void (*)(T*, const T*, T*, T*, T*, int64_t, const RmsScalars<T>&);
      static constexpr Fn table[8] = {
          &rmsprop_range<T, false, false, false>, &rmsprop_range<T, false, false, true>,
          &rmsprop_range<T, false, true, false>,  &rmsprop_range<T, false, true, true>,
          &rmsprop_range<T, true, false, false>,  &rmsprop_range<T, true, false, true>,
          &rmsprop_range<T, true, true, false>,   &rmsprop_range<T, true, true, true>};
      bool wd = h.weight_decay != 0, mom = h.momentum > 0;
      Fn fn = table[(wd ? 4 : 0) | (h.centered ? 2 : 0) | (mom ? 1 : 0)];
      T* ga = h.centered ? ptr<T>(grad_avgs[t]) + b : nullptr;
      T* buf = mom ? ptr<T>(bufs[t]) + b : nullptr;
      fn(ptr<T>(params[t]) + b, ptr<T>(grads[t]) + b, ptr<T>(square_avgs[t]) + b, ga, buf, e - b, s);
    });
  });
}

// ------------------------------------------------------------------------------------ Adagrad

template <class T, bool WD>
void adagrad_range(T* __restrict p, const T* __restrict g, T* __restrict sum, int64_t n, acc_t<T> sign,
                   acc_t<T> wd, acc_t<T> neg_clr, acc_t<T> eps) {
  using C = acc_t<T>;
  for (int64_t i = 0; i < n; ++i) {
    C pi = C(p[i]);
    C gi = sign * C(g[i]);
    if constexpr (WD) gi = gi + wd * pi;
    C si = C(sum[i]) + gi * gi;
    sum[i] = T(si);
    p[i] = T(pi + neg_clr * gi / (std::sqrt(si) + eps));
  }
}

void adagrad_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& sums,
                      const std::vector<double>& steps, const AdagradHyper& h) {
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(params[t].dtype(), "adagrad_step", [&]<class T>() {
      using C = acc_t<T>;
      double clr = h.lr / (1 + (steps[t] - 1) * h.lr_decay);
      auto fn = h.weight_decay != 0 ? &adagrad_range<T, true> : &adagrad_range<T, false>;
      fn(ptr<T>(params[t]) + b, ptr<T>(grads[t]) + b, ptr<T>(sums[t]) + b, e - b, C(h.maximize ? -1 : 1),
         C(h.weight_decay), C(-clr), C(h.eps));
    });
  });
}

// ------------------------------------------------------------------------ multi-tensor helpers

template <class T>
double range_norm(const T* __restrict x, int64_t n, double p) {
  using C = acc_t<T>;
  if (std::isinf(p)) {
    C m = 0;
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
      C a = std::abs(C(x[i]));
      nan |= a != a;
      m = a > m ? a : m;
    }
    return nan ? NAN : double(m);
  }
  if (p == 2) {
    // partial sums in double lanes (vectorizable, and accurate for long rows)
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) {
        double v = double(C(x[i + k]));
        acc[k] += v * v;
      }
    double s = 0;
    for (; i < n; ++i) s += double(C(x[i])) * double(C(x[i]));
    for (double a : acc) s += a;
    return s;
  }
  if (p == 1) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::abs(double(C(x[i])));
    return s;
  }
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::pow(std::abs(double(C(x[i]))), p);
  return s;
}

double multi_tensor_norm_cpu(const TensorList& xs, double p) {
  // one partial result per chunk, combined in chunk order: deterministic whatever the threads
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < xs.size(); ++i)
    for (int64_t b = 0, n = xs[i].numel(); b < n; b += kChunk) chunks.push_back({int32_t(i), b, std::min(n, b + kChunk)});
  std::vector<double> part(chunks.size(), 0.0);
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const Tensor& x = xs[chunks[c].t];
      part[c] = dispatch_floating(x.dtype(), "multi_tensor_norm", [&]<class T>() {
        return range_norm<T>(ptr<T>(x) + chunks[c].b, chunks[c].e - chunks[c].b, p);
      });
    }
  };
  if (chunks.size() > 2) parallel_for(0, int64_t(chunks.size()), 1, run);
  else run(0, int64_t(chunks.size()));
  double r = 0;
  bool nan = false;
  for (double v : part) {
    nan |= std::isnan(v);
    r = std::isinf(p) ? std::max(r, v) : r + v;
  }
  return nan ? NAN : r;
}

void multi_tensor_scale_cpu(const TensorList& xs, double scale) {
  for_chunks(xs, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(xs[t].dtype(), "multi_tensor_scale", [&]<class T>() {
      using C = acc_t<T>;
      T* __restrict x = ptr<T>(xs[t]) + b;
      const C s = C(scale);
      for (int64_t i = 0, n = e - b; i < n; ++i) x[i] = T(C(x[i]) * s);
    });
  });
}

void multi_tensor_clamp_cpu(const TensorList& xs, double lo, double hi) {
  for_chunks(xs, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(xs[t].dtype(), "multi_tensor_clamp", [&]<class T>() {
      using C = acc_t<T>;
      T* __restrict x = ptr<T>(xs[t]) + b;
      const C l = C(lo), u = C(hi);
      for (int64_t i = 0, n = e - b; i < n; ++i) {
        C v = C(x[i]);
        // NaN stays NaN (like torch.clamp)
        x[i] = T(v < l ? l : (v > u ? u : v));
      }
    });
  });
}

}  // namespace

EMBER_REGISTER_KERNEL(sgd_step, CPU, &sgd_step_cpu);
EMBER_REGISTER_KERNEL(adam_step, CPU, &adam_step_cpu);
EMBER_REGISTER_KERNEL(rmsprop_step, CPU, &rmsprop_step_cpu);
EMBER_REGISTER_KERNEL(adagrad_step, CPU, &adagrad_step_cpu);
EMBER_REGISTER_KERNEL(multi_tensor_norm, CPU, &multi_tensor_norm_cpu);
EMBER_REGISTER_KERNEL(multi_tensor_scale, CPU, &multi_tensor_scale_cpu);
EMBER_REGISTER_KERNEL(multi_tensor_clamp, CPU, &multi_tensor_clamp_cpu);

}  // namespace ember::cpu
