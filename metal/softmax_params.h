// softmax_params.h -- parameters of metal/softmax.metal, shared with csrc/backend/metal/softmax.cpp.
#pragma once

struct SoftmaxParams {
  uint n;    // row length
  uint log;  // 1: log_softmax
};
