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
#include <utility>

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
// The depthwise kernels read a zero-padded copy of each plane split by column phase: for stride s,
// phase p holds canvas columns p, p + s, p + 2s, ..., so that every tap of a strided correlation
// reads consecutive values (whole vectors) of one phase row.

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

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

// Lanes 2i + P of the concatenation a|b (one phase of a stride-2 row) and the inverse: the
// first (Q = 0) or second (Q = 1) half of the interleaving of a and b. (V is deduced; I < lanes.)
template <int P, class V, size_t... I>
inline V take_phase(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * int(I) + P)...);
}
template <int Q, class V, size_t... I>
inline V zip_half(V a, V b, std::index_sequence<I...>) {
  constexpr int L = int(sizeof...(I));
  return __builtin_shufflevector(a, b, ((int(I) % 2 ? L : 0) + Q * L / 2 + int(I) / 2)...);
}
template <class T>
using LaneSeq = std::make_index_sequence<kLanes<T>>;

// The plane src [Hs, Ws] placed at (top, left) on a zero canvas, split by column phase:
// buf[p][r][m] = canvas[r][m*s + p] for p < s, r < Hb, m < Wp (phase planes of Hb*Wp values;
// Wp a multiple of the vector width when s == 2). row: scratch of s*Wp values.
template <class T>
void split_plane(const T* src, int64_t Hs, int64_t Ws, int64_t top, int64_t left, int64_t s, T* buf, int64_t Hb,
                 int64_t Wp, T* row) {
  if (s == 1) return pad_plane(src, Hs, Ws, top, left, buf, Hb, Wp);
  constexpr int L = kLanes<T>;
  const int64_t Wc = s * Wp, c0 = imin(left, Wc), c1 = imin(left + Ws, Wc);
  for (int64_t r = 0; r < Hb; ++r) {
    const int64_t sr = r - top;
    if (sr < 0 || sr >= Hs || c1 <= c0) {
      for (int64_t p = 0; p < s; ++p) std::memset(buf + (p * Hb + r) * Wp, 0, size_t(Wp) * sizeof(T));
      continue;
    }
    std::memset(row, 0, size_t(c0) * sizeof(T));
    std::memcpy(row + c0, src + sr * Ws, size_t(c1 - c0) * sizeof(T));
    std::memset(row + c1, 0, size_t(Wc - c1) * sizeof(T));
    if (s == 2) {
      T* e = buf + r * Wp;
      T* o = buf + (Hb + r) * Wp;
      for (int64_t m = 0; m < Wp; m += L) {
        const Vec<T> a = vload(row + 2 * m), b = vload(row + 2 * m + L);
        vstore(e + m, take_phase<0>(a, b, LaneSeq<T>{}));
        vstore(o + m, take_phase<1>(a, b, LaneSeq<T>{}));
      }
      continue;
    }
    for (int64_t p = 0; p < s; ++p)
      for (int64_t m = 0; m < Wp; ++m) buf[(p * Hb + r) * Wp + m] = row[m * s + p];
  }
}

// Width of the phase rows a strided correlation of output rows Wo reads (whole vectors past
// each tap's shift (j*dw)/s), rounded to vectors for the stride-2 split.
template <class T>
int64_t phase_width(int64_t Wo, int64_t kw, int64_t dw, int64_t s) {
  constexpr int L = kLanes<T>;
  const int64_t w = round_up(Wo, L) + (kw - 1) * dw / s;
  return s == 2 ? round_up(w, L) : w;
}

