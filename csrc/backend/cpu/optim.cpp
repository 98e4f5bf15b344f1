// CPU fused multi-tensor optimizer kernels: one pass over each parameter reads param, grad and
// state once and writes them once (PyTorch's single-tensor path makes ~8 passes). Every tensor
// is cut into chunks and all chunks of all tensors are spread over the thread pool; the inner
// loops (optim_impl.h) are branch-free, compiled per ISA and picked at start-up.
// The formulas follow torch.optim's operation order so trajectories match to rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/isa.h"
#include "backend/cpu/optim_table.h"
#include "backend/cpu/threadpool.h"
#include "backend/kernels_optim.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(void optim_fns(OptimFns<float>& f32, OptimFns<double>& f64);)
namespace base {
void optim_fns_half(OptimFns<Half>& f16, OptimFns<BFloat16>& bf16);
}

namespace {

struct Tables {
  OptimFns<float> f32;
  OptimFns<double> f64;
  OptimFns<Half> f16;
  OptimFns<BFloat16> bf16;
  Tables() {
    EMBER_ISA_PICK(optim_fns)(f32, f64);
    base::optim_fns_half(f16, bf16);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

template <class T> const OptimFns<T>& fns();
template <> const OptimFns<float>& fns<float>() { return tables().f32; }
template <> const OptimFns<double>& fns<double>() { return tables().f64; }
template <> const OptimFns<Half>& fns<Half>() { return tables().f16; }
template <> const OptimFns<BFloat16>& fns<BFloat16>() { return tables().bf16; }

constexpr int64_t kChunk = 1 << 15;  // elements per task: big enough to amortize scheduling

struct Chunk {
  int32_t t;
  int64_t b, e;
};

std::vector<Chunk> make_chunks(const TensorList& xs, int64_t* total = nullptr) {
  std::vector<Chunk> chunks;
  int64_t sum = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t n = xs[i].numel();
    sum += n;
    for (int64_t b = 0; b < n; b += kChunk) chunks.push_back({int32_t(i), b, std::min(n, b + kChunk)});
  }
  if (total) *total = sum;
  return chunks;
}

// f(tensor index, begin, end) over every chunk of every tensor, in parallel when big enough.
template <class F>
void for_chunks(const TensorList& xs, F&& f) {
  int64_t total = 0;
  const std::vector<Chunk> chunks = make_chunks(xs, &total);
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) f(chunks[c].t, chunks[c].b, chunks[c].e);
  };
  if (total < 2 * kChunk) run(0, int64_t(chunks.size()));
  else parallel_for(0, int64_t(chunks.size()), 1, run);
}

template <class T> T* ptr(const Tensor& t, int64_t off) { return t.defined() ? t.data<T>() + off : nullptr; }

// --------------------------------------------------------------------------------- steps

void sgd_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                  const std::vector<bool>& fresh, const SgdHyper& h) {
  const SgdScalars s{h.lr, h.momentum, 1 - h.dampening, h.weight_decay, h.maximize ? -1.0 : 1.0};
  const bool mom = h.momentum != 0;
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    unsigned f = (h.weight_decay != 0 ? kWeightDecay : 0) |
                 (mom ? kMomentum | (fresh[t] ? kFresh : 0) | (h.nesterov ? kNesterov : 0) : 0);
    dispatch_floating(params[t].dtype(), "sgd_step", [&]<class T>() {
      fns<T>().sgd(f, ptr<T>(params[t], b), ptr<T>(grads[t], b), mom ? ptr<T>(bufs[t], b) : nullptr, e - b, s);
    });
  });
}

