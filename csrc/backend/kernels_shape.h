#pragma once
// Kernels of the shape family (ops/shape.cpp). Ops have checked arguments and allocated `out`
// (contiguous, same dtype as x unless said otherwise); x may have any strides.
#include <vector>

#include "backend/registry.h"
#include "core/tensor.h"

namespace ember::kernel {

// out = x with every dim d where flips[d] is true reversed.
using FlipFn = void (*)(const Tensor& out, const Tensor& x, const std::vector<bool>& flips);
// x: [..., R, C]. Keeps x[..., i, j] where j - i <= k (lower) or j - i >= k (upper), else 0.
using TriFn = void (*)(const Tensor& out, const Tensor& x, int64_t k, bool lower);
// out: int64 [numel(idx), num_classes]; idx: contiguous int64, already validated in range.
using OneHotFn = void (*)(const Tensor& out, const Tensor& idx, int64_t num_classes);

inline KernelSlot<FlipFn> flip{"flip"};
inline KernelSlot<TriFn> tri{"tri"};
inline KernelSlot<OneHotFn> one_hot{"one_hot"};

}  // namespace ember::kernel
