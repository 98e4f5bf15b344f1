// sort_params.h -- parameters of metal/sort.metal, shared with csrc/backend/metal/sort.cpp.
// Plain 32-bit members only (same layout in MSL and C++).
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

#define EMBER_SORT_MAX_DIMS 8
#define EMBER_SORT_MAX_ROW 2048  // longest row sorted in threadgroup memory (8-byte keys: 24 KiB)

struct SortParams {
  uint n;       // row length
  uint k;       // entries written per row (k <= n)
  uint pow2;    // n rounded up to a power of two (the bitonic network's size)
  uint desc;    // 1: descending
  uint nouter;  // dims before the sorted (last) one
  uint shape[EMBER_SORT_MAX_DIMS];  // of those dims
  int xs[EMBER_SORT_MAX_DIMS];      // their strides in x, values, indices (elements)
  int vs[EMBER_SORT_MAX_DIMS];
  int is[EMBER_SORT_MAX_DIMS];
  int x_last, v_last, i_last;  // strides along the sorted dim
};