// NV output vectors of one row starting at o (the last may be partial: n valid lanes in all):
//   yr[o + l] = (accumulate ? yr[o + l] : init) + sum_t wt[t] * src[t][o + l],
// accumulators in registers. Each src[t] must be readable for NV whole vectors past o.
template <class T, int NV>
inline void taps_tile(int64_t nt, const T* wt, const T* const* src, T* yr, int64_t o, int64_t n, T init,
                      bool accumulate) {
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
  for (int64_t t = 0; t < nt; ++t) {
    const Vec<T> wv = vsplat(wt[t]);
    const T* s = src[t] + o;
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

// One row of n outputs: yr[o] = (accumulate ? yr[o] : init) + sum_t wt[t] * src[t][o]; every
// src[t] readable up to n rounded up to whole vectors.
template <class T>
void taps_row(int64_t nt, const T* wt, const T* const* src, int64_t n, T* yr, T init, bool accumulate) {
  constexpr int L = kLanes<T>;
  int64_t o = 0;
  for (; o + 4 * L <= n; o += 4 * L) taps_tile<T, 4>(nt, wt, src, yr, o, 4 * L, init, accumulate);
  const int64_t rest = n - o, nv = (rest + L - 1) / L;
  if (nv == 4) taps_tile<T, 4>(nt, wt, src, yr, o, rest, init, accumulate);
  if (nv == 3) taps_tile<T, 3>(nt, wt, src, yr, o, rest, init, accumulate);
  if (nv == 2) taps_tile<T, 2>(nt, wt, src, yr, o, rest, init, accumulate);
  if (nv == 1) taps_tile<T, 1>(nt, wt, src, yr, o, rest, init, accumulate);
}

// Where tap (i, j) of output row oh reads in split planes buf (s phases of Hb rows of Wp).
template <class T>
inline const T* tap_src(const T* buf, int64_t Hb, int64_t Wp, int64_t oh, int64_t sh, int64_t sw, int64_t i,
                        int64_t j, int64_t dh, int64_t dw) {
  return buf + ((j * dw) % sw * Hb + oh * sh + i * dh) * Wp + (j * dw) / sw;
}

// out [Ho, Wo] (=/+=) the strided correlation of the split planes buf with weights wt [kh, kw].
// src: scratch of kh*kw pointers.
template <class T>
void corr_plane(const T* buf, int64_t Hb, int64_t Wp, const T* wt, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* out, T init, bool accumulate, const T** src) {
  for (int64_t oh = 0; oh < Ho; ++oh) {
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) src[i * kw + j] = tap_src(buf, Hb, Wp, oh, sh, sw, i, j, dh, dw);
    taps_row(kh * kw, wt, static_cast<const T* const*>(src), Wo, out + oh * Wo, init, accumulate);
  }
}

// acc[t] += sum over rows oh < Ho and columns of a[oh][.] * src_t(oh)[.] for TC taps t0.. of the
// weight gradient: a's rows (stride Wa) are zero-padded to whole vectors, so no scalar tail.
template <class T, int TC>
void dot_taps(const T* a, int64_t Wa, int64_t Ho, const T* buf, int64_t Hb, int64_t Wp, const ConvGeom& g,
              int64_t t0, T* acc) {
  constexpr int L = kLanes<T>;
  Vec<T> s[TC];
  const T* src[TC];
#pragma GCC unroll 9
  for (int t = 0; t < TC; ++t) s[t] = vsplat(T(0));
  for (int64_t oh = 0; oh < Ho; ++oh) {
#pragma GCC unroll 9
    for (int t = 0; t < TC; ++t)
      src[t] = tap_src(buf, Hb, Wp, oh, g.sh, g.sw, (t0 + t) / g.kw, (t0 + t) % g.kw, g.dh, g.dw);
    const T* ar = a + oh * Wa;
    for (int64_t o = 0; o < Wa; o += L) {
      const Vec<T> av = vload(ar + o);
#pragma GCC unroll 9
      for (int t = 0; t < TC; ++t) s[t] += av * vload(src[t] + o);
    }
  }
#pragma GCC unroll 9
  for (int t = 0; t < TC; ++t) {
    T r = 0;
    for (int l = 0; l < L; ++l) r += s[t][l];
    acc[t] += r;
  }
}

// Padded-plane rows for a correlation: (Ho-1)*sh + (kh-1)*dh + 1 cover every read.
inline int64_t padded_rows(int64_t out, int64_t s, int64_t k, int64_t d) { return (out - 1) * s + (k - 1) * d + 1; }

// ------------------------------------------------------------------------- depthwise kernels
template <class T>
void dw_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, int64_t p0, int64_t p1) {
  const int64_t mult = g.K / g.C, taps = g.kh * g.kw;
  const int64_t Hb = padded_rows(g.Ho, g.sh, g.kh, g.dh), Wp = phase_width<T>(g.Wo, g.kw, g.dw, g.sw);
  Scratch<T> buf(g.sw * Hb * Wp), row(g.sw * Wp);
  Scratch<const T*> src(taps);
  int64_t cur = -1;  // input plane held in buf (consecutive outputs of a multiplier share it)
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / g.K, k = p % g.K, q = n * g.C + k / mult;
    if (q != cur) {
      split_plane(x + q * g.H * g.W, g.H, g.W, g.ph, g.pw, g.sw, buf.p, Hb, Wp, row.p);
      cur = q;
    }
    corr_plane(buf.p, Hb, Wp, w + k * taps, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.Ho, g.Wo, y + p * g.Ho * g.Wo,
               bias ? bias[k] : T(0), false, src.p);
  }
}

