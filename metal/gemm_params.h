// gemm_params.h -- parameters of metal/gemm.metal, shared with csrc/backend/metal/gemm.cpp.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

struct GemmParams {
  uint M, N, K, batch;
  int a_b, a_m, a_k;  // element strides of a [batch, M, K] (0 for a broadcast batch)
  int b_b, b_k, b_n;  // element strides of b [batch, K, N]
  int o_b, o_m;       // element strides of out [batch, M, N] (unit column stride)
  float alpha, beta;  // out = act(alpha * a @ b + beta * out + bias)
  uint has_bias;      // bias [N] added to every row
  uint act;           // GemmActivation: 0 none, 1 relu, 2 gelu (erf), 3 gelu (tanh)
};
