// Pooling plane loops, compiled once per ISA: cmake/isa.cmake defines EMBER_ISA_NS and includes
// this file. Everything has internal linkage and no inline function of a shared header (std
// containers, std::max) is called, so copies built with different flags are never merged.
//
// Max keeps PyTorch's rule: a tap wins when it is larger than the running max or NaN, so the
// first maximum (or the last NaN) in scan order is kept. The branch-free select chains of the
// 2x2 / stride-2 paths vectorize (floats and their int64 indices side by side on AVX2/AVX-512).
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backend/cpu/pool_table.h"
#include "backend/cpu/simd.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including pool_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
namespace {

// max/select loops at the ISA's width; SSE2 has no blend for float + int64 lanes, so the
// portable build runs them as scalar loops (0)
constexpr int64_t kVecBytes = kNativeVecBytes >= 32 ? kNativeVecBytes : 0;
// whole-plane reductions use simd.h's streaming width (32 bytes measured faster than 64 here)
constexpr int64_t kSumBytes = kStreamVecBytes;

// v wins over the running max m (NaN always wins)
template <class T>
inline bool takes(T v, T m) {
  return v > m || v != v;
}

// The scalar form of a max step: `v > m` selects compile to maxss + cmov, not to branches
// (maxima of random data would mispredict); NaN is only noted, and a window that saw one is
// scanned again with `takes`, so the result is the same.
template <class T>
inline void step(T v, int64_t at, T& m, int64_t& mi, bool& nan) {
  const bool t = v > m;
  mi = t ? at : mi;
  m = t ? v : m;
  nan |= v != v;
}

// Windows of 2 taps at stride 2 along rows r0 (and r1 for 2x2), n outputs: out[ow] and the
// flat index base + 2 * ow + (0, 1, W or W + 1) of its maximum. Branch-free selects, so the
// loop vectorizes.
template <class T, bool Idx, bool TwoRows>
inline void max_pairs_run(T* __restrict o, int64_t* __restrict io, const T* __restrict r0, const T* __restrict r1,
                          int64_t W, int64_t base, int64_t n) {
  for (int64_t ow = 0; ow < n; ++ow) {
    T m = r0[2 * ow];
    int64_t k = 0;
    T v = r0[2 * ow + 1];
    bool t = takes(v, m);
    m = t ? v : m;
    k = t ? 1 : k;
    if constexpr (TwoRows) {
      v = r1[2 * ow];
      t = takes(v, m);
      m = t ? v : m;
      k = t ? W : k;
      v = r1[2 * ow + 1];
      t = takes(v, m);
      m = t ? v : m;
      k = t ? W + 1 : k;
    }
    o[ow] = m;
    if constexpr (Idx) io[ow] = base + 2 * ow + k;
  }
}

// A row of 2-wide windows. The part that is not a whole number of vectors (all of a row of 7
// or 14 outputs) runs on the vector loop through a vector-sized stack buffer: its scalar
// version would turn the selects into mispredicting branches.
template <class T, bool Idx, bool TwoRows>
void max_pairs(T* __restrict o, int64_t* __restrict io, const T* __restrict r0, const T* __restrict r1, int64_t W,
               int64_t base, int64_t OW) {
  constexpr int64_t V = kVecBytes ? kVecBytes / int64_t(sizeof(T)) : 4;
  const int64_t nv = OW - OW % V;
  max_pairs_run<T, Idx, TwoRows>(o, io, r0, r1, W, base, nv);
  if (nv == OW) return;
  const int64_t n = OW - nv;
  T om[V], a[2 * V], b[2 * V];
  int64_t oi[V];
  for (int64_t j = 0; j < 2 * V; ++j) {
    a[j] = j < 2 * n ? r0[2 * nv + j] : T(0);
    b[j] = TwoRows && j < 2 * n ? r1[2 * nv + j] : T(0);
  }
  max_pairs_run<T, Idx, TwoRows>(om, oi, a, b, W, base + 2 * nv, V);
  for (int64_t j = 0; j < n; ++j) {
    o[nv + j] = om[j];
    if constexpr (Idx) io[nv + j] = oi[j];
  }
}

// The smallest value of T: the running max before the first tap
template <class T>
constexpr T lowest() {
  if constexpr (T(0.5) != T(0)) return -__builtin_huge_val();  // floating
  else if constexpr (T(-1) < T(0)) return T(T(1) << (8 * sizeof(T) - 1));  // signed: -2^(bits-1)
  else return T(0);
}

// One window with taps (hb + i * hstep, wb + j * wstep), i < hn, j < wn, scalar.
template <class T>
inline void max_window(const T* __restrict x, int64_t W, int64_t hb, int64_t hn, int64_t hstep, int64_t wb,
                       int64_t wn, int64_t wstep, T& out, int64_t& out_i) {
  T m = lowest<T>();
  int64_t mi = hb * W + wb;  // PyTorch's index when no tap beats the initial value
  bool nan = false;
  for (int64_t i = 0; i < hn; ++i) {
    const int64_t row = (hb + i * hstep) * W + wb;
    for (int64_t j = 0; j < wn; ++j) step(x[row + j * wstep], row + j * wstep, m, mi, nan);
  }
  if (nan) {  // rare: rescan with NaN winning
    m = lowest<T>();
    mi = hb * W + wb;
    for (int64_t i = 0; i < hn; ++i) {
      const int64_t row = (hb + i * hstep) * W + wb;
      for (int64_t j = 0; j < wn; ++j) {
        const int64_t at = row + j * wstep;
        if (takes(x[at], m)) m = x[at], mi = at;
      }
    }
  }
  out = m;
  out_i = mi;
}

// Output columns [lo, hi) of one output row, whose windows are whole along W: taps outer and
// outputs inner, so each tap is one select pass across the row that vectorizes (stride 1 loads
// for stride-1 pools). Same scan order per window as max_window, so the same winner.
template <class T, bool Idx, bool Unit>
void max_row_full(T* __restrict o, int64_t* __restrict io, const T* __restrict x, const PlaneAxis& w, int64_t hb,
                  int64_t hn, int64_t hstep, int64_t lo, int64_t hi) {
  const int64_t W = w.in, s = Unit ? 1 : w.stride;  // Unit: stride 1, plain vector loads
  for (int64_t i = 0; i < hn; ++i) {
    for (int64_t j = 0; j < w.taps; ++j) {
      const int64_t off = (hb + i * hstep) * W + j * w.step - w.pad;
      const T* __restrict xr = x + off;
      if (i == 0 && j == 0) {  // as max_window (a plain copy of the first tap became a slow memmove)
        for (int64_t ow = lo; ow < hi; ++ow) {
          o[ow] = lowest<T>();
          if constexpr (Idx) io[ow] = off + ow * s;
        }
      }
      for (int64_t ow = lo; ow < hi; ++ow) {
        const T v = xr[ow * s];
        const bool t = takes(v, o[ow]);
        o[ow] = t ? v : o[ow];
        if constexpr (Idx) io[ow] = t ? off + ow * s : io[ow];
      }
    }
  }
}

// Max of a whole plane of n values (global max pooling) on vectors: per lane the first
// maximum and its index, then the lanes' best (the smallest index among equal maxima, so the
// first in scan order). NaN (or +-inf, seen through x * 0) takes the scalar scan.
template <class T>
void max_whole_plane(const T* __restrict x, int64_t n, T& out, int64_t& out_i) {
  constexpr int64_t L = kSumBytes / int64_t(sizeof(T));
  if constexpr (sizeof(T) >= 4) {
    if (n >= L && n < (int64_t(1) << 31)) {
      using Vec = SimdVec<T, kStreamVecBytes>;
      using I = std::conditional_t<sizeof(T) == 8, int64_t, int32_t>;
      typedef I IVec __attribute__((vector_size(kSumBytes)));
      IVec iv, mi;
      for (int64_t j = 0; j < L; ++j) iv[j] = I(j);
      mi = iv;
      Vec m = *reinterpret_cast<const Vec*>(x), z = m * T(0);
      int64_t i = L;
      for (; i + L <= n; i += L) {
        iv += I(L);
        const Vec v = *reinterpret_cast<const Vec*>(x + i);
        const auto t = v > m;
        m = t ? v : m;
        mi = t ? iv : mi;
        z += v * T(0);
      }
      T best = m[0], zs = z[0];
      int64_t bi = mi[0];
      for (int64_t j = 1; j < L; ++j) {
        zs += z[j];
        if (m[j] > best || (m[j] == best && mi[j] < bi)) best = m[j], bi = mi[j];
      }
      for (; i < n; ++i) {  // later in scan order than every lane: only a larger value wins
        zs += x[i] * T(0);
        if (x[i] > best) best = x[i], bi = i;
      }
      if (zs == T(0)) {
        out = x[bi];
        out_i = bi;
        return;
      }
    }
  }
  max_window(x, n, 0, 1, 1, 0, n, 1, out, out_i);
}

template <class T, bool Idx>
void max_plane(T* __restrict out, int64_t* __restrict idx, const T* __restrict x, const PlanePlan& p) {
  const PlaneAxis &h = p.h, &w = p.w;
  const int64_t W = w.in, OW = w.out;
  if (p.k2s2 == 2) {
    for (int64_t oh = 0; oh < h.out; ++oh) {
      const T* r0 = x + 2 * oh * W;
      max_pairs<T, Idx, true>(out + oh * OW, idx + oh * OW, r0, r0 + W, W, 2 * oh * W, OW);
    }
    return;
  }
  if (p.k2s2 == 1) {
    max_pairs<T, Idx, false>(out, idx, x, x, W, 0, OW);
    return;
  }
  int64_t scratch = 0;
  for (int64_t oh = 0; oh < h.out; ++oh) {
    const int64_t hb = h.begin[oh], hn = h.count[oh];
    T* o = out + oh * OW;
    int64_t* io = Idx ? idx + oh * OW : nullptr;
    const int64_t lo = hn ? w.full_lo : 0, hi = hn ? w.full_hi : 0;  // vector path: whole windows
    if (hi > lo && w.stride == 1) max_row_full<T, Idx, true>(o, io, x, w, hb, hn, h.step, lo, hi);
    else if (hi > lo) max_row_full<T, Idx, false>(o, io, x, w, hb, hn, h.step, lo, hi);
    for (int64_t ow = 0; ow < OW; ++ow) {
      if (ow == lo && hi > lo) ow = hi;
      if (ow == OW) break;
      max_window(x, W, hb, hn, h.step, w.begin[ow], w.count[ow], w.step, o[ow], Idx ? io[ow] : scratch);
    }
  }
}

// one window covering the whole plane (global pooling: adaptive to 1 x 1, or a plane-sized
// kernel)
inline bool whole_plane(const PlanePlan& p) {
  return p.h.out == 1 && p.w.out == 1 && p.h.count[0] == p.h.in && p.w.count[0] == p.w.in &&
         (p.h.step == 1 || p.h.in == 1) && (p.w.step == 1 || p.w.in == 1);
}

template <class T>
void max_planes(T* out, int64_t* idx, const T* x, const PlanePlan& p, int64_t n) {
  const int64_t in_sz = p.h.in * p.w.in, out_sz = p.h.out * p.w.out;
  if (whole_plane(p)) {
    int64_t scratch = 0;
    for (int64_t q = 0; q < n; ++q) max_whole_plane(x + q * in_sz, in_sz, out[q], idx ? idx[q] : scratch);
    return;
  }
  for (int64_t q = 0; q < n; ++q) {
    if (idx) max_plane<T, true>(out + q * out_sz, idx + q * out_sz, x + q * in_sz, p);
    else max_plane<T, false>(out + q * out_sz, nullptr, x + q * in_sz, p);
  }
}

// Generic avg windows are separable: the rows of an output row's windows are first summed
// column by column into cs (a vectorized pass over whole rows), then each window sums its
// columns of cs. cs: W elements of scratch.
template <class T>
void avg_plane(T* __restrict out, const T* __restrict x, const PlanePlan& p, T* __restrict cs) {
  const PlaneAxis &h = p.h, &w = p.w;
  const int64_t W = w.in, OW = w.out;
  if (p.k2s2 && p.divisor_override == 0) {
    // full windows: the divisor is the window size whatever count_include_pad says
    for (int64_t oh = 0; oh < h.out; ++oh) {
      const T* r0 = x + (p.k2s2 == 2 ? 2 * oh * W : 0);
      const T* r1 = r0 + W;
      T* o = out + oh * OW;
      if (p.k2s2 == 2)
        for (int64_t ow = 0; ow < OW; ++ow) o[ow] = (r0[2 * ow] + r0[2 * ow + 1] + r1[2 * ow] + r1[2 * ow + 1]) / T(4);
      else
        for (int64_t ow = 0; ow < OW; ++ow) o[ow] = (r0[2 * ow] + r0[2 * ow + 1]) / T(2);
    }
    return;
  }
  for (int64_t oh = 0; oh < h.out; ++oh) {
    const int64_t hb = h.begin[oh], hn = h.count[oh];
    for (int64_t j = 0; j < W; ++j) cs[j] = T(0);
    for (int64_t i = 0; i < hn; ++i) {
      const T* r = x + (hb + i) * W;
      for (int64_t j = 0; j < W; ++j) cs[j] += r[j];
    }
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t wb = w.begin[ow], wn = w.count[ow];
      T s = 0;
      for (int64_t j = 0; j < wn; ++j) s += cs[wb + j];
      const int64_t div = p.divisor_override ? p.divisor_override : h.div[oh] * w.div[ow];
      out[oh * OW + ow] = (hn && wn) ? s / T(div) : T(0);
    }
  }
}

