#pragma once
// Activation backward kernels that eager autograd and compiled graphs share (one pass instead of
// a chain of elementwise ops). The CPU engine is csrc/backend/cpu/act.cpp.
#include "backend/kernels.h"

namespace ember::kernel {

// grad_input = grad_output * gelu'(x), exact (erf) or tanh-approximated gelu. The three tensors
// have one shape and one floating dtype and are contiguous.
using GeluBackwardFn = void (*)(const Tensor& grad_input, const Tensor& grad_output,
                                const Tensor& x, bool tanh);

inline KernelSlot<GeluBackwardFn> gelu_backward{"gelu_backward"};

// grad_input = grad_output * silu'(x); the same layout contract as gelu_backward.
using SiluBackwardFn = void (*)(const Tensor& grad_input, const Tensor& grad_output,
                                const Tensor& x);

inline KernelSlot<SiluBackwardFn> silu_backward{"silu_backward"};

}  // namespace ember::kernel