void adam_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                   const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs,
                   const std::vector<double>& steps, const AdamHyper& h) {
  unsigned f = (h.amsgrad ? kAmsgrad : 0);
  if (h.weight_decay != 0) f |= h.decoupled_weight_decay ? kDecoupled : kWeightDecay;
  // bias corrections per tensor (their step counts may differ)
  std::vector<AdamScalars> sc(params.size());
  for (size_t t = 0; t < params.size(); ++t) {
    const double bc1 = 1 - std::pow(h.beta1, steps[t]), bc2 = 1 - std::pow(h.beta2, steps[t]);
    sc[t] = AdamScalars{h.maximize ? -1.0 : 1.0, 1 - h.lr * h.weight_decay, h.weight_decay, 1 - h.beta1,
                        h.beta2,                 1 - h.beta2,               std::sqrt(bc2),  h.eps,
                        -(h.lr / bc1)};
  }
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(params[t].dtype(), "adam_step", [&]<class T>() {
      fns<T>().adam(f, ptr<T>(params[t], b), ptr<T>(grads[t], b), ptr<T>(exp_avgs[t], b), ptr<T>(exp_avg_sqs[t], b),
                    h.amsgrad ? ptr<T>(max_exp_avg_sqs[t], b) : nullptr, e - b, sc[t]);
    });
  });
}

void rmsprop_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                      const TensorList& grad_avgs, const TensorList& bufs, const RmspropHyper& h) {
  const RmspropScalars s{h.maximize ? -1.0 : 1.0, h.weight_decay, h.alpha, 1 - h.alpha, h.eps, h.momentum, h.lr};
  const bool mom = h.momentum > 0;
  const unsigned f = (h.weight_decay != 0 ? kWeightDecay : 0) | (h.centered ? kCentered : 0) | (mom ? kMomentum : 0);
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(params[t].dtype(), "rmsprop_step", [&]<class T>() {
      fns<T>().rmsprop(f, ptr<T>(params[t], b), ptr<T>(grads[t], b), ptr<T>(square_avgs[t], b),
                       h.centered ? ptr<T>(grad_avgs[t], b) : nullptr, mom ? ptr<T>(bufs[t], b) : nullptr, e - b, s);
    });
  });
}

void adagrad_step_cpu(const TensorList& params, const TensorList& grads, const TensorList& sums,
                      const std::vector<double>& steps, const AdagradHyper& h) {
  const unsigned f = h.weight_decay != 0 ? kWeightDecay : 0;
  for_chunks(params, [&](int t, int64_t b, int64_t e) {
    const AdagradScalars s{h.maximize ? -1.0 : 1.0, h.weight_decay, h.lr / (1 + (steps[t] - 1) * h.lr_decay), h.eps};
    dispatch_floating(params[t].dtype(), "adagrad_step", [&]<class T>() {
      fns<T>().adagrad(f, ptr<T>(params[t], b), ptr<T>(grads[t], b), ptr<T>(sums[t], b), e - b, s);
    });
  });
}

// ------------------------------------------------------------------------ multi-tensor helpers

double multi_tensor_norm_cpu(const TensorList& xs, double p) {
  // one partial result per chunk, combined in chunk order: deterministic whatever the threads
  const std::vector<Chunk> chunks = make_chunks(xs);
  std::vector<double> part(chunks.size(), 0.0);
  auto run = [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const Tensor& x = xs[chunks[c].t];
      part[c] = dispatch_floating(x.dtype(), "multi_tensor_norm", [&]<class T>() {
        return fns<T>().norm(ptr<T>(x, chunks[c].b), chunks[c].e - chunks[c].b, p);
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
    dispatch_floating(xs[t].dtype(), "multi_tensor_scale", [&]<class T>() { fns<T>().scale(ptr<T>(xs[t], b), e - b, scale); });
  });
}

void multi_tensor_clamp_cpu(const TensorList& xs, double lo, double hi) {
  for_chunks(xs, [&](int t, int64_t b, int64_t e) {
    dispatch_floating(xs[t].dtype(), "multi_tensor_clamp", [&]<class T>() { fns<T>().clamp(ptr<T>(xs[t], b), e - b, lo, hi); });
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
