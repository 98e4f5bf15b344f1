// Plane-level convolution primitives (im2col / col2im and the direct depthwise kernels),
// compiled once per ISA: cmake/isa.cmake defines EMBER_ISA_NS and includes this file. Everything
// has internal linkage (anonymous namespace) and no inline function of a shared header (std
// containers, std::min) is called, so copies built with different flags are never merged.
//
// Vectors are GCC/Clang vector extensions of the ISA's width; the depthwise kernels keep a tile
// of 4 output vectors in registers while walking the kernel taps.
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/conv.h"
#include "backend/cpu/simd.h"

namespace ember::cpu::EMBER_ISA_NS {
namespace {

template <class T>
using Vec = SimdVec<T>;  // the ISA's width (simd.h)
template <class T>
constexpr int kLanes = kNativeVecBytes / int(sizeof(T));

template <class T>
inline Vec<T> vload(const T* p) { return simd_load(p); }
template <class T>
inline void vstore(T* p, Vec<T> v) { simd_store(p, v); }
template <class T>
inline Vec<T> vsplat(T s) { return Vec<T>{} + s; }

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// A scratch buffer (64-byte aligned, freed on scope exit).
template <class T>
struct Scratch {
  T* p;
  explicit Scratch(int64_t n) : p(static_cast<T*>(::operator new(size_t(imax(n, 1)) * sizeof(T), std::align_val_t(64)))) {}
  ~Scratch() { ::operator delete(p, std::align_val_t(64)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// Output positions o in [lo, hi) whose input index o*s + off lies in [0, n).
inline void valid_range(int64_t off, int64_t s, int64_t n, int64_t count, int64_t& lo, int64_t& hi) {
  // lo is clamped to count: a padding larger than the whole output row must not run past it
  lo = off >= 0 ? 0 : imin(count, (-off + s - 1) / s);
  hi = off >= n ? 0 : imin(count, (n - 1 - off) / s + 1);
  if (hi < lo) hi = lo;
}

// ---------------------------------------------------------------------------------- im2col
template <class T>
void im2col(const ConvGeom& g, const T* x, int64_t nc, T* col) {
  const int64_t L = g.Ho * g.Wo;
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * L;
        const int64_t off_w = j * g.dw - g.pw;
        int64_t lo, hi;
        valid_range(off_w, g.sw, g.W, g.Wo, lo, hi);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          T* dst = row + oh * g.Wo;
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H) {
            std::memset(dst, 0, size_t(g.Wo) * sizeof(T));
            continue;
          }
          const T* src = x + (c * g.H + ih) * g.W + off_w;
          if (lo > 0) std::memset(dst, 0, size_t(lo) * sizeof(T));
          if (g.sw == 1) {
            if (hi > lo) std::memcpy(dst + lo, src + lo, size_t(hi - lo) * sizeof(T));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
          }
          if (hi < g.Wo) std::memset(dst + hi, 0, size_t(g.Wo - hi) * sizeof(T));
        }
      }
}

template <class T>
void col2im(const ConvGeom& g, const T* col, int64_t nc, T* x) {
  const int64_t L = g.Ho * g.Wo;
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * L;
        const int64_t off_w = j * g.dw - g.pw;
        int64_t lo, hi;
        valid_range(off_w, g.sw, g.W, g.Wo, lo, hi);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const T* src = row + oh * g.Wo;
          T* dst = x + (c * g.H + ih) * g.W + off_w;
          if (g.sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw] += src[ow];
          }
        }
      }
}

