#pragma once
// Kernel slots of the fused cross entropy (ops/loss.cpp).
#include "backend/registry.h"
#include "core/tensor.h"

namespace ember::kernel {

// Per-row cross entropy of logits z [R, V] (contiguous, f32 or f64) at class indices target [R]
// (int64, checked in range or == ignore_index), with optional class weights w [V] (z's dtype)
// and label smoothing ls:
//   loss[r] = (1 - ls) * w[t] * (lse - z[t]) + ls / V * sum_c w[c] * (lse - z[c]);  0 if ignored.
// lse [R] (log-sum-exp of each row) is saved for the backward.
using CrossEntropyFn = void (*)(const Tensor& loss, const Tensor& lse, const Tensor& z, const Tensor& target,
                                const Tensor& weight, int64_t ignore_index, double label_smoothing);
// grad [R, V] = gs[r] * d loss[r] / d z[r, :] from the saved lse (softmax recomputed in one pass).
using CrossEntropyBackwardFn = void (*)(const Tensor& grad, const Tensor& gs, const Tensor& z, const Tensor& target,
                                        const Tensor& weight, const Tensor& lse, int64_t ignore_index,
                                        double label_smoothing);

inline KernelSlot<CrossEntropyFn> cross_entropy{"cross_entropy"};
inline KernelSlot<CrossEntropyBackwardFn> cross_entropy_backward{"cross_entropy_backward"};

}  // namespace ember::kernel
