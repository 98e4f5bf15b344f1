// scan.metal -- cumsum / cumprod along one dim of a contiguous [outer, n, inner] tensor, and flip.
// Scan: one threadgroup per line (outer x inner column). The line is walked in tiles of one element
// per thread: an inclusive scan per SIMD-group (shuffle-up steps), the SIMD-groups' totals scanned
// through threadgroup memory, then the carry of the earlier tiles added, so a line of any length
// takes one dispatch. Floats accumulate in float, integers in unsigned (wrapping like the CPU).
#include "ember_kernel.h"
#include "scan_params.h"

using namespace metal;

template <typename A>
static inline A scan_op(uint op, A a, A b) {
  return op == 0 ? A(a + b) : A(a * b);
}

// SIMD-group shuffles of 32-bit values; a 64-bit one moves as two halves (not every MSL version
// shuffles 64-bit integers)
static inline float shuffle_up(float v, ushort d) {
  return simd_shuffle_up(v, d);
}
static inline uint shuffle_up(uint v, ushort d) {
  return simd_shuffle_up(v, d);
}
static inline ulong shuffle_up(ulong v, ushort d) {
  const uint lo = simd_shuffle_up(uint(v), d), hi = simd_shuffle_up(uint(v >> 32), d);
  return (ulong(hi) << 32) | ulong(lo);
}

// inclusive scan of v over the SIMD-group (Hillis-Steele; every lane of the group is active)
template <typename A>
static inline A simd_inclusive_scan(uint op, A v, uint lane) {
  for (ushort d = 1; d < 32; d <<= 1) {
    A u = shuffle_up(v, d);
    if (lane >= d) {
      v = scan_op(op, u, v);
    }
  }
  return v;
}

template <typename T, typename A>
[[kernel]] void scan_lines(const device T* x [[buffer(0)]], device T* y [[buffer(1)]],
                           constant ScanParams& p [[buffer(2)]],
                           uint line [[threadgroup_position_in_grid]],
                           uint tid [[thread_index_in_threadgroup]],
                           uint ntg [[threads_per_threadgroup]],
                           uint lane [[thread_index_in_simdgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]],
                           uint nsg [[simdgroups_per_threadgroup]]) {
  EMBER_THREADGROUP(A, tg_tot, [32]);
  const A identity = p.op == 0 ? A(0) : A(1);
  const size_t base = size_t(line / p.inner) * p.n * p.inner + line % p.inner;
  A carry = identity;
  for (uint t0 = 0; t0 < p.n; t0 += ntg) {
    const uint i = t0 + tid;
    A v = i < p.n ? A(x[base + size_t(i) * p.inner]) : identity;
    v = simd_inclusive_scan(p.op, v, lane);
    if (lane == 31) {
      tg_tot[sg] = v;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    if (sg == 0) {
      A w = lane < nsg ? tg_tot[lane] : identity;
      w = simd_inclusive_scan(p.op, w, lane);
      if (lane < nsg) {
        tg_tot[lane] = w;
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    const A before = sg > 0 ? scan_op(p.op, carry, tg_tot[sg - 1]) : carry;
    if (i < p.n) {
      y[base + size_t(i) * p.inner] = T(scan_op(p.op, before, v));
    }
    carry = scan_op(p.op, carry, tg_tot[nsg - 1]);
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier: the next tile rewrites tg_tot
  }
}

EMBER_INSTANTIATE("scan_float32", scan_lines, float, float)
EMBER_INSTANTIATE("scan_float16", scan_lines, half, float)
EMBER_INSTANTIATE("scan_bfloat16", scan_lines, bfloat, float)
EMBER_INSTANTIATE("scan_int32", scan_lines, int, uint)
EMBER_INSTANTIATE("scan_int64", scan_lines, long, ulong)

// out (contiguous) = x read through strides that run backwards on the flipped dims; any dtype,
// moved as raw bytes of its size.
template <typename U>
[[kernel]] void flip_copy(const device U* x [[buffer(0)]], device U* out [[buffer(1)]],
                          constant FlipParams& p [[buffer(2)]],
                          uint gid [[thread_position_in_grid]]) {
  if (gid >= p.n) {
    return;
  }
  int off = p.base;
  uint r = gid;
  for (int d = int(p.ndim) - 1; d >= 0; --d) {
    off += int(r % p.shape[d]) * p.strides[d];
    r /= p.shape[d];
  }
  out[gid] = x[off];
}

EMBER_INSTANTIATE("flip_1", flip_copy, uchar)
EMBER_INSTANTIATE("flip_2", flip_copy, ushort)
EMBER_INSTANTIATE("flip_4", flip_copy, uint)
EMBER_INSTANTIATE("flip_8", flip_copy, ulong)
