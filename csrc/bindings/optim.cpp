// Fused multi-tensor optimizer kernels for ember.optim (one call per parameter group) and the
// multi-tensor helpers of nn.utils.clip_grad_*. Private names: the Python classes are the API.
#include "bindings/common.h"

namespace ember::py {

void init_optim(nb::module_& m) {
  m.def("_sgd_step", &sgd_step_, "params"_a, "grads"_a, "momentum_buffers"_a, "fresh"_a, "lr"_a, "momentum"_a,
        "dampening"_a, "weight_decay"_a, "nesterov"_a, "maximize"_a,
        "SGD update of every param in place; fresh[i]: momentum_buffers[i] is set to the gradient (first step).",
        nb::call_guard<nb::gil_scoped_release>());
  m.def("_adam_step",
        [](const TensorList& p, const TensorList& g, const TensorList& m1, const TensorList& m2, const TensorList& vmax,
           const TensorList& steps, double lr, double beta1, double beta2, double eps, double wd, bool amsgrad,
           bool maximize, bool decoupled) {
          adam_step_(p, g, m1, m2, vmax, steps, lr, beta1, beta2, eps, wd, amsgrad, maximize, decoupled);
        },
        "params"_a, "grads"_a, "exp_avgs"_a, "exp_avg_sqs"_a, "max_exp_avg_sqs"_a, "state_steps"_a, "lr"_a, "beta1"_a,
        "beta2"_a, "eps"_a, "weight_decay"_a, "amsgrad"_a, "maximize"_a, "decoupled_weight_decay"_a = false,
        "Adam update (L2 weight decay, or decoupled with decoupled_weight_decay=True) in place; increments state_steps.",
        nb::call_guard<nb::gil_scoped_release>());
  m.def("_adamw_step",
        [](const TensorList& p, const TensorList& g, const TensorList& m1, const TensorList& m2, const TensorList& vmax,
           const TensorList& steps, double lr, double beta1, double beta2, double eps, double wd, bool amsgrad,
           bool maximize) { adam_step_(p, g, m1, m2, vmax, steps, lr, beta1, beta2, eps, wd, amsgrad, maximize, true); },
        "params"_a, "grads"_a, "exp_avgs"_a, "exp_avg_sqs"_a, "max_exp_avg_sqs"_a, "state_steps"_a, "lr"_a, "beta1"_a,
        "beta2"_a, "eps"_a, "weight_decay"_a, "amsgrad"_a, "maximize"_a,
        "AdamW update (decoupled weight decay) in place; increments state_steps.",
        nb::call_guard<nb::gil_scoped_release>());
  m.def("_rmsprop_step", &rmsprop_step_, "params"_a, "grads"_a, "square_avgs"_a, "grad_avgs"_a, "momentum_buffers"_a,
        "state_steps"_a, "lr"_a, "alpha"_a, "eps"_a, "weight_decay"_a, "momentum"_a, "centered"_a, "maximize"_a,
        "RMSprop update in place; grad_avgs used when centered, momentum_buffers when momentum > 0.",
        nb::call_guard<nb::gil_scoped_release>());
  m.def("_adagrad_step", &adagrad_step_, "params"_a, "grads"_a, "state_sums"_a, "state_steps"_a, "lr"_a,
        "lr_decay"_a, "weight_decay"_a, "eps"_a, "maximize"_a, "Adagrad update in place; increments state_steps.",
        nb::call_guard<nb::gil_scoped_release>());
  m.def("_multi_tensor_norm", &multi_tensor_norm, "tensors"_a, "norm_type"_a = 2.0,
        "The norm_type-norm of all elements of all tensors together (a float).",
        nb::call_guard<nb::gil_scoped_release>());
  m.def("_multi_tensor_scale_", &multi_tensor_scale_, "tensors"_a, "scale"_a, "Multiply every tensor by scale in place.",
        nb::call_guard<nb::gil_scoped_release>());
  m.def("_multi_tensor_clamp_", &multi_tensor_clamp_, "tensors"_a, "min"_a, "max"_a,
        "Clamp every tensor to [min, max] in place.", nb::call_guard<nb::gil_scoped_release>());
}

}  // namespace ember::py
