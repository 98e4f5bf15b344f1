// sort.metal -- sort / argsort / topk along the last dim of strided views, one threadgroup per
// row: the row's (key, index) pairs sit in threadgroup memory, padded to a power of two, and a
// bitonic network sorts them. Order as the CPU kernel: NaN is the largest key, equal keys keep
// their index order (stable, also descending); pad entries go last. Rows longer than
// EMBER_SORT_MAX_ROW run on the CPU (declined by the host).
#include "ember_kernel.h"
#include "sort_params.h"

using namespace metal;

// a < b with NaN above everything (NaN == NaN); 16-bit floats compare as float
static inline bool key_less(float a, float b) {
  return !isnan(a) && (isnan(b) || a < b);
}
static inline bool key_less(int a, int b) {
  return a < b;
}
static inline bool key_less(long a, long b) {
  return a < b;
}

// true when entry (ka, ia) goes before (kb, ib) in the result; index n marks a pad entry
template <typename K>
static inline bool goes_before(K ka, uint ia, K kb, uint ib, uint n, bool desc) {
  if (ia >= n || ib >= n) {
    return ib >= n && ia < n;
  }
  if (desc ? key_less(kb, ka) : key_less(ka, kb)) {
    return true;
  }
  if (desc ? key_less(ka, kb) : key_less(kb, ka)) {
    return false;
  }
  return ia < ib;
}

template <typename T, typename K>
[[kernel]] void sort_rows(const device T* x [[buffer(0)]], device T* values [[buffer(1)]],
                          device long* indices [[buffer(2)]], constant SortParams& p [[buffer(3)]],
                          uint row [[threadgroup_position_in_grid]],
                          uint tid [[thread_index_in_threadgroup]],
                          uint ntg [[threads_per_threadgroup]]) {
  EMBER_THREADGROUP(K, keys, [EMBER_SORT_MAX_ROW]);
  EMBER_THREADGROUP(uint, idx, [EMBER_SORT_MAX_ROW]);
  int xo = 0, vo = 0, io = 0;
  uint r = row;
  for (int d = int(p.nouter) - 1; d >= 0; --d) {
    const int c = int(r % p.shape[d]);
    r /= p.shape[d];
    xo += c * p.xs[d];
    vo += c * p.vs[d];
    io += c * p.is[d];
  }
  const bool desc = p.desc != 0;
  for (uint i = tid; i < p.pow2; i += ntg) {
    keys[i] = i < p.n ? K(x[xo + int(i) * p.x_last]) : K(0);
    idx[i] = i < p.n ? i : p.n;  // every pad entry is index n
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  for (uint size = 2; size <= p.pow2; size <<= 1) {
    for (uint stride = size >> 1; stride > 0; stride >>= 1) {
      for (uint t = tid; t < p.pow2 / 2; t += ntg) {
        const uint a = 2 * stride * (t / stride) + t % stride, b = a + stride;
        const bool up = (a & size) == 0;  // this block sorts in result order
        const K ka = keys[a], kb = keys[b];
        const uint ia = idx[a], ib = idx[b];
        if (up == goes_before(kb, ib, ka, ia, p.n, desc)) {
          keys[a] = kb;
          keys[b] = ka;
          idx[a] = ib;
          idx[b] = ia;
        }
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    }
  }
  for (uint j = tid; j < p.k; j += ntg) {
    const uint src = idx[j];
    values[vo + int(j) * p.v_last] = x[xo + int(src) * p.x_last];  // the stored value (-0.0, NaN)
    indices[io + int(j) * p.i_last] = long(src);
  }
}

EMBER_INSTANTIATE("sort_float32", sort_rows, float, float)
EMBER_INSTANTIATE("sort_float16", sort_rows, half, float)
EMBER_INSTANTIATE("sort_bfloat16", sort_rows, bfloat, float)
EMBER_INSTANTIATE("sort_int32", sort_rows, int, int)
EMBER_INSTANTIATE("sort_int64", sort_rows, long, long)
