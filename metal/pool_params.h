// pool_params.h -- parameters of metal/pool.metal, shared with csrc/backend/metal/pool.cpp.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

// Window tables (int32, one buffer): begin_h[OH], count_h[OH], div_h[OH], begin_w[OW], count_w[OW],
// div_w[OW] -- window o of an axis reads count[o] taps begin[o] + t * step.
struct PoolParams {
  uint P, H, W, OH, OW;
  uint step_h, step_w;
  int divisor_override;  // avg: divide by this when > 0, else div_h * div_w
  uint L, S;             // gather / scatter: indices per plane, elements per plane
};
