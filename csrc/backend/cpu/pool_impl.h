// Pooling plane loops, compiled once per ISA: pool_isa_*.cpp define EMBER_ISA_NS and include
// this file. Everything has internal linkage and no inline function of a shared header (std
// containers, std::max) is called, so copies built with different flags are never merged.
//
// Max keeps PyTorch's rule: a tap wins when it is larger than the running max or NaN, so the
// first maximum (or the last NaN) in scan order is kept. The branch-free select chains of the
// 2x2 / stride-2 paths vectorize (floats and their int64 indices side by side on AVX2/AVX-512).
#include <cstdlib>
#include <cstring>

#include "backend/cpu/pool_table.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including pool_impl.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
namespace {

#if defined(__AVX512F__)
constexpr int64_t kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int64_t kVecBytes = 32;
#else
constexpr int64_t kVecBytes = 0;  // SSE2 has no blend for float + int64 lanes: scalar loops only
#endif

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
  const T ninf = -__builtin_huge_val();
  for (int64_t oh = 0; oh < h.out; ++oh) {
    const int64_t hb = h.begin[oh], hn = h.count[oh];
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t wb = w.begin[ow], wn = w.count[ow];
      T m = ninf;
      int64_t mi = hb * W + wb;  // PyTorch's index when no tap is inside the input
      bool nan = false;
      for (int64_t i = 0; i < hn; ++i) {
        const int64_t row = (hb + i * h.step) * W + wb;
        for (int64_t j = 0; j < wn; ++j) step(x[row + j * w.step], row + j * w.step, m, mi, nan);
      }
      if (nan) {  // rare: rescan with NaN winning
        m = ninf;
        mi = hb * W + wb;
        for (int64_t i = 0; i < hn; ++i) {
          const int64_t row = (hb + i * h.step) * W + wb;
          for (int64_t j = 0; j < wn; ++j) {
            const int64_t at = row + j * w.step;
            if (takes(x[at], m)) m = x[at], mi = at;
          }
        }
      }
      out[oh * OW + ow] = m;
      if constexpr (Idx) idx[oh * OW + ow] = mi;
    }
  }
}

template <class T>
void max_planes(T* out, int64_t* idx, const T* x, const PlanePlan& p, int64_t n) {
  const int64_t in_sz = p.h.in * p.w.in, out_sz = p.h.out * p.w.out;
  for (int64_t q = 0; q < n; ++q) {
    if (idx) max_plane<T, true>(out + q * out_sz, idx + q * out_sz, x + q * in_sz, p);
    else max_plane<T, false>(out + q * out_sz, nullptr, x + q * in_sz, p);
  }
}

// Sum of n contiguous values (a whole plane: global average pooling) on two vector
// accumulators of the ISA's width.
constexpr int64_t kSumBytes = kVecBytes ? kVecBytes : 16;
template <class T>
struct SumVecOf {
  typedef T type __attribute__((vector_size(kSumBytes), aligned(alignof(T)), may_alias));
};
template <class T>
T lane_sum(const T* x, int64_t n) {
  using Vec = typename SumVecOf<T>::type;
  constexpr int64_t L = kSumBytes / int64_t(sizeof(T));
  Vec a = {}, b = {};
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    a += *reinterpret_cast<const Vec*>(x + i);
    b += *reinterpret_cast<const Vec*>(x + i + L);
  }
  if (i + L <= n) {
    a += *reinterpret_cast<const Vec*>(x + i);
    i += L;
  }
  a += b;
  T s = 0;
  for (int64_t j = 0; j < L; ++j) s += a[j];
  for (; i < n; ++i) s += x[i];
  return s;
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
  if (h.out == 1 && w.out == 1 && h.count[0] == h.in && w.count[0] == W) {  // one window: the plane
    const int64_t div = p.divisor_override ? p.divisor_override : h.div[0] * w.div[0];
    out[0] = lane_sum(x, h.in * W) / T(div);
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
  T* rb = static_cast<T*>(std::malloc(sizeof(T) * p.w.in));
  if (!rb) return;
  for (int64_t q = 0; q < n; ++q) avg_backward_plane<T>(gx + q * in_sz, g + q * out_sz, p, rb);
  std::free(rb);
}

template <class T>
PoolPlaneFns<T> make_fns() {
  return {&max_planes<T>, &avg_planes<T>, &avg_backward_planes<T>};
}

}  // namespace

void pool_fns(PoolPlaneFns<float>& f32, PoolPlaneFns<double>& f64) {
  f32 = make_fns<float>();
  f64 = make_fns<double>();
}

}  // namespace ember::cpu::EMBER_ISA_NS