template <class T>
void avg_planes(T* out, const T* x, const PlanePlan& p, int64_t n) {
  const int64_t in_sz = p.h.in * p.w.in, out_sz = p.h.out * p.w.out;
  if (whole_plane(p)) {  // global average pooling: one sum per plane
    const T div = T(p.divisor_override ? p.divisor_override : p.h.div[0] * p.w.div[0]);
    for (int64_t q = 0; q < n; ++q) out[q] = stream_sum(x + q * in_sz, in_sz) / div;
    return;
  }
  T* cs = static_cast<T*>(std::malloc(sizeof(T) * p.w.in));
  if (!cs) return;
  for (int64_t q = 0; q < n; ++q) avg_plane<T>(out + q * out_sz, x + q * in_sz, p, cs);
  std::free(cs);
}

// The transpose of avg_plane: each output row's values are spread over the columns of its
// windows in rb, then rb is added to every row of those windows. rb: W elements of scratch.
template <class T>
void avg_backward_plane(T* __restrict gx, const T* __restrict g, const PlanePlan& p, T* __restrict rb) {
  const PlaneAxis &h = p.h, &w = p.w;
  const int64_t W = w.in, OW = w.out;
  if (p.k2s2 && p.divisor_override == 0) {
    // windows tile the plane without overlap; a last odd row / column gets zeros
    const int rows = p.k2s2;  // 2 for 2x2 windows, 1 for 1-D pairs
    for (int64_t oh = 0; oh < h.out; ++oh) {
      T* r0 = gx + rows * oh * W;
      T* r1 = r0 + W;
      const T* gr = g + oh * OW;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const T v = gr[ow] / T(2 * rows);
        r0[2 * ow] = v;
        r0[2 * ow + 1] = v;
        if (rows == 2) {
          r1[2 * ow] = v;
          r1[2 * ow + 1] = v;
        }
      }
      if (W > 2 * OW) {
        r0[W - 1] = T(0);
        if (rows == 2) r1[W - 1] = T(0);
      }
    }
    if (h.in > rows * h.out) std::memset(gx + rows * h.out * W, 0, sizeof(T) * W * (h.in - rows * h.out));
    return;
  }
  std::memset(gx, 0, sizeof(T) * h.in * W);
  for (int64_t oh = 0; oh < h.out; ++oh) {
    const int64_t hb = h.begin[oh], hn = h.count[oh];
    for (int64_t j = 0; j < W; ++j) rb[j] = T(0);
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t wb = w.begin[ow], wn = w.count[ow];
      if (!hn || !wn) continue;
      const int64_t div = p.divisor_override ? p.divisor_override : h.div[oh] * w.div[ow];
      const T v = g[oh * OW + ow] / T(div);
      for (int64_t j = 0; j < wn; ++j) rb[wb + j] += v;
    }
    for (int64_t i = 0; i < hn; ++i) {
      T* r = gx + (hb + i) * W;
      for (int64_t j = 0; j < W; ++j) r[j] += rb[j];
    }
  }
}