// ------------------------------------------------------------------------- depthwise helpers
// src [Hs, Ws] placed at (top, left) in buf [Hb, Wb], zeros elsewhere (clipped to buf).
template <class T>
void pad_plane(const T* src, int64_t Hs, int64_t Ws, int64_t top, int64_t left, T* buf, int64_t Hb, int64_t Wb) {
  const int64_t c0 = imin(left, Wb), c1 = imin(left + Ws, Wb);  // destination columns holding src
  for (int64_t r = 0; r < Hb; ++r) {
    T* d = buf + r * Wb;
    const int64_t sr = r - top;
    if (sr < 0 || sr >= Hs || c1 <= c0) {
      std::memset(d, 0, size_t(Wb) * sizeof(T));
      continue;
    }
    std::memset(d, 0, size_t(c0) * sizeof(T));
    std::memcpy(d + c0, src + sr * Ws, size_t(c1 - c0) * sizeof(T));
    std::memset(d + c1, 0, size_t(Wb - c1) * sizeof(T));
  }
}

// NV output vectors of one row starting at o (the last may be partial: n valid lanes in all),
// accumulators in registers. Source rows must be readable for NV full vectors past o + j*dw.
template <class T, int NV>
inline void corr_tile(const T* const* rows, const T* wt, int64_t kh, int64_t kw, int64_t dw, T* yr, int64_t o,
                      int64_t n, T init, bool accumulate) {
  constexpr int L = kLanes<T>;
  Vec<T> a[NV];
  T tmp[L];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    if (!accumulate) {
      a[v] = vsplat(init);
    } else if ((v + 1) * L <= n) {
      a[v] = vload(yr + o + v * L);
    } else {
      for (int l = 0; l < L; ++l) tmp[l] = v * L + l < n ? yr[o + v * L + l] : T(0);
      a[v] = vload(tmp);
    }
  }
  for (int64_t i = 0; i < kh; ++i)
    for (int64_t j = 0; j < kw; ++j) {
      const Vec<T> wv = vsplat(wt[i * kw + j]);
      const T* s = rows[i] + j * dw + o;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) a[v] += wv * vload(s + v * L);
    }
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    if ((v + 1) * L <= n) {
      vstore(yr + o + v * L, a[v]);
    } else {
      vstore(tmp, a[v]);
      for (int l = 0; v * L + l < n; ++l) yr[o + v * L + l] = tmp[l];
    }
  }
}

// Padded row length that lets corr_tile read whole vectors: the output row rounded up to
// vectors plus the kernel's reach.
template <class T>
int64_t vec_row_extent(int64_t Wo, int64_t kw, int64_t dw) {
  constexpr int L = kLanes<T>;
  return (Wo + L - 1) / L * L + (kw - 1) * dw;
}

// One output row of a single-channel correlation over a padded plane:
//   yr[o] = (accumulate ? yr[o] : init) + sum_{i,j} wt[i*kw + j] * rows[i][o*sw + j*dw].
// Stride 1 needs source rows readable up to vec_row_extent.
template <class T>
void corr_row(const T* const* rows, const T* wt, int64_t kh, int64_t kw, int64_t dw, int64_t sw, int64_t Wo,
              T* yr, T init, bool accumulate) {
  constexpr int L = kLanes<T>;
  if (sw == 1) {
    int64_t o = 0;
    for (; o + 4 * L <= Wo; o += 4 * L) corr_tile<T, 4>(rows, wt, kh, kw, dw, yr, o, 4 * L, init, accumulate);
    const int64_t rest = Wo - o, nv = (rest + L - 1) / L;
    if (nv == 4) corr_tile<T, 4>(rows, wt, kh, kw, dw, yr, o, rest, init, accumulate);
    if (nv == 3) corr_tile<T, 3>(rows, wt, kh, kw, dw, yr, o, rest, init, accumulate);
    if (nv == 2) corr_tile<T, 2>(rows, wt, kh, kw, dw, yr, o, rest, init, accumulate);
    if (nv == 1) corr_tile<T, 1>(rows, wt, kh, kw, dw, yr, o, rest, init, accumulate);
    return;
  }
  for (int64_t o = 0; o < Wo; ++o) {
    T a = accumulate ? yr[o] : init;
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) a += wt[i * kw + j] * rows[i][o * sw + j * dw];
    yr[o] = a;
  }
}

