// Metal launch code of the fused optimizer steps (metal/optim.metal): one dispatch per parameter
// tensor, scalars prepared in double as the CPU kernel does, then rounded to float.
#include <cmath>

#include "backend/kernels_optim.h"
#include "backend/metal/family_util.h"
#include "optim_params.h"

namespace ember::metal {
namespace {

const char* list_declines(const TensorList& params, const char* name) {
  for (const auto& t : params)
    if (!float_suffix(t.dtype()) || t.numel() >= (int64_t(1) << 31)) return name;
  return nullptr;
}

const char* sgd_declines(const TensorList& params, const TensorList&, const TensorList&,
                         const std::vector<bool>&, const SgdHyper&) {
  return list_declines(params, "sgd_step");
}

void sgd_metal(const TensorList& params, const TensorList& grads, const TensorList& bufs,
               const std::vector<bool>& fresh, const SgdHyper& h) {
  for (size_t t = 0; t < params.size(); ++t) {
    const Tensor& p = params[t];
    if (p.numel() == 0) continue;
    SgdParams s{};
    s.n = uint(p.numel());
    s.lr = float(h.lr), s.momentum = float(h.momentum), s.damp1 = float(1 - h.dampening);
    s.wd = float(h.weight_decay), s.sign = h.maximize ? -1.0f : 1.0f;
    s.has_wd = h.weight_decay != 0, s.has_momentum = h.momentum != 0;
    s.fresh = s.has_momentum && fresh[t], s.nesterov = h.nesterov;
    Dispatch(std::string("sgd_step_") + float_suffix(p.dtype()))
        .buffer(0, p.raw_data())
        .buffer(1, grads[t].raw_data())
        .buffer(2, s.has_momentum ? bufs[t].raw_data() : unused_binding(p))
        .value(3, s)
        .threadgroups({(s.n + 255) / 256, 1, 1}, {256, 1, 1});
  }
}

const char* adam_declines(const TensorList& params, const TensorList&, const TensorList&,
                          const TensorList&, const TensorList&, const std::vector<double>&,
                          const AdamHyper&) {
  return list_declines(params, "adam_step");
}

void adam_metal(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs,
                const std::vector<double>& steps, const AdamHyper& h) {
  for (size_t t = 0; t < params.size(); ++t) {
    const Tensor& p = params[t];
    if (p.numel() == 0) continue;
    const double bc1 = 1 - std::pow(h.beta1, steps[t]), bc2 = 1 - std::pow(h.beta2, steps[t]);
    AdamParams s{};
    s.n = uint(p.numel());
    s.sign = h.maximize ? -1.0f : 1.0f;
    s.decay = float(1 - h.lr * h.weight_decay), s.wd = float(h.weight_decay);
    s.beta1w = float(1 - h.beta1), s.beta2 = float(h.beta2), s.beta2w = float(1 - h.beta2);
    s.bc2_sqrt = float(std::sqrt(bc2)), s.eps = float(h.eps), s.step_size = float(-(h.lr / bc1));
    s.decoupled = h.weight_decay != 0 && h.decoupled_weight_decay;
    s.has_wd = h.weight_decay != 0 && !h.decoupled_weight_decay;
    s.amsgrad = h.amsgrad;
    Dispatch(std::string("adam_step_") + float_suffix(p.dtype()))
        .buffer(0, p.raw_data())
        .buffer(1, grads[t].raw_data())
        .buffer(2, exp_avgs[t].raw_data())
        .buffer(3, exp_avg_sqs[t].raw_data())
        .buffer(4, h.amsgrad ? max_exp_avg_sqs[t].raw_data() : unused_binding(p))
        .value(5, s)
        .threadgroups({(s.n + 255) / 256, 1, 1}, {256, 1, 1});
  }
}

}  // namespace

EMBER_REGISTER_KERNEL(sgd_step, Metal, sgd_metal);
EMBER_REGISTER_DECLINES(sgd_step, Metal, sgd_declines);
EMBER_REGISTER_KERNEL(adam_step, Metal, adam_metal);
EMBER_REGISTER_DECLINES(adam_step, Metal, adam_declines);

}  // namespace ember::metal
