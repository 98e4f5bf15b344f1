// conv_params.h -- parameters of metal/conv.metal, shared with csrc/backend/metal/conv.cpp.
// The geometry of ember's ConvGeom (csrc/backend/cpu/conv.h) in 32-bit members.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

struct ConvParams {
  uint N, C, H, W;  // input
  uint K, kh, kw;   // output channels, kernel size
  uint sh, sw, ph, pw, dh, dw;
  uint groups;
  uint Ho, Wo;
  uint has_bias;
};
