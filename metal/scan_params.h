// scan_params.h -- parameters of metal/scan.metal (cumsum / cumprod, flip), shared with
// csrc/backend/metal/scan.cpp. Plain 32-bit members only (same layout in MSL and C++).
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

#define EMBER_FLIP_MAX_DIMS 8

struct ScanParams {
  uint op;     // 0 sum, 1 prod
  uint n;      // scanned length
  uint inner;  // elements after the scanned dim (its stride); lines = outer * inner
};

struct FlipParams {
  uint n;     // elements of out (contiguous)
  uint ndim;  // dims of x
  uint shape[EMBER_FLIP_MAX_DIMS];
  int strides[EMBER_FLIP_MAX_DIMS];  // of x in elements, negated on flipped dims
  int base;                          // offset of out's element 0 in x (the flipped dims' ends)
};