// out [Ho, Wo] (=/+=) correlation of the plane padded into buf [Hb, Wb] with weights wt.
template <class T>
void corr_plane(const T* buf, int64_t Wb, const T* wt, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh,
                int64_t dw, int64_t Ho, int64_t Wo, T* out, T init, bool accumulate, const T** rows) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    for (int64_t i = 0; i < kh; ++i) rows[i] = buf + (oh * sh + i * dh) * Wb;
    corr_row(rows, wt, kh, kw, dw, sw, Wo, out + oh * Wo, init, accumulate);
  }
}

// Sum over the plane of a * b, a [Ho, Wo] with row stride Wa and b rows of stride Wb (the taps
// of dw_grad_weight). Stride 1: a's rows are zero-padded to whole vectors (Wa >= that) and b's
// readable that far, so no scalar tail.
template <class T>
T dot_plane(const T* a, int64_t Wa, const T* b, int64_t Wb, int64_t Ho, int64_t Wo, int64_t sh, int64_t sw) {
  constexpr int L = kLanes<T>;
  Vec<T> v0 = vsplat(T(0)), v1 = v0;
  T s = 0;
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const T* ar = a + oh * Wa;
    const T* br = b + oh * sh * Wb;
    if (sw == 1) {
      int64_t o = 0;
      for (; o + 2 * L <= Wo; o += 2 * L) {
        v0 += vload(ar + o) * vload(br + o);
        v1 += vload(ar + o + L) * vload(br + o + L);
      }
      for (; o < Wo; o += L) v0 += vload(ar + o) * vload(br + o);
    } else {
      for (int64_t o = 0; o < Wo; ++o) s += ar[o] * br[o * sw];
    }
  }
  v0 += v1;
  for (int l = 0; l < L; ++l) s += v0[l];
  return s;
}

// Padded-plane size for a correlation: rows (Ho-1)*sh + (kh-1)*dh + 1 cover every read; at
// least `extent` (the source placed at its offset) so nothing of it is dropped in scatters.
inline int64_t padded_extent(int64_t out, int64_t s, int64_t k, int64_t d, int64_t extent) {
  return imax((out - 1) * s + (k - 1) * d + 1, extent);
}

// ------------------------------------------------------------------------- depthwise kernels
template <class T>
void dw_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, int64_t p0, int64_t p1) {
  const int64_t mult = g.K / g.C, taps = g.kh * g.kw;
  const int64_t Hb = padded_extent(g.Ho, g.sh, g.kh, g.dh, 0);
  const int64_t Wb = imax(padded_extent(g.Wo, g.sw, g.kw, g.dw, 0), vec_row_extent<T>(g.Wo, g.kw, g.dw));
  Scratch<T> buf(Hb * Wb);
  Scratch<const T*> rows(g.kh);
  int64_t cur = -1;  // input plane held in buf (consecutive outputs of a multiplier share it)
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / g.K, k = p % g.K, q = n * g.C + k / mult;
    if (q != cur) {
      pad_plane(x + q * g.H * g.W, g.H, g.W, g.ph, g.pw, buf.p, Hb, Wb);
      cur = q;
    }
    corr_plane(buf.p, Wb, w + k * taps, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo, y + p * g.Ho * g.Wo,
               bias ? bias[k] : T(0), false, rows.p);
  }
}

