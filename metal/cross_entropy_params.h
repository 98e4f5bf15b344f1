// cross_entropy_params.h -- parameters of metal/cross_entropy.metal, shared with
// csrc/backend/metal/cross_entropy.cpp.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

struct CrossEntropyParams {
  uint rows, V;
  int ignore_lo, ignore_hi;  // ignore_index as two 32-bit halves (int64 in MSL would need long)
  float ls;                  // label smoothing
  float wsum;                // sum of the class weights (V without weights)
  uint has_weight;
};
