// Fused multi-tensor optimizer steps and the multi-tensor helpers of clip_grad_*: argument
// checks (parallel lists, shapes, dtypes, contiguity), step counters, version bumps, then one
// kernel call per parameter group. No autograd is recorded: these are in-place updates of
// leaves, like PyTorch's optimizer steps under no_grad.
#include <cmath>

#include "backend/kernels_optim.h"
#include "compile/record.h"
#include "ops/ops.h"

namespace ember {
namespace {

// A state/param tensor the kernel writes: same shape and dtype as the param, contiguous.
void check_state(const Tensor& p, const Tensor& s, size_t i, const char* op, const char* what) {
  if (!s.defined()) EMBER_VALUE_ERROR(op, ": ", what, "[", i, "] is missing");
  if (s.shape() != p.shape())
    EMBER_VALUE_ERROR(op, ": ", what, "[", i, "] has shape ", s.shape(), " but param ", i, " has shape ", p.shape());
  if (s.dtype() != p.dtype())
    EMBER_TYPE_ERROR(op, ": ", what, "[", i, "] has dtype ", dtype_name(s.dtype()), " but param ", i, " has dtype ",
                     dtype_name(p.dtype()));
  if (!s.is_contiguous()) EMBER_VALUE_ERROR(op, ": ", what, "[", i, "] must be contiguous");
}

void check_list(const TensorList& ps, const TensorList& xs, const char* op, const char* what) {
  if (xs.size() != ps.size())
    EMBER_VALUE_ERROR(op, ": got ", ps.size(), " params but ", xs.size(), " ", what);
}

// Params must be writable in place; grads are read, so a non-contiguous one is copied.
TensorList check_params_grads(const TensorList& ps, const TensorList& gs, const char* op) {
  check_list(ps, gs, op, "grads");
  TensorList grads(gs.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    const Tensor& p = ps[i];
    if (!p.defined()) EMBER_VALUE_ERROR(op, ": params[", i, "] is None");
    if (!is_floating(p.dtype()))
      EMBER_TYPE_ERROR(op, ": params[", i, "] must be a floating point tensor, got ", dtype_name(p.dtype()));
    if (!p.is_contiguous()) EMBER_VALUE_ERROR(op, ": params[", i, "] must be contiguous (shape ", p.shape(), ")");
    if (!gs[i].defined()) EMBER_VALUE_ERROR(op, ": grads[", i, "] is None");
    if (gs[i].shape() != p.shape())
      EMBER_VALUE_ERROR(op, ": grads[", i, "] has shape ", gs[i].shape(), " but params[", i, "] has shape ", p.shape());
    Tensor g = gs[i];
    if (g.dtype() != p.dtype()) g = to_dtype(detach(g), p.dtype());
    if (!g.is_contiguous()) g = contiguous(detach(g));
    grads[i] = g;
  }
  return grads;
}

// Adds one to each 0-d step tensor and returns the new counts.
std::vector<double> bump_steps(const TensorList& ps, const TensorList& steps, const char* op) {
  check_list(ps, steps, op, "state_steps");
  std::vector<double> out(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const Tensor& s = steps[i];
    if (!s.defined() || s.numel() != 1 || !is_floating(s.dtype()) || s.dtype() == Dtype::Float16 ||
        s.dtype() == Dtype::BFloat16)
      EMBER_VALUE_ERROR(op, ": state_steps[", i, "] must be a float32 or float64 tensor with one element");
    if (s.dtype() == Dtype::Float32) out[i] = double(*s.data<float>() += 1.0f);
    else out[i] = *s.data<double>() += 1.0;
    s.bump_version();
  }
  return out;
}

void bump(const TensorList& xs) {
  for (auto& x : xs)
    if (x.defined()) x.bump_version();
}

void check_nonneg(double v, const char* op, const char* name) {
  if (!(v >= 0)) EMBER_VALUE_ERROR(op, ": invalid ", name, " value: ", v);
}

}  // namespace

void sgd_step_(const TensorList& params, const TensorList& grads_in, const TensorList& momentum_buffers,
               const std::vector<bool>& fresh, double lr, double momentum, double dampening, double weight_decay,
               bool nesterov, bool maximize) {
  const char* op = "sgd_step";
  check_nonneg(lr, op, "learning rate");
  check_nonneg(momentum, op, "momentum");
  check_nonneg(weight_decay, op, "weight_decay");
  if (nesterov && (momentum <= 0 || dampening != 0))
    EMBER_VALUE_ERROR(op, ": Nesterov momentum requires a momentum and zero dampening");
  TensorList grads = check_params_grads(params, grads_in, op);
  if (momentum != 0) {
    check_list(params, momentum_buffers, op, "momentum_buffers");
    if (fresh.size() != params.size()) EMBER_VALUE_ERROR(op, ": got ", params.size(), " params but ", fresh.size(), " fresh flags");
    for (size_t i = 0; i < params.size(); ++i) check_state(params[i], momentum_buffers[i], i, op, "momentum_buffers");
  }
  if (params.empty()) return;
  kernel::sgd_step(params[0].device())(params, grads, momentum_buffers, fresh,
                                       SgdHyper{lr, momentum, dampening, weight_decay, nesterov, maximize});
  bump(params);
  if (momentum != 0) bump(momentum_buffers);
}

void adam_step_(const TensorList& params, const TensorList& grads_in, const TensorList& exp_avgs,
                const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs, const TensorList& state_steps,
                double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
                bool decoupled_weight_decay) {
  const char* op = decoupled_weight_decay ? "adamw_step" : "adam_step";
  if (compile::recording())  // ember.compile replays the whole op: the step counts live on the host
    return compile::record_op(op, {params, grads_in, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps},
                              [=](const std::vector<TensorList>& l) {
                                adam_step_(l[0], l[1], l[2], l[3], l[4], l[5], lr, beta1, beta2, eps,
                                           weight_decay, amsgrad, maximize, decoupled_weight_decay);
                              });
  check_nonneg(lr, op, "learning rate");
  check_nonneg(eps, op, "epsilon");
  check_nonneg(weight_decay, op, "weight_decay");
  if (!(beta1 >= 0 && beta1 < 1)) EMBER_VALUE_ERROR(op, ": invalid beta parameter at index 0: ", beta1);
  if (!(beta2 >= 0 && beta2 < 1)) EMBER_VALUE_ERROR(op, ": invalid beta parameter at index 1: ", beta2);
  TensorList grads = check_params_grads(params, grads_in, op);
  check_list(params, exp_avgs, op, "exp_avgs");
  check_list(params, exp_avg_sqs, op, "exp_avg_sqs");
  if (amsgrad) check_list(params, max_exp_avg_sqs, op, "max_exp_avg_sqs");
  for (size_t i = 0; i < params.size(); ++i) {
    check_state(params[i], exp_avgs[i], i, op, "exp_avgs");
    check_state(params[i], exp_avg_sqs[i], i, op, "exp_avg_sqs");
    if (amsgrad) check_state(params[i], max_exp_avg_sqs[i], i, op, "max_exp_avg_sqs");
  }
  std::vector<double> steps = bump_steps(params, state_steps, op);
  if (params.empty()) return;
  kernel::adam_step(params[0].device())(
      params, grads, exp_avgs, exp_avg_sqs, amsgrad ? max_exp_avg_sqs : TensorList(params.size()), steps,
      AdamHyper{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay});
  bump(params);
  bump(exp_avgs);
  bump(exp_avg_sqs);
  if (amsgrad) bump(max_exp_avg_sqs);
}

void rmsprop_step_(const TensorList& params, const TensorList& grads_in, const TensorList& square_avgs,
                   const TensorList& grad_avgs, const TensorList& momentum_buffers, const TensorList& state_steps,
                   double lr, double alpha, double eps, double weight_decay, double momentum, bool centered,
                   bool maximize) {
  const char* op = "rmsprop_step";
  if (compile::recording())  // ember.compile replays the whole op: the step counts live on the host
    return compile::record_op(op, {params, grads_in, square_avgs, grad_avgs, momentum_buffers, state_steps},
                              [=](const std::vector<TensorList>& l) {
                                rmsprop_step_(l[0], l[1], l[2], l[3], l[4], l[5], lr, alpha, eps, weight_decay,
                                              momentum, centered, maximize);
                              });
  check_nonneg(lr, op, "learning rate");
  check_nonneg(eps, op, "epsilon");
  check_nonneg(momentum, op, "momentum");
  check_nonneg(weight_decay, op, "weight_decay");
  check_nonneg(alpha, op, "alpha");
  TensorList grads = check_params_grads(params, grads_in, op);
  check_list(params, square_avgs, op, "square_avgs");
  if (centered) check_list(params, grad_avgs, op, "grad_avgs");
  if (momentum > 0) check_list(params, momentum_buffers, op, "momentum_buffers");
  for (size_t i = 0; i < params.size(); ++i) {
    check_state(params[i], square_avgs[i], i, op, "square_avgs");
    if (centered) check_state(params[i], grad_avgs[i], i, op, "grad_avgs");
    if (momentum > 0) check_state(params[i], momentum_buffers[i], i, op, "momentum_buffers");
  }
  bump_steps(params, state_steps, op);
  if (params.empty()) return;
  TensorList none(params.size());
  kernel::rmsprop_step(params[0].device())(params, grads, square_avgs, centered ? grad_avgs : none,
                                           momentum > 0 ? momentum_buffers : none,
                                           RmspropHyper{lr, alpha, eps, weight_decay, momentum, centered, maximize});
  bump(params);
  bump(square_avgs);
  if (centered) bump(grad_avgs);
  if (momentum > 0) bump(momentum_buffers);
}

void adagrad_step_(const TensorList& params, const TensorList& grads_in, const TensorList& state_sums,
                   const TensorList& state_steps, double lr, double lr_decay, double weight_decay, double eps,
                   bool maximize) {
  const char* op = "adagrad_step";
  if (compile::recording())  // ember.compile replays the whole op: the step counts live on the host
    return compile::record_op(op, {params, grads_in, state_sums, state_steps}, [=](const std::vector<TensorList>& l) {
      adagrad_step_(l[0], l[1], l[2], l[3], lr, lr_decay, weight_decay, eps, maximize);
    });
  check_nonneg(lr, op, "learning rate");
  check_nonneg(lr_decay, op, "lr_decay");
  check_nonneg(eps, op, "epsilon");
  check_nonneg(weight_decay, op, "weight_decay");
  TensorList grads = check_params_grads(params, grads_in, op);
  check_list(params, state_sums, op, "state_sums");
  for (size_t i = 0; i < params.size(); ++i) check_state(params[i], state_sums[i], i, op, "state_sums");
  std::vector<double> steps = bump_steps(params, state_steps, op);
  if (params.empty()) return;
  kernel::adagrad_step(params[0].device())(params, grads, state_sums, steps,
                                           AdagradHyper{lr, lr_decay, weight_decay, eps, maximize});
  bump(params);
  bump(state_sums);
}

// Contiguous float views of the inputs (copies where needed: read only).
static TensorList readable(const TensorList& xs, const char* op) {
  TensorList out;
  out.reserve(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].defined()) EMBER_VALUE_ERROR(op, ": tensors[", i, "] is None");
    if (!is_floating(xs[i].dtype()))
      EMBER_TYPE_ERROR(op, ": tensors[", i, "] must be a floating point tensor, got ", dtype_name(xs[i].dtype()));
    out.push_back(xs[i].is_contiguous() ? xs[i] : contiguous(detach(xs[i])));
  }
  return out;
}