template <class T>
void avg_backward_planes(T* gx, const T* g, const PlanePlan& p, int64_t n) {
  const int64_t in_sz = p.h.in * p.w.in, out_sz = p.h.out * p.w.out;
  if (whole_plane(p)) {  // a broadcast of g / div over each plane
    const T div = T(p.divisor_override ? p.divisor_override : p.h.div[0] * p.w.div[0]);
    for (int64_t q = 0; q < n; ++q) {
      const T v = g[q] / div;
      T* __restrict r = gx + q * in_sz;
      for (int64_t j = 0; j < in_sz; ++j) r[j] = v;
    }
    return;
  }
  T* rb = static_cast<T*>(std::malloc(sizeof(T) * p.w.in));
  if (!rb) return;
  for (int64_t q = 0; q < n; ++q) avg_backward_plane<T>(gx + q * in_sz, g + q * out_sz, p, rb);
  std::free(rb);
}

// max always; avg when Avg (floats and int64); the backward for floats only
template <class T, bool Avg>
PoolPlaneFns<T> make_fns() {
  PoolPlaneFns<T> f{};
  f.max = &max_planes<T>;
  if constexpr (Avg) f.avg = &avg_planes<T>;
  if constexpr (T(0.5) != T(0)) f.avg_backward = &avg_backward_planes<T>;
  return f;
}

}  // namespace

void pool_fns(PoolTables& t) {
  t.f32 = make_fns<float, true>();
  t.f64 = make_fns<double, true>();
  t.i32 = make_fns<int32_t, false>();
  t.i64 = make_fns<int64_t, true>();
  t.u8 = make_fns<uint8_t, false>();
}

}  // namespace ember::cpu::EMBER_ISA_NS
