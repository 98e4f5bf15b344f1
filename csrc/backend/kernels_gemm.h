#pragma once
// The GEMM kernel slot: a batched matrix product with a fused epilogue, used by matmul, addmm,
// baddbmm and linear (ops/matmul.cpp). The CPU engine is csrc/backend/cpu/gemm*.
#include "backend/kernels.h"

namespace ember {

// Activation applied to the finished output tile (nn.Linear + activation fusions).
enum class GemmActivation : uint8_t { None, Relu, Gelu, GeluTanh };

namespace kernel {

struct GemmEpilogue {
  double alpha = 1, beta = 0;  // beta == 0: out is not read (NaN/inf in it do not propagate)
  Tensor bias;                 // undefined, or 1-D [N] of out's dtype added to every row
  GemmActivation act = GemmActivation::None;
  Tensor pre;  // undefined, or float32 with out's shape and strides: receives the value before act
};

// out[b] = act(alpha * a[b] @ b[b] + beta * out[b] + bias) for 3-D a [B, M, K] and b [B, K, N]
// with any strides (stride 0 for broadcast batches included); out [B, M, N] of the same floating
// dtype, contiguous rows (unit column stride) and not overlapping a or b.
using GemmFn = void (*)(const Tensor& out, const Tensor& a, const Tensor& b, const GemmEpilogue& e);

inline KernelSlot<GemmFn> gemm{"gemm"};

}  // namespace kernel
}  // namespace ember
