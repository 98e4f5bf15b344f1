#pragma once
// CPU GEMM engine (BLIS-style): for b < batch,
//   C[b] = act(alpha * A[b] @ B[b] + beta * C[b] + bias)
// A [M, K] and B [K, N] may have any element strides (transposes and non-contiguous views are
// absorbed by packing); C has unit column stride. Inputs are f32, f64, f16 or bf16; C is f32 for
// f32/f16/bf16 inputs (the caller converts a 16-bit result) and f64 for f64.
//
// The engine is compiled once per ISA (cmake/isa.cmake builds gemm_impl.h into one namespace
// per ISA); gemm_run() picks the one for cpu_isa(). This header is plain data only:
// it is included by those translation units, so it must not define inline functions.
#include <cstdint>

#include "backend/cpu/isa.h"
#include "backend/params.h"  // GemmIn, GemmAct

namespace ember::cpu {

using ember::GemmAct;
using ember::GemmIn;

struct GemmDesc {
  GemmIn in = GemmIn::F32;  // dtype of A and B; C is double for F64, float otherwise
  int64_t batch = 1, m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t a_bs = 0, a_rs = 0, a_cs = 0;  // element strides: batch, row (m), column (k)
  const void* b = nullptr;
  int64_t b_bs = 0, b_rs = 0, b_cs = 0;  // batch, row (k), column (n)
  void* c = nullptr;
  int64_t c_bs = 0, c_rs = 0, c_cs = 1;  // batch, row, column (fastest with c_cs == 1)
  double alpha = 1, beta = 0;  // beta == 0: C is write-only (NaN in it is not propagated)
  const void* bias = nullptr;  // n values of C's type added to every row (stride 1), or null
  GemmAct act = GemmAct::None;
  // != 0 (with an act): C's value before the activation is also stored this many elements
  // after each C element (a buffer with C's strides; the backward of a fused bias+activation)
  int64_t pre_act = 0;
  int threads = 0;  // 0: the pool's size; 1: the calling thread only
};

// One entry point per compiled ISA (defined in gemm_impl.h).
EMBER_ISA_DECLARE(void gemm_run(const GemmDesc& d);)

// Runs on the engine compiled for `isa` (lowered to what this build and CPU have).
void gemm_run(const GemmDesc& d, Isa isa);
// Runs on the engine for cpu_isa().
void gemm_run(const GemmDesc& d);

}  // namespace ember::cpu
