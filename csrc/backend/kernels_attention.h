#pragma once
// Kernel slots of fused attention (ops/attention.cpp) and the counter-based dropout draw it
// shares with the composite (double backward) formula.
#include <cstdint>

#include "backend/registry.h"
#include "core/tensor.h"

namespace ember {

struct AttentionParams {
  int64_t N = 0, H = 0, Hk = 0;  // batch, query heads, key/value heads (H % Hk == 0)
  int64_t L = 0, S = 0, E = 0, Ev = 0;  // query length, key length, qk head dim, v head dim
  double scale = 1, dropout_p = 0;
  uint64_t seed = 0;  // dropout draws are a hash of (seed, head, row, column): no mask is stored
  bool causal = false;  // query i attends keys j <= i (top-left aligned, like PyTorch)
};

// 32 random bits for the dropout of score (bh, i, j); kept iff the bits >= threshold.
inline uint32_t attention_row_hash(uint64_t seed, uint64_t row) {
  uint64_t z = seed + (row + 1) * 0x9E3779B97F4A7C15ull;  // splitmix64 finalizer
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return uint32_t(z ^ (z >> 31));
}
inline uint32_t attention_col_hash(uint32_t row_hash, uint32_t j) {
  uint32_t h = row_hash ^ (j * 0x9E3779B9u);  // 32-bit mixes: vectorizes without 64-bit multiplies
  h = (h ^ (h >> 16)) * 0x7FEB352Du;
  h = (h ^ (h >> 15)) * 0x846CA68Bu;
  return h ^ (h >> 16);
}
inline uint32_t attention_dropout_threshold(double p) {
  return p >= 1 ? 0xFFFFFFFFu : uint32_t(p * 4294967296.0);
}

namespace kernel {

// Flash attention forward: q [N, H, L, E], k [N, Hk, S, E], v [N, Hk, S, Ev] (any strides, unit
// last stride), mask: an additive [N, H, L, S] view (any strides, 0 for broadcast dims) or
// undefined; all f32 or all f64. out [N, H, L, Ev] and lse [N, H, L] (log-sum-exp of each
// score row; +inf for a row with nothing to attend, whose output is 0) are contiguous.
using AttentionFwdFn = void (*)(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                const Tensor& v, const Tensor& mask, const AttentionParams& p);
// Its backward from the saved lse (tiles recomputed): g and out [N, H, L, Ev] contiguous; dq, dk,
// dv contiguous, overwritten.
using AttentionBwdFn = void (*)(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& g,
                                const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                const Tensor& lse, const Tensor& mask, const AttentionParams& p);

inline KernelSlot<AttentionFwdFn> attention_forward{"scaled_dot_product_attention"};
inline KernelSlot<AttentionBwdFn> attention_backward{"scaled_dot_product_attention_backward"};

}  // namespace kernel
}  // namespace ember
