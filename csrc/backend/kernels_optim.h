#pragma once
// Kernel slots of the fused multi-tensor optimizer family (SGD, Adam/AdamW, RMSprop, Adagrad)
// and the multi-tensor helpers behind clip_grad_norm_ / clip_grad_value_.
#include <vector>

#include "backend/registry.h"
#include "core/tensor.h"

namespace ember {

// Hyperparameters of one fused step; per-tensor step counts come separately.
struct SgdHyper {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};
struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled_weight_decay;
};
struct RmspropHyper {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};
struct AdagradHyper {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};

namespace kernel {

// All lists are parallel: entry i of each list has param i's shape and dtype and is contiguous.
// Lists the configuration does not use (momentum buffers with momentum 0, max_exp_avg_sqs without
// amsgrad, ...) hold undefined tensors. `fresh[i]`: the momentum buffer is set to the gradient.
using SgdFn = void (*)(const TensorList& params, const TensorList& grads, const TensorList& bufs,
                       const std::vector<bool>& fresh, const SgdHyper& h);
// steps[i]: param i's step count including this step (for the bias corrections).
using AdamFn = void (*)(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                        const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs,
                        const std::vector<double>& steps, const AdamHyper& h);
using RmspropFn = void (*)(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                           const TensorList& grad_avgs, const TensorList& bufs, const RmspropHyper& h);
using AdagradFn = void (*)(const TensorList& params, const TensorList& grads, const TensorList& sums,
                           const std::vector<double>& steps, const AdagradHyper& h);
// sum over all tensors of sum |x|^p (p = inf: max |x|), accumulated in double.
using MultiNormFn = double (*)(const TensorList& xs, double p);
// x *= scale (scale_clamp = false) or x = clamp(x, lo, hi) (scale_clamp = true), for every x.
using MultiScaleFn = void (*)(const TensorList& xs, double scale);
using MultiClampFn = void (*)(const TensorList& xs, double lo, double hi);

inline KernelSlot<SgdFn> sgd_step{"sgd_step"};
inline KernelSlot<AdamFn> adam_step{"adam_step"};
inline KernelSlot<RmspropFn> rmsprop_step{"rmsprop_step"};
inline KernelSlot<AdagradFn> adagrad_step{"adagrad_step"};
inline KernelSlot<MultiNormFn> multi_tensor_norm{"multi_tensor_norm"};
inline KernelSlot<MultiScaleFn> multi_tensor_scale{"multi_tensor_scale"};
inline KernelSlot<MultiClampFn> multi_tensor_clamp{"multi_tensor_clamp"};

}  // namespace kernel
}  // namespace ember
