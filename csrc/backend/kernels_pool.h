#pragma once
// Kernel slots of the pooling family (max/avg/adaptive pools and their backward passes).
// Every pool is 2-D here: 1-D pools are planes of height 1. The op layer (ops/pool.cpp) turns
// kernel/stride/padding/dilation or an adaptive output size into a window table per axis, so
// one kernel serves the regular and the adaptive pools.
#include <vector>

#include "backend/registry.h"
#include "core/tensor.h"

namespace ember {

// The windows along one axis: window o reads count[o] in-bounds taps begin[o] + i * step.
struct PoolAxis {
  int64_t in = 1, out = 1, step = 1;  // input size, output size, tap spacing (dilation)
  std::vector<int64_t> begin, count;
  std::vector<int64_t> div;  // avg pools: this axis' factor of each window's divisor
  // regular (non-adaptive) axes: window o starts at o * stride - pad and has `taps` taps;
  // the windows [full_lo, full_hi) lie wholly inside the input (adaptive axes: all 0)
  int64_t stride = 0, taps = 0, pad = 0, full_lo = 0, full_hi = 0;
};

struct PoolPlan {
  PoolAxis h, w;
  // the vectorized paths: 2 = every window a full 2x2 at stride 2; 1 = 1-D (height-1 planes)
  // with every window 2 wide at stride 2; 0 = the generic loops
  int k2s2 = 0;
  int64_t divisor_override = 0;  // avg pools: divide by this instead of div_h * div_w (0: unset)
};

namespace kernel {

// x: contiguous [P, H, W] planes; out (and idx, int64) contiguous [P, OH, OW]. Dtypes f32, f64,
// and as PyTorch: max also i32, i64, u8; avg (forward) also i64, truncating like C++ division. Max pools keep the first maximum in scan order and propagate NaN (the last NaN);
// idx is the flat offset h * W + w of the maximum inside its plane (undefined idx: not written).
using MaxPoolFn = void (*)(const Tensor& out, const Tensor& idx, const Tensor& x, const PoolPlan& p);
using AvgPoolFn = void (*)(const Tensor& out, const Tensor& x, const PoolPlan& p);
// gx: contiguous [P, H, W], fully written; g: contiguous [P, OH, OW].
using AvgPoolBackwardFn = void (*)(const Tensor& gx, const Tensor& g, const PoolPlan& p);
// Plane-wise indexing with max-pool indices; x / gx: contiguous [P, S]; idx, g, out: contiguous
// [P, L]. gather: out[p, i] = x[p, idx[p, i]]; scatter: gx = 0, then gx[p, idx[p, i]] += g[p, i].
// Indices outside [0, S) (a window with no tap inside the input) read 0 and write nothing.
using PoolGatherFn = void (*)(const Tensor& out, const Tensor& x, const Tensor& idx);
using PoolScatterFn = void (*)(const Tensor& gx, const Tensor& g, const Tensor& idx);
// max_unpool: out = 0, then out[p, idx[p, i]] = x[p, i] (assignment: the last write wins).
// Returns false, with one offending index in `bad`, when an index lies outside [0, S).
using PoolUnpoolFn = bool (*)(const Tensor& out, const Tensor& x, const Tensor& idx, int64_t& bad);

inline KernelSlot<MaxPoolFn> max_pool{"max_pool"};
inline KernelSlot<AvgPoolFn> avg_pool{"avg_pool"};
inline KernelSlot<AvgPoolBackwardFn> avg_pool_backward{"avg_pool_backward"};
inline KernelSlot<PoolGatherFn> pool_gather{"pool_gather"};
inline KernelSlot<PoolScatterFn> pool_scatter{"pool_scatter"};
inline KernelSlot<PoolUnpoolFn> pool_unpool{"pool_unpool"};

}  // namespace kernel
}  // namespace ember
