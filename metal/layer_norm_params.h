// layer_norm_params.h -- parameters of metal/layer_norm.metal, shared with
// csrc/backend/metal/layer_norm.cpp.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

struct LayerNormParams {
  uint rows, n;
  float eps;
  uint rms;         // 1: rms_norm (no mean, no bias)
  uint has_weight;  // weight [n] bound
  uint has_bias;
  uint want_gx;  // backward: which gradients to write
  uint want_gw;
  uint want_gb;
};
