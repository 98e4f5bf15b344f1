// index_params.h -- parameters of metal/index.metal, shared with csrc/backend/metal/index.cpp.
#pragma once

#if !defined(__METAL_VERSION__)
typedef unsigned int uint;  // MSL spelling, for the host and the emulator (same type as theirs)
#endif

#define EMBER_INDEX_MAX_DIMS 8

// An elementwise walk over `shape` with three strided operands: a (out / dst / offs), b (src /
// index) and c (index). Dims [0, npar) are walked by parallel threads, dims [npar, ndim) serially
// by each thread in row-major order (scatter: the dims along which writes may collide).
struct IndexParams {
  uint ndim, npar;
  uint par_count, ser_count;  // products of shape over the parallel / serial dims
  uint shape[EMBER_INDEX_MAX_DIMS];
  int sa[EMBER_INDEX_MAX_DIMS];
  int sb[EMBER_INDEX_MAX_DIMS];
  int sc[EMBER_INDEX_MAX_DIMS];
  int stride;            // elements per index step
  int size_lo, size_hi;  // checks: the indexed dim's size (int64 as two halves)
  uint add;              // offsets: accumulate into offs; scatter: accumulate into dst
  float alpha;           // scatter: dst += alpha * src
};
