// optim.metal -- fused optimizer steps, one thread per element, in torch.optim's operation order
// (no fused multiply-add contraction assumed: the host compiles with -ffp-contract=off under the
// emulator; Apple's compiler is asked for precise math). Storage T, math in float.
#include "ember_kernel.h"
#include "optim_params.h"

using namespace metal;

template <typename T>
[[kernel]] void sgd_step(device T* param [[buffer(0)]], const device T* grad [[buffer(1)]],
                         device T* buf [[buffer(2)]], constant SgdParams& p [[buffer(3)]],
                         uint i [[thread_position_in_grid]]) {
  if (i >= p.n) {
    return;
  }
  float pi = float(param[i]);
  float gi = p.sign * float(grad[i]);
  if (p.has_wd != 0) {
    gi = gi + p.wd * pi;
  }
  if (p.has_momentum != 0) {
    float bi = p.fresh != 0 ? gi : float(buf[i]) * p.momentum + p.damp1 * gi;
    buf[i] = T(bi);
    gi = p.nesterov != 0 ? gi + p.momentum * bi : bi;
  }
  param[i] = T(pi + (-p.lr) * gi);
}

template <typename T>
[[kernel]] void adam_step(device T* param [[buffer(0)]], const device T* grad [[buffer(1)]],
                          device T* exp_avg [[buffer(2)]], device T* exp_avg_sq [[buffer(3)]],
                          device T* max_exp_avg_sq [[buffer(4)]],
                          constant AdamParams& p [[buffer(5)]],
                          uint i [[thread_position_in_grid]]) {
  if (i >= p.n) {
    return;
  }
  float pi = float(param[i]);
  float gi = p.sign * float(grad[i]);
  if (p.decoupled != 0) {
    pi = pi * p.decay;  // AdamW: decoupled decay first
  }
  if (p.has_wd != 0) {
    gi = gi + p.wd * pi;  // Adam: L2 term in the gradient
  }
  float m0 = float(exp_avg[i]);
  // torch.lerp's two forms (accuracy on each side of weight 0.5)
  float mi = p.beta1w < 0.5f ? m0 + p.beta1w * (gi - m0) : gi - (gi - m0) * (1.0f - p.beta1w);
  float vi = float(exp_avg_sq[i]) * p.beta2 + p.beta2w * gi * gi;
  exp_avg[i] = T(mi);
  exp_avg_sq[i] = T(vi);
  float vm = vi;
  if (p.amsgrad != 0) {
    float old = float(max_exp_avg_sq[i]);
    vm = old > vi ? old : vi;
    max_exp_avg_sq[i] = T(vm);
  }
  float denom = sqrt(vm) / p.bc2_sqrt + p.eps;
  param[i] = T(pi + p.step_size * mi / denom);
}

EMBER_INSTANTIATE("sgd_step_float32", sgd_step, float)
EMBER_INSTANTIATE("sgd_step_float16", sgd_step, half)
EMBER_INSTANTIATE("sgd_step_bfloat16", sgd_step, bfloat)
EMBER_INSTANTIATE("adam_step_float32", adam_step, float)
EMBER_INSTANTIATE("adam_step_float16", adam_step, half)
EMBER_INSTANTIATE("adam_step_bfloat16", adam_step, bfloat)
