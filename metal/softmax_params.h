// softmax_params.h -- parameters of metal/softmax.metal, shared with
// csrc/backend/metal/softmax.cpp.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

struct SoftmaxParams {
  uint n;    // row length
  uint log;  // 1: log_softmax
};
