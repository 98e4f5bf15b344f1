// reduce.metal -- sum / prod / max / min / argmax / argmin / all / any of a strided tensor viewed
// as [outer..., reduced...]: one threadgroup reduces one chunk of one output's elements (strided
// reads, so rows, columns and whole tensors alike). With several chunks per output (long
// reductions) pass 1 writes float partials and reduce_combine folds them (pass 2).
// Values accumulate in float; indices are the first extreme (NaN counts as the extreme, as on CPU).
// Threadgroup size: a multiple of 32 (every lane active in the shuffles).
#include "ember_kernel.h"
#include "reduce_params.h"

using namespace metal;

static constant constexpr uint kNone = 0xFFFFFFFFu;  // "no element yet" index (identity of max/min)

static inline float reduce_identity(uint op) { return (op == 1 || op == 6) ? 1.0f : 0.0f; }

// (v, i) <- combine((v, i), (w, j)); deterministic: ties and NaNs go to the smaller index
static inline void reduce_combine_pair(uint op, thread float& v, thread uint& i, float w, uint j) {
  if (op == 0) {
    v = v + w;
  } else if (op == 1) {
    v = v * w;
  } else if (op == 6) {
    v = (v != 0.0f && w != 0.0f) ? 1.0f : 0.0f;
  } else if (op == 7) {
    v = (v != 0.0f || w != 0.0f) ? 1.0f : 0.0f;
  } else {
    bool is_max = op == 2 || op == 4;
    bool take;
    if (j == kNone) {
      take = false;
    } else if (i == kNone) {
      take = true;
    } else if (isnan(v)) {
      take = isnan(w) && j < i;
    } else if (isnan(w)) {
      take = true;
    } else if (w == v) {
      take = j < i;
    } else {
      take = is_max ? w > v : w < v;
    }
    if (take) {
      v = w;
      i = j;
    }
  }
}

// offset of element e (row-major over the given dims) for a strided view
static inline long reduce_offset(uint e, uint nd, constant uint* shape, constant int* stride) {
  long off = 0;
  for (int d = int(nd) - 1; d >= 0; --d) {
    off += long(e % shape[d]) * long(stride[d]);
    e /= shape[d];
  }
  return off;
}

// the threadgroup's (v, i) into lane 0 of SIMD-group 0
static inline void reduce_threadgroup(uint op, thread float& v, thread uint& i,
                                      threadgroup float* tg_v, threadgroup uint* tg_i, uint lane,
                                      uint sg, uint nsg) {
  for (ushort off = 16; off > 0; off /= 2) {
    float w = simd_shuffle_down(v, off);
    uint j = simd_shuffle_down(i, off);
    reduce_combine_pair(op, v, i, w, j);
  }
  if (lane == 0) {
    tg_v[sg] = v;
    tg_i[sg] = i;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  if (sg == 0) {
    v = lane < nsg ? tg_v[lane] : reduce_identity(op);
    i = lane < nsg ? tg_i[lane] : kNone;
    for (ushort off = 16; off > 0; off /= 2) {
      float w = simd_shuffle_down(v, off);
      uint j = simd_shuffle_down(i, off);
      reduce_combine_pair(op, v, i, w, j);
    }
  }
}

template <typename T>
static inline void reduce_write(constant ReduceParams& p, uint row, float v, uint i, device T* out,
                                device long* idx) {
  if (p.want_out != 0) {
    out[row] = T(v);
  }
  if (p.want_idx != 0) {
    idx[row] = long(i);
  }
}

template <typename T>
[[kernel]] void reduce_strided(
    const device T* x [[buffer(0)]], device T* out [[buffer(1)]], device long* idx [[buffer(2)]],
    device float* part_v [[buffer(3)]], device uint* part_i [[buffer(4)]],
    constant ReduceParams& p [[buffer(5)]], uint2 group [[threadgroup_position_in_grid]],
    uint tid [[thread_index_in_threadgroup]], uint ntg [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint sg [[simdgroup_index_in_threadgroup]],
    uint nsg [[simdgroups_per_threadgroup]]) {
  EMBER_THREADGROUP(float, tg_v, [32]);
  EMBER_THREADGROUP(uint, tg_i, [32]);
  const uint row = group.y, c = group.x;
  const long base = reduce_offset(row, p.nouter, p.oshape, p.ostride);
  const uint begin = c * p.chunk, end = min(begin + p.chunk, p.count);
  float v = reduce_identity(p.op);
  uint i = kNone;
  for (uint e = begin + tid; e < end; e += ntg) {
    float w = float(x[base + reduce_offset(e, p.nred, p.rshape, p.rstride)]);
    reduce_combine_pair(p.op, v, i, w, e);
  }
  reduce_threadgroup(p.op, v, i, tg_v, tg_i, lane, sg, nsg);
  if (tid == 0) {
    if (p.nchunks > 1) {
      part_v[row * p.nchunks + c] = v;
      part_i[row * p.nchunks + c] = i;
    } else {
      reduce_write(p, row, v, i, out, idx);
    }
  }
}

// pass 2: fold the nchunks partials of each output (one threadgroup per output)
template <typename T>
[[kernel]] void reduce_partials(
    const device float* part_v [[buffer(0)]], const device uint* part_i [[buffer(1)]],
    device T* out [[buffer(2)]], device long* idx [[buffer(3)]],
    constant ReduceParams& p [[buffer(4)]], uint row [[threadgroup_position_in_grid]],
    uint tid [[thread_index_in_threadgroup]], uint ntg [[threads_per_threadgroup]],
    uint lane [[thread_index_in_simdgroup]], uint sg [[simdgroup_index_in_threadgroup]],
    uint nsg [[simdgroups_per_threadgroup]]) {
  EMBER_THREADGROUP(float, tg_v, [32]);
  EMBER_THREADGROUP(uint, tg_i, [32]);
  float v = reduce_identity(p.op);
  uint i = kNone;
  for (uint c = tid; c < p.nchunks; c += ntg) {
    reduce_combine_pair(p.op, v, i, part_v[row * p.nchunks + c], part_i[row * p.nchunks + c]);
  }
  reduce_threadgroup(p.op, v, i, tg_v, tg_i, lane, sg, nsg);
  if (tid == 0) {
    reduce_write(p, row, v, i, out, idx);
  }
}

EMBER_INSTANTIATE("reduce_strided_float32", reduce_strided, float)
EMBER_INSTANTIATE("reduce_strided_float16", reduce_strided, half)
EMBER_INSTANTIATE("reduce_strided_bfloat16", reduce_strided, bfloat)
EMBER_INSTANTIATE("reduce_strided_bool", reduce_strided, uchar)
EMBER_INSTANTIATE("reduce_partials_float32", reduce_partials, float)
EMBER_INSTANTIATE("reduce_partials_float16", reduce_partials, half)
EMBER_INSTANTIATE("reduce_partials_bfloat16", reduce_partials, bfloat)
EMBER_INSTANTIATE("reduce_partials_bool", reduce_partials, uchar)