template <class T>
void dw_grad_input(const ConvGeom& g, const T* dy, const T* w, T* dx, int64_t p0, int64_t p1) {
  constexpr int L = kLanes<T>;
  const int64_t mult = g.K / g.C, taps = g.kh * g.kw, HW = g.H * g.W, HoWo = g.Ho * g.Wo;
  const int64_t qh = (g.kh - 1) * g.dh - g.ph, qw = (g.kw - 1) * g.dw - g.pw;
  if (g.sh == 1 && g.sw == 1 && qh >= 0 && qw >= 0) {
    // stride 1: dx is the correlation of dy (padded by q) with the spatially flipped kernel
    const int64_t Hb = g.H + (g.kh - 1) * g.dh, Wb = phase_width<T>(g.W, g.kw, g.dw, 1);
    Scratch<T> buf(Hb * Wb), wf(taps);
    Scratch<const T*> src(taps);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.C, c = p % g.C;
      for (int64_t m = 0; m < mult; ++m) {
        const int64_t k = c * mult + m;
        for (int64_t t = 0; t < taps; ++t) wf.p[t] = w[k * taps + taps - 1 - t];
        pad_plane(dy + (n * g.K + k) * HoWo, g.Ho, g.Wo, qh, qw, buf.p, Hb, Wb);
        corr_plane(buf.p, Hb, Wb, wf.p, g.kh, g.kw, int64_t(1), int64_t(1), g.dh, g.dw, g.H, g.W, dx + p * HW, T(0),
                   m > 0, src.p);
      }
    }
    return;
  }
  // General: input column c (on the padded canvas) = ow*sw + j*dw, so phase c % sw of a dx row
  // gathers the taps j with (j*dw) % sw == that phase, reading dy row oh at ow = c/sw - (j*dw)/sw:
  // a correlation of left-padded dy rows, per row and phase; the phases are then interleaved.
  const int64_t QL = (g.kw - 1) * g.dw / g.sw;                 // largest column shift
  const int64_t Mr = round_up((g.pw + g.W + g.sw - 1) / g.sw, L);  // phase columns computed
  const int64_t Wd = QL + Mr;                                    // dy row: QL zeros, then dy
  Scratch<T> dyp(mult * g.Ho * Wd), tmp(g.sw * Mr), zip(2 * Mr), wts(mult * taps);
  Scratch<const T*> src(mult * taps);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / g.C, c = p % g.C;
    for (int64_t m = 0; m < mult; ++m)
      pad_plane(dy + (n * g.K + c * mult + m) * HoWo, g.Ho, g.Wo, int64_t(0), QL, dyp.p + m * g.Ho * Wd, g.Ho, Wd);
    for (int64_t ih = 0; ih < g.H; ++ih) {
      const int64_t r = ih + g.ph;
      for (int64_t pc = 0; pc < g.sw; ++pc) {
        int64_t nt = 0;
        for (int64_t m = 0; m < mult; ++m)
          for (int64_t i = 0; i < g.kh; ++i) {
            const int64_t rr = r - i * g.dh;
            if (rr < 0 || rr % g.sh != 0 || rr / g.sh >= g.Ho) continue;
            for (int64_t j = 0; j < g.kw; ++j) {
              if ((j * g.dw) % g.sw != pc) continue;
              wts.p[nt] = w[(c * mult + m) * taps + i * g.kw + j];
              src.p[nt++] = dyp.p + (m * g.Ho + rr / g.sh) * Wd + QL - (j * g.dw) / g.sw;
            }
          }
        taps_row(nt, static_cast<const T*>(wts.p), static_cast<const T* const*>(src.p), Mr, tmp.p + pc * Mr, T(0),
                 false);
      }
      T* out = dx + p * HW + ih * g.W;  // dx row = canvas columns [pw, pw + W)
      if (g.sw == 1) {
        std::memcpy(out, tmp.p + g.pw, size_t(g.W) * sizeof(T));
      } else if (g.sw == 2) {
        for (int64_t o = 0; o < Mr; o += L) {
          const Vec<T> a = vload(tmp.p + o), b = vload(tmp.p + Mr + o);
          vstore(zip.p + 2 * o, zip_half<0>(a, b, LaneSeq<T>{}));
          vstore(zip.p + 2 * o + L, zip_half<1>(a, b, LaneSeq<T>{}));
        }
        std::memcpy(out, zip.p + g.pw, size_t(g.W) * sizeof(T));
      } else {
        for (int64_t iw = 0; iw < g.W; ++iw) out[iw] = tmp.p[(iw + g.pw) % g.sw * Mr + (iw + g.pw) / g.sw];
      }
    }
  }
}

