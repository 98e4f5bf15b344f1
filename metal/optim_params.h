// optim_params.h -- parameters of metal/optim.metal, shared with csrc/backend/metal/optim.cpp.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

struct SgdParams {
  uint n;
  float lr, momentum, damp1, wd, sign;
  uint has_wd, has_momentum, fresh, nesterov;
};

struct AdamParams {
  uint n;
  float sign, decay, wd, beta1w, beta2, beta2w, bc2_sqrt, eps, step_size;
  uint decoupled, has_wd, amsgrad;
};