double multi_tensor_norm(const TensorList& xs, double p) {
  const char* op = "multi_tensor_norm";
  if (!(p > 0)) EMBER_VALUE_ERROR(op, ": norm_type must be positive, got ", p);
  TensorList ts = readable(xs, op);
  if (ts.empty()) return 0.0;
  double s = kernel::multi_tensor_norm(ts[0].device())(ts, p);
  if (std::isinf(p) || std::isnan(s)) return s;
  return p == 1 ? s : p == 2 ? std::sqrt(s) : std::pow(s, 1.0 / p);
}

// In-place on every tensor; a non-contiguous tensor is updated through a contiguous copy.
template <class F>
static void inplace_multi(const TensorList& xs, const char* op, F&& f) {
  TensorList ts;
  std::vector<size_t> copied;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].defined()) EMBER_VALUE_ERROR(op, ": tensors[", i, "] is None");
    if (!is_floating(xs[i].dtype()))
      EMBER_TYPE_ERROR(op, ": tensors[", i, "] must be a floating point tensor, got ", dtype_name(xs[i].dtype()));
    if (xs[i].is_contiguous()) {
      ts.push_back(xs[i]);
    } else {
      ts.push_back(contiguous(detach(xs[i])));
      copied.push_back(i);
    }
  }
  if (ts.empty()) return;
  f(ts);
  for (size_t i : copied) copy_kernel_call(xs[i], ts[i]);
  bump(xs);
}

void multi_tensor_scale_(const TensorList& xs, double scale) {
  inplace_multi(xs, "multi_tensor_scale_", [&](const TensorList& ts) {
    kernel::multi_tensor_scale(ts[0].device())(ts, scale);
  });
}

void multi_tensor_clamp_(const TensorList& xs, double lo, double hi) {
  inplace_multi(xs, "multi_tensor_clamp_", [&](const TensorList& ts) {
    kernel::multi_tensor_clamp(ts[0].device())(ts, lo, hi);
  });
}

}  // namespace ember