template <class T>
void dw_grad_weight(const ConvGeom& g, const T* x, const T* dy, T* dw, int64_t k0, int64_t k1) {
  constexpr int L = kLanes<T>;
  const int64_t mult = g.K / g.C, taps = g.kh * g.kw, HoWo = g.Ho * g.Wo;
  const int64_t Hb = padded_rows(g.Ho, g.sh, g.kh, g.dh), Wp = phase_width<T>(g.Wo, g.kw, g.dw, g.sw);
  const int64_t Wa = round_up(g.Wo, L);  // dy rows zero-padded to whole vectors
  Scratch<T> buf(g.sw * Hb * Wp), row(g.sw * Wp), dyb(g.Ho * Wa);
  for (int64_t k = k0; k < k1; ++k) {
    T* out = dw + k * taps;
    for (int64_t t = 0; t < taps; ++t) out[t] = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      split_plane(x + (n * g.C + k / mult) * g.H * g.W, g.H, g.W, g.ph, g.pw, g.sw, buf.p, Hb, Wp, row.p);
      pad_plane(dy + (n * g.K + k) * HoWo, g.Ho, g.Wo, int64_t(0), int64_t(0), dyb.p, g.Ho, Wa);
      // taps in groups of up to 9 (a 3x3 kernel in one pass over dy)
      int64_t t = 0;
      for (; t + 9 <= taps; t += 9) dot_taps<T, 9>(dyb.p, Wa, g.Ho, buf.p, Hb, Wp, g, t, out + t);
      for (; t + 4 <= taps; t += 4) dot_taps<T, 4>(dyb.p, Wa, g.Ho, buf.p, Hb, Wp, g, t, out + t);
      for (; t < taps; ++t) dot_taps<T, 1>(dyb.p, Wa, g.Ho, buf.p, Hb, Wp, g, t, out + t);
    }
  }
}

}  // namespace

const ConvPrims<float> conv_prims_f32 = {&im2col<float>, &col2im<float>, &dw_forward<float>, &dw_grad_input<float>,
                                         &dw_grad_weight<float>, &im2col<uint16_t>};
const ConvPrims<double> conv_prims_f64 = {&im2col<double>, &col2im<double>, &dw_forward<double>,
                                          &dw_grad_input<double>, &dw_grad_weight<double>, &im2col<uint16_t>};

}  // namespace ember::cpu::EMBER_ISA_NS
