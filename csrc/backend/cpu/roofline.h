#pragma once
// The machine's limits, measured by ember's own small kernels (bench/py/roofline.py): the FMA
// peak (a register-only loop of independent FMA chains on every thread of the pool) and the
// memory bandwidth (a STREAM triad over arrays far larger than the caches).
#include <cstdint>

namespace ember::cpu {

enum class PeakKind { F32, BF16 };

// Best GFLOP/s of `reps` timed runs of the FMA loop on `threads` threads (0: the pool's size);
// an FMA counts two flops, a bf16 pair dot product (VDPBF16PS) four. Returns a negative value
// when this CPU has no such instruction (bf16 dot products need AVX512_BF16).
double fma_peak_gflops(PeakKind kind, int threads, int reps);
// The ISA the FMA loop of `kind` runs on ("avx512", "avx2", "avx512_bf16", "portable"), or
// nullptr when unavailable.
const char* fma_peak_isa(PeakKind kind);

// Best GB/s of `reps` runs of a[i] = b[i] + s * c[i] over n floats per array, counting 12 bytes
// per element (STREAM's convention: the write-allocate read of a is not counted).
double triad_gbs(int64_t n, int threads, int reps);

}  // namespace ember::cpu
