#pragma once
// Kernel slots of fused activation backwards (ops/activation.cpp): one pass instead of the
// half-dozen elementwise ops of the formula. Every tensor is contiguous, one floating dtype.
#include "backend/registry.h"
#include "core/tensor.h"

namespace ember::kernel {

// gx = g * gelu'(x); tanh_approx picks the tanh approximation's derivative.
using GeluBackwardFn = void (*)(const Tensor& gx, const Tensor& g, const Tensor& x,
                                bool tanh_approx);

inline KernelSlot<GeluBackwardFn> gelu_backward{"gelu_backward"};

}  // namespace ember::kernel
