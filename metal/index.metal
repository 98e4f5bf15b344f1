// index.metal -- the indexing family: bounds checks of int64 indices (the first offending element
// found with an atomic min, so the host reports the same element as the CPU), index -> offset
// conversion, gather (out[p] = src[p + index[p] * stride]) and scatter / scatter-add
// (dst[p + index[p] * stride] (+)= alpha * src[p]). Scatter threads own the non-colliding dims and
// walk the colliding ones serially in iteration order: last-write-wins and accumulation order are
// those of the CPU kernel (deterministic, no float atomics).
#include "ember_kernel.h"
#include "index_params.h"

using namespace metal;

static constant constexpr uint kNoError = 0xFFFFFFFFu;

// offsets of element e of dims [d0, d1) for the three operands
static inline void index_offsets3(uint e, uint d0, uint d1, constant IndexParams& p, thread long& a,
                                  thread long& b, thread long& c) {
  for (int d = int(d1) - 1; d >= int(d0); --d) {
    uint i = e % p.shape[d];
    e /= p.shape[d];
    a += long(i) * p.sa[d];
    b += long(i) * p.sb[d];
    c += long(i) * p.sc[d];
  }
}

static inline long index_size(constant IndexParams& p) {
  return long(p.size_hi) * 4294967296l + long(uint(p.size_lo));
}

// error[0] <- the first element (row-major) whose index is outside [lo, size)
[[kernel]] void index_check(const device long* index [[buffer(0)]],
                            device atomic_uint* error [[buffer(1)]],
                            constant IndexParams& p [[buffer(2)]],
                            uint e [[thread_position_in_grid]]) {
  if (e >= p.par_count) {
    return;
  }
  long a = 0, b = 0, c = 0;
  index_offsets3(e, 0, p.ndim, p, a, b, c);
  const long v = index[b], size = index_size(p);
  const long lo = p.add != 0 ? -size : 0;  // add: negative indices wrap (offsets); else [0, size)
  if (v < lo || v >= size) {
    atomic_fetch_min_explicit(error, e, memory_order_relaxed);
  }
}

// offs = (add ? offs : 0) + wrap(index) * stride; bad indices are left to index_check's report
[[kernel]] void index_to_offsets(device long* offs [[buffer(0)]],
                                 const device long* index [[buffer(1)]],
                                 device atomic_uint* error [[buffer(2)]],
                                 constant IndexParams& p [[buffer(3)]],
                                 uint e [[thread_position_in_grid]]) {
  if (e >= p.par_count) {
    return;
  }
  long a = 0, b = 0, c = 0;
  index_offsets3(e, 0, p.ndim, p, a, b, c);
  const long size = index_size(p);
  long v = index[b];
  if (v < -size || v >= size) {
    atomic_fetch_min_explicit(error, e, memory_order_relaxed);
    return;
  }
  if (v < 0) {
    v += size;
  }
  offs[a] = (p.add != 0 ? offs[a] : 0) + v * long(p.stride);
}

template <typename T>
[[kernel]] void index_gather(device T* out [[buffer(0)]], const device T* src [[buffer(1)]],
                             const device long* index [[buffer(2)]],
                             constant IndexParams& p [[buffer(3)]],
                             uint e [[thread_position_in_grid]]) {
  if (e >= p.par_count) {
    return;
  }
  long a = 0, b = 0, c = 0;
  index_offsets3(e, 0, p.ndim, p, a, b, c);
  out[a] = src[b + index[c] * long(p.stride)];
}

template <typename T>
[[kernel]] void index_scatter(device T* dst [[buffer(0)]], const device T* src [[buffer(1)]],
                              const device long* index [[buffer(2)]],
                              constant IndexParams& p [[buffer(3)]],
                              uint t [[thread_position_in_grid]]) {
  if (t >= p.par_count) {
    return;
  }
  long a0 = 0, b0 = 0, c0 = 0;
  index_offsets3(t, 0, p.npar, p, a0, b0, c0);
  for (uint s = 0; s < p.ser_count; ++s) {
    long a = a0, b = b0, c = c0;
    index_offsets3(s, p.npar, p.ndim, p, a, b, c);
    device T* d = dst + a + index[c] * long(p.stride);
    if (p.add != 0) {
      *d = T(float(*d) + p.alpha * float(src[b]));
    } else {
      *d = src[b];
    }
  }
}

// gathers move bytes: one instantiation per element size
EMBER_INSTANTIATE("index_gather_1", index_gather, uchar)
EMBER_INSTANTIATE("index_gather_2", index_gather, ushort)
EMBER_INSTANTIATE("index_gather_4", index_gather, uint)
EMBER_INSTANTIATE("index_gather_8", index_gather, ulong)
EMBER_INSTANTIATE("index_scatter_float32", index_scatter, float)
EMBER_INSTANTIATE("index_scatter_float16", index_scatter, half)
EMBER_INSTANTIATE("index_scatter_bfloat16", index_scatter, bfloat)
EMBER_EXPORT(index_check)
EMBER_EXPORT(index_to_offsets)