template <class T>
void dw_grad_input(const ConvGeom& g, const T* dy, const T* w, T* dx, int64_t p0, int64_t p1) {
  const int64_t mult = g.K / g.C, taps = g.kh * g.kw, HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  const int64_t qh = (g.kh - 1) * g.dh - g.ph, qw = (g.kw - 1) * g.dw - g.pw;
  if (g.sh == 1 && g.sw == 1 && qh >= 0 && qw >= 0) {
    // stride 1: dx is the correlation of dy (padded by q) with the spatially flipped kernel
    const int64_t Hb = g.H + (g.kh - 1) * g.dh, Wb = vec_row_extent<T>(g.W, g.kw, g.dw);
    Scratch<T> buf(Hb * Wb), wf(taps);
    Scratch<const T*> rows(g.kh);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.C, c = p % g.C;
      for (int64_t m = 0; m < mult; ++m) {
        const int64_t k = c * mult + m;
        for (int64_t t = 0; t < taps; ++t) wf.p[t] = w[k * taps + taps - 1 - t];
        pad_plane(dy + (n * g.K + k) * HoWo, g.Ho, g.Wo, qh, qw, buf.p, Hb, Wb);
        corr_plane(buf.p, Wb, wf.p, g.kh, g.kw, int64_t(1), int64_t(1), g.dh, g.dw, g.H, g.W, dx + p * HW, T(0),
                   m > 0, rows.p);
      }
    }
    return;
  }
  // general: scatter each dy value through the kernel into a padded plane, then crop
  const int64_t Hb = padded_extent(g.Ho, g.sh, g.kh, g.dh, g.ph + g.H);
  const int64_t Wb = padded_extent(g.Wo, g.sw, g.kw, g.dw, g.pw + g.W);
  Scratch<T> buf(Hb * Wb);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / g.C, c = p % g.C;
    std::memset(buf.p, 0, size_t(Hb * Wb) * sizeof(T));
    for (int64_t m = 0; m < mult; ++m) {
      const int64_t k = c * mult + m;
      const T* d = dy + (n * g.K + k) * HoWo;
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const T wv = w[k * taps + i * g.kw + j];
            T* row = buf.p + (oh * g.sh + i * g.dh) * Wb + j * g.dw;
            const T* dr = d + oh * g.Wo;
            for (int64_t o = 0; o < g.Wo; ++o) row[o * g.sw] += wv * dr[o];
          }
    }
    T* out = dx + p * HW;
    for (int64_t r = 0; r < g.H; ++r) std::memcpy(out + r * g.W, buf.p + (r + g.ph) * Wb + g.pw, size_t(g.W) * sizeof(T));
  }
}

template <class T>
void dw_grad_weight(const ConvGeom& g, const T* x, const T* dy, T* dw, int64_t k0, int64_t k1) {
  const int64_t mult = g.K / g.C, taps = g.kh * g.kw, HoWo = g.Ho * g.Wo;
  const int64_t Hb = padded_extent(g.Ho, g.sh, g.kh, g.dh, 0);
  const int64_t Wb = imax(padded_extent(g.Wo, g.sw, g.kw, g.dw, 0), vec_row_extent<T>(g.Wo, g.kw, g.dw));
  const int64_t Wa = vec_row_extent<T>(g.Wo, 1, 1);  // dy rows zero-padded to whole vectors
  Scratch<T> buf(Hb * Wb), dyb(g.Ho * Wa);
  for (int64_t k = k0; k < k1; ++k) {
    T* out = dw + k * taps;
    for (int64_t t = 0; t < taps; ++t) out[t] = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      pad_plane(x + (n * g.C + k / mult) * g.H * g.W, g.H, g.W, g.ph, g.pw, buf.p, Hb, Wb);
      pad_plane(dy + (n * g.K + k) * HoWo, g.Ho, g.Wo, int64_t(0), int64_t(0), dyb.p, g.Ho, Wa);
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j)
          out[i * g.kw + j] += dot_plane(dyb.p, Wa, buf.p + i * g.dh * Wb + j * g.dw, Wb, g.Ho, g.Wo, g.sh, g.sw);
    }
  }
}

}  // namespace

const ConvPrims<float> conv_prims_f32 = {&im2col<float>, &col2im<float>, &dw_forward<float>, &dw_grad_input<float>,
                                         &dw_grad_weight<float>, &im2col<uint16_t>};
const ConvPrims<double> conv_prims_f64 = {&im2col<double>, &col2im<double>, &dw_forward<double>,
                                          &dw_grad_input<double>, &dw_grad_weight<double>, &im2col<uint16_t>};

}  // namespace ember::cpu::EMBER_ISA_NS
