// reduce_params.h -- parameters of metal/reduce.metal, shared with csrc/backend/metal/reduce.cpp.
// Plain 32-bit members only (same layout in MSL and C++).
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

#define EMBER_REDUCE_MAX_DIMS 8

struct ReduceParams {
  uint op;        // ReduceOp: 0 sum, 1 prod, 2 max, 3 min, 4 argmax, 5 argmin, 6 all, 7 any
  uint rows;      // outputs
  uint count;     // elements reduced per output
  uint chunk;     // elements per threadgroup (pass 1); count when there is one pass
  uint nchunks;   // threadgroups per output; > 1 writes partials for reduce_combine
  uint want_out;  // write the value to out
  uint want_idx;  // write the index to idx
  uint nouter;    // kept dims
  uint nred;      // reduced dims
  uint oshape[EMBER_REDUCE_MAX_DIMS];
  int ostride[EMBER_REDUCE_MAX_DIMS];
  uint rshape[EMBER_REDUCE_MAX_DIMS];
  int rstride[EMBER_REDUCE_MAX_DIMS];
};
