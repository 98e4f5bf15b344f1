// CPU convolution kernels: picks a path per problem and threads it.
//  - Winograd 3x3 (f32, stride 1, groups 1) when cpu::winograd3x3_applicable says it pays off;
//  - depthwise (groups == C, K a multiple of C): direct per-plane kernels (conv_impl.h);
//  - 1x1, stride 1, no padding: plain GEMMs on the NCHW data;
//  - bf16 / f16: the im2col path on 16-bit data (the GEMM engine packs it, with bf16 dot products
//    on AVX512_BF16, and accumulates in f32); Winograd and depthwise shapes widen to f32 instead;
//  - otherwise im2col into a per-thread buffer + the GEMM engine, per (image, group):
//      y[n,g] = W_g [Kg, Cg*kh*kw] @ col [Cg*kh*kw, Ho*Wo]
//      dW_g  += dY[n,g] @ col^T          dcol = W_g^T @ dY[n,g], then col2im
//    with small outputs (< 256 positions) several images side by side in one GEMM (fatter GEMMs,
//    the weights packed once per block of images);
// Work is spread over images when there are enough of them (single-threaded GEMMs, no
// synchronisation); otherwise images run one after another and the GEMM uses the pool.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cpu/conv.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/threadpool.h"
#include "backend/cpu/winograd.h"
#include "backend/kernels_conv.h"
#include "core/half.h"

namespace ember::cpu {
namespace {

template <class T>
const ConvPrims<T>& prims() {
  static const ConvPrims<float>* f32 = EMBER_ISA_PICK(conv_prims_f32);
  static const ConvPrims<double>* f64 = EMBER_ISA_PICK(conv_prims_f64);
  if constexpr (std::is_same_v<T, float>) return *f32; else return *f64;
}

// C[m, n] (= or +=) A[m, k] @ B[k, n] (element strides given; C rows contiguous with stride ldc).
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs,
          int64_t b_cs, T* c, int64_t ldc, bool accumulate, int threads) {
  GemmDesc d;
  d.in = std::is_same_v<T, float> ? GemmIn::F32 : GemmIn::F64;
  d.m = m, d.n = n, d.k = k;
  d.a = a, d.a_rs = a_rs, d.a_cs = a_cs;
  d.b = b, d.b_rs = b_rs, d.b_cs = b_cs;
  d.c = c, d.c_rs = ldc, d.c_cs = 1;
  d.beta = accumulate ? 1 : 0;
  d.threads = threads;
  gemm_run(d);
}

// The depthwise kernels work on a zero-padded copy of each plane; a huge dilation with a matching
// padding (small output, huge padded plane) goes to the im2col path, whose buffers scale with the
// output instead.
bool is_depthwise(const ConvGeom& g) {
  if (!(g.groups > 1 && g.groups == g.C && g.K % g.C == 0)) return false;
  const double hb = double(std::max(g.Ho - 1, int64_t(0))) * g.sh + double(g.kh - 1) * g.dh + 1 + g.ph + g.H;
  const double wb = double(std::max(g.Wo - 1, int64_t(0))) * g.sw + double(g.kw - 1) * g.dw + 1 + g.pw + g.W + 64;
  return hb * wb <= 4.0 * (double(g.H) * g.W + double(g.Ho) * g.Wo * g.kh * g.kw) + 65536;
}
bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.Ho == g.H && g.Wo == g.W;
}
// Winograd's own geometry: 3x3, unit stride and dilation, groups 1, symmetric padding <= 2.
bool winograd_shape(const ConvGeom& g) {
  return g.groups == 1 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
         g.ph <= 2 && g.pw <= 2 && g.Ho == g.H + 2 * g.ph - 2 && g.Wo == g.W + 2 * g.pw - 2;
}

// Winograd runs this problem (given (C, H, W, K, ph, pw) of the forward-shaped pass it computes).
bool use_winograd(const ConvGeom& g, int64_t C, int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw) {
  return winograd_shape(g) && winograd3x3_enabled() && winograd3x3_applicable(g.N, C, H, W, K, ph, pw);
}

// Runs fn(item, gemm_threads, scratch) for items [0, n), scratch holding `scratch_size` T per
// thread. Spread over threads when there are enough items (each GEMM then single-threaded:
// gemm_threads 1), else in order with each GEMM using the whole pool (0).
template <class T, class F>
void for_items(int64_t n, int64_t scratch_size, F&& fn) {
  const int nt = num_threads();
  if (nt > 1 && n >= nt && (n % nt == 0 || n >= 4 * nt)) {
    parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
      std::vector<T> scratch(static_cast<size_t>(scratch_size));
      for (int64_t i = b; i < e; ++i) fn(i, 1, scratch.data());
    });
  } else {
    std::vector<T> scratch(static_cast<size_t>(scratch_size));
    for (int64_t i = 0; i < n; ++i) fn(i, 0, scratch.data());
  }
}

// Elements of one (image, group) im2col buffer.
int64_t col_size(const ConvGeom& g) { return (g.C / g.groups) * g.kh * g.kw * g.Ho * g.Wo; }

// Images per GEMM. Small outputs (L columns per image: 14x14, 7x7) make thin GEMMs that re-pack
// the weights for every image; nb images side by side give each GEMM >= ~256 columns. The
// image blocks are spread evenly over the threads. 1 = one image per GEMM (no batching).
int64_t images_per_gemm(const ConvGeom& g) {
  const int64_t L = std::max<int64_t>(g.Ho * g.Wo, 1), nt = num_threads();
  if (L >= 256 || g.N < 2) return 1;
  const int64_t want = (256 + L - 1) / L;  // images for 256 columns
  int64_t blocks = (g.N + want - 1) / want;
  if (g.N >= nt) blocks = std::min(g.N, (blocks + nt - 1) / nt * nt);
  return (g.N + blocks - 1) / blocks;
}

// The batched layout: B [rows, nb*L] holds image j's [rows, L] block at columns [j*L, (j+1)*L).
template <class T>
void put_block(const T* src, int64_t rows, int64_t L, T* dst, int64_t ld, int64_t j) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * ld + j * L, src + r * L, size_t(L) * sizeof(T));
}
template <class T>
void get_block(const T* src, int64_t ld, int64_t j, int64_t rows, int64_t L, T* dst) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * L, src + r * ld + j * L, size_t(L) * sizeof(T));
}


// The im2col columns of images [n0, n0 + cnt) of group gi side by side: col [CKK, nb*L] (one:
// scratch for a single image's columns; the 1x1 path copies the input rows directly).
template <class T>
void batched_cols(const ConvGeom& g, const T* x, int64_t n0, int64_t cnt, int64_t gi, int64_t nb, bool pointwise,
                  T* col, T* one) {
  const int64_t Cg = g.C / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo;
  for (int64_t j = 0; j < cnt; ++j) {
    const T* xg = x + ((n0 + j) * g.C + gi * Cg) * g.H * g.W;
    if (!pointwise) prims<T>().im2col(g, xg, Cg, one);
    put_block(pointwise ? xg : one, CKK, L, col, nb * L, j);
  }
}

// The batched forms of forward / grad_input / grad_weight: per (block of nb images, group)
//   Y_b [Kg, nb*L] = W_g @ col_b,  dcol_b = W_g^T @ dY_b,  dW_g += dY_b @ col_b^T,
// dY_b and Y_b gathered / scattered by rows.
template <class T>
void forward_batched(const ConvGeom& g, int64_t nb, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo, ld = nb * L;
  const bool pointwise = is_pointwise(g);
  const int64_t blocks = (g.N + nb - 1) / nb;
  const int64_t scratch = CKK * ld + Kg * ld + (pointwise ? 0 : CKK * L);
  for_items<T>(blocks * g.groups, scratch, [&](int64_t item, int threads, T* sc) {
    const int64_t b = item / g.groups, gi = item % g.groups, n0 = b * nb, cnt = std::min(nb, g.N - n0);
    T *col = sc, *out = sc + CKK * ld, *one = out + Kg * ld;
    batched_cols(g, x, n0, cnt, gi, nb, pointwise, col, one);
    gemm<T>(Kg, cnt * L, CKK, w + gi * Kg * CKK, CKK, 1, col, ld, 1, out, ld, false, threads);
    for (int64_t j = 0; j < cnt; ++j)
      for (int64_t k = 0; k < Kg; ++k) {
        T* dst = y + ((n0 + j) * g.K + gi * Kg + k) * L;
        const T* src = out + k * ld + j * L;
        const T bk = bias ? bias[gi * Kg + k] : T(0);
        for (int64_t l = 0; l < L; ++l) dst[l] = src[l] + bk;
      }
  });
}

template <class T>
void grad_input_batched(const ConvGeom& g, int64_t nb, const T* dy, const T* w, T* dx) {
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo, ld = nb * L;
  const int64_t HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  const int64_t blocks = (g.N + nb - 1) / nb;
  for_items<T>(blocks * g.groups, Kg * ld + CKK * ld + CKK * L, [&](int64_t item, int threads, T* sc) {
    const int64_t b = item / g.groups, gi = item % g.groups, n0 = b * nb, cnt = std::min(nb, g.N - n0);
    T *dyb = sc, *dcol = sc + Kg * ld, *one = dcol + CKK * ld;
    for (int64_t j = 0; j < cnt; ++j) put_block(dy + ((n0 + j) * g.K + gi * Kg) * L, Kg, L, dyb, ld, j);
    gemm<T>(CKK, cnt * L, Kg, w + gi * Kg * CKK, 1, CKK, dyb, ld, 1, dcol, ld, false, threads);
    for (int64_t j = 0; j < cnt; ++j) {
      T* dxg = dx + ((n0 + j) * g.C + gi * Cg) * HW;
      if (pointwise) {
        get_block(dcol, ld, j, Cg, L, dxg);
        continue;
      }
      get_block(dcol, ld, j, CKK, L, one);
      std::memset(dxg, 0, size_t(Cg * HW) * sizeof(T));
      prims<T>().col2im(g, one, Cg, dxg);
    }
  });
}

template <class T>
void grad_weight_batched(const ConvGeom& g, int64_t nb, const T* x, const T* dy, T* dw) {
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo, ld = nb * L;
  const int64_t wsize = g.K * CKK, blocks = (g.N + nb - 1) / nb;
  const bool pointwise = is_pointwise(g);
  // each part sums its blocks into its own copy of dW (single-threaded GEMMs), added up at the end
  const int nt = num_threads();
  const int64_t parts = (nt > 1 && blocks >= nt) ? nt : 1;
  const int threads = parts > 1 ? 1 : 0;
  std::vector<T> partial(size_t((parts - 1) * wsize));
  parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    std::vector<T> sc(size_t(CKK * ld + Kg * ld + (pointwise ? 0 : CKK * L)));
    T *col = sc.data(), *dyb = col + CKK * ld, *one = dyb + Kg * ld;
    for (int64_t p = p0; p < p1; ++p) {
      T* acc = p == 0 ? dw : partial.data() + (p - 1) * wsize;
      std::memset(acc, 0, size_t(wsize) * sizeof(T));
      for (int64_t b = blocks * p / parts; b < blocks * (p + 1) / parts; ++b)
        for (int64_t gi = 0; gi < g.groups; ++gi) {
          const int64_t n0 = b * nb, cnt = std::min(nb, g.N - n0);
          batched_cols(g, x, n0, cnt, gi, nb, pointwise, col, one);
          for (int64_t j = 0; j < cnt; ++j) put_block(dy + ((n0 + j) * g.K + gi * Kg) * L, Kg, L, dyb, ld, j);
          gemm<T>(Kg, CKK, cnt * L, dyb, ld, 1, col, 1, ld, acc + gi * Kg * CKK, CKK, true, threads);
        }
    }
  });
  for (int64_t p = 1; p < parts; ++p) {
    const T* src = partial.data() + (p - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) dw[i] += src[i];
  }
}

// ------------------------------------------------------------------------------------ forward
template <class T>
void forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo;
  if constexpr (std::is_same_v<T, float>) {
    if (use_winograd(g, g.C, g.H, g.W, g.K, g.ph, g.pw))
      return winograd3x3_forward(x, w, bias, y, g.N, g.C, g.H, g.W, g.K, g.ph, g.pw);
  }
  if (is_depthwise(g)) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(L * g.kh * g.kw, 1));
    parallel_for(0, g.N * g.K, grain, [&](int64_t b, int64_t e) { prims<T>().dw_forward(g, x, w, bias, y, b, e); });
    return;
  }
  if (const int64_t nb = images_per_gemm(g); nb > 1) return forward_batched(g, nb, x, w, bias, y);
  const bool pointwise = is_pointwise(g);
  for_items<T>(g.N * g.groups, pointwise ? 0 : col_size(g), [&](int64_t item, int threads, T* scratch) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    const T* xg = x + (n * g.C + gi * Cg) * g.H * g.W;
    T* yg = y + (n * g.K + gi * Kg) * L;
    const T* col = xg;
    if (!pointwise) {
      prims<T>().im2col(g, xg, Cg, scratch);
      col = scratch;
    }
    if (bias)  // the bias enters as the GEMM's C (beta = 1)
      for (int64_t k = 0; k < Kg; ++k) std::fill(yg + k * L, yg + (k + 1) * L, bias[gi * Kg + k]);
    gemm<T>(Kg, L, CKK, w + gi * Kg * CKK, CKK, 1, col, L, 1, yg, L, bias != nullptr, threads);
  });
}

// ----------------------------------------------------------------------------- input gradient
template <class T>
void grad_input(const ConvGeom& g, const T* dy, const T* w, T* dx) {
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo;
  const int64_t HW = g.H * g.W;
  if constexpr (std::is_same_v<T, float>) {
    // a forward pass of dy with the kernel flipped and in/out channels swapped, padding 2 - p
    if (use_winograd(g, g.K, g.Ho, g.Wo, g.C, 2 - g.ph, 2 - g.pw)) {
      std::vector<float> wf(size_t(g.K * g.C * 9));
      for (int64_t k = 0; k < g.K; ++k)
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t t = 0; t < 9; ++t) wf[size_t((c * g.K + k) * 9 + t)] = w[(k * g.C + c) * 9 + 8 - t];
      return winograd3x3_forward(dy, wf.data(), nullptr, dx, g.N, g.K, g.Ho, g.Wo, g.C, 2 - g.ph, 2 - g.pw);
    }
  }
  if (is_depthwise(g)) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(L * g.kh * g.kw, 1));
    parallel_for(0, g.N * g.C, grain, [&](int64_t b, int64_t e) { prims<T>().dw_grad_input(g, dy, w, dx, b, e); });
    return;
  }
  if (const int64_t nb = images_per_gemm(g); nb > 1) return grad_input_batched(g, nb, dy, w, dx);
  const bool pointwise = is_pointwise(g);
  for_items<T>(g.N * g.groups, pointwise ? 0 : col_size(g), [&](int64_t item, int threads, T* scratch) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    const T* dyg = dy + (n * g.K + gi * Kg) * L;
    T* dxg = dx + (n * g.C + gi * Cg) * HW;
    const T* wg = w + gi * Kg * CKK;
    if (pointwise) return gemm<T>(Cg, L, Kg, wg, 1, CKK, dyg, L, 1, dxg, L, false, threads);
    gemm<T>(CKK, L, Kg, wg, 1, CKK, dyg, L, 1, scratch, L, false, threads);
    std::memset(dxg, 0, size_t(Cg * HW) * sizeof(T));
    prims<T>().col2im(g, scratch, Cg, dxg);
  });
}

// ---------------------------------------------------------------------------- weight gradient
template <class T>
void grad_weight(const ConvGeom& g, const T* x, const T* dy, T* dw) {
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo;
  const int64_t HW = g.H * g.W, wsize = g.K * CKK;
  if constexpr (std::is_same_v<T, float>) {
    if (use_winograd(g, g.C, g.H, g.W, g.K, g.ph, g.pw) &&
        winograd3x3_grad_weight_applicable(g.N, g.C, g.H, g.W, g.K, g.ph, g.pw))
      return winograd3x3_grad_weight(x, dy, dw, g.N, g.C, g.H, g.W, g.K, g.ph, g.pw);
  }
  if (is_depthwise(g)) {
    parallel_for(0, g.K, 1, [&](int64_t b, int64_t e) { prims<T>().dw_grad_weight(g, x, dy, dw, b, e); });
    return;
  }
  if (const int64_t nb = images_per_gemm(g); nb > 1) return grad_weight_batched(g, nb, x, dy, dw);
  const bool pointwise = is_pointwise(g);
  // dW accumulates over images: each thread sums its share of the images into its own copy
  const int nt = num_threads();
  const int64_t parts = (nt > 1 && g.N >= nt) ? nt : 1;
  const int threads = parts > 1 ? 1 : 0;
  std::vector<T> partial(size_t((parts - 1) * wsize));
  parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    std::vector<T> col(pointwise ? 0 : size_t(col_size(g)));
    for (int64_t p = p0; p < p1; ++p) {
      T* acc = p == 0 ? dw : partial.data() + (p - 1) * wsize;
      std::memset(acc, 0, size_t(wsize) * sizeof(T));
      for (int64_t n = g.N * p / parts; n < g.N * (p + 1) / parts; ++n)
        for (int64_t gi = 0; gi < g.groups; ++gi) {
          const T* xg = x + (n * g.C + gi * Cg) * HW;
          const T* c = xg;
          if (!pointwise) {
            prims<T>().im2col(g, xg, Cg, col.data());
            c = col.data();
          }
          // dW_g [Kg, CKK] += dY_g [Kg, L] @ col^T [L, CKK]
          gemm<T>(Kg, CKK, L, dy + (n * g.K + gi * Kg) * L, L, 1, c, 1, L, acc + gi * Kg * CKK, CKK, true, threads);
        }
    }
  });
  for (int64_t p = 1; p < parts; ++p) {
    const T* src = partial.data() + (p - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) dw[i] += src[i];
  }
}

// ------------------------------------------------------------------------- tensor entry points
// ---- 16-bit (bf16 / f16) tensors ---------------------------------------------------------------

using u16 = uint16_t;

float widen1(u16 v, bool bf) { return bf ? std::bit_cast<float>(uint32_t(v) << 16) : half_bits_to_float(v); }
void narrow(const float* src, int64_t n, bool bf, u16* dst) {
  if (bf)
    for (int64_t i = 0; i < n; ++i) dst[i] = BFloat16(src[i]).x;
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = float_to_half_bits(src[i]);
}
std::vector<float> widen(const u16* p, int64_t n, bool bf) {
  std::vector<float> out(size_t(p ? n : 0));
  if (p)
    parallel_for(0, n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = widen1(p[i], bf);
    });
  return out;
}
void narrow_all(const float* src, int64_t n, bool bf, u16* dst) {
  parallel_for(0, n, 1 << 16, [&](int64_t b, int64_t e) { narrow(src + b, e - b, bf, dst + b); });
}

// The 16-bit path pays off where the f32 path would run im2col + GEMM too.
bool native16(const ConvGeom& g) {
  return !is_depthwise(g) && !use_winograd(g, g.C, g.H, g.W, g.K, g.ph, g.pw);
}

// C[m, n] (= or +=, f32) A[m, k] @ B[k, n], A and B 16-bit.
void gemm16(GemmIn in, int64_t m, int64_t n, int64_t k, const u16* a, int64_t a_rs, int64_t a_cs, const u16* b,
            int64_t b_rs, int64_t b_cs, float* c, int64_t ldc, bool accumulate, int threads) {
  GemmDesc d;
  d.in = in;
  d.m = m, d.n = n, d.k = k;
  d.a = a, d.a_rs = a_rs, d.a_cs = a_cs;
  d.b = b, d.b_rs = b_rs, d.b_cs = b_cs;
  d.c = c, d.c_rs = ldc, d.c_cs = 1;
  d.beta = accumulate ? 1 : 0;
  d.threads = threads;
  gemm_run(d);
}

void forward16(const ConvGeom& g, GemmIn in, const u16* x, const u16* w, const u16* bias, u16* y) {
  const bool bf = in == GemmIn::BF16;
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo;
  const bool pointwise = is_pointwise(g);
  // per item: the f32 output block, then the 16-bit columns (two per float)
  const int64_t scratch_size = Kg * L + (pointwise ? 0 : (col_size(g) + 1) / 2);
  for_items<float>(g.N * g.groups, scratch_size, [&](int64_t item, int threads, float* scratch) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    const u16* xg = x + (n * g.C + gi * Cg) * g.H * g.W;
    const u16* col = xg;
    if (!pointwise) {
      u16* c16 = reinterpret_cast<u16*>(scratch + Kg * L);
      prims<float>().im2col16(g, xg, Cg, c16);
      col = c16;
    }
    if (bias)
      for (int64_t k = 0; k < Kg; ++k) std::fill(scratch + k * L, scratch + (k + 1) * L, widen1(bias[gi * Kg + k], bf));
    gemm16(in, Kg, L, CKK, w + gi * Kg * CKK, CKK, 1, col, L, 1, scratch, L, bias != nullptr, threads);
    narrow(scratch, Kg * L, bf, y + (n * g.K + gi * Kg) * L);
  });
}

void grad_input16(const ConvGeom& g, GemmIn in, const u16* dy, const u16* w, u16* dx) {
  const bool bf = in == GemmIn::BF16;
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  const int64_t scratch_size = Cg * HW + (pointwise ? 0 : col_size(g));
  for_items<float>(g.N * g.groups, scratch_size, [&](int64_t item, int threads, float* scratch) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    const u16* dyg = dy + (n * g.K + gi * Kg) * L;
    const u16* wg = w + gi * Kg * CKK;
    float* dxf = scratch;
    if (pointwise) {
      gemm16(in, Cg, L, Kg, wg, 1, CKK, dyg, L, 1, dxf, L, false, threads);
    } else {
      float* dcol = scratch + Cg * HW;
      gemm16(in, CKK, L, Kg, wg, 1, CKK, dyg, L, 1, dcol, L, false, threads);
      std::memset(dxf, 0, size_t(Cg * HW) * sizeof(float));
      prims<float>().col2im(g, dcol, Cg, dxf);
    }
    narrow(dxf, Cg * HW, bf, dx + (n * g.C + gi * Cg) * HW);
  });
}

void grad_weight16(const ConvGeom& g, GemmIn in, const u16* x, const u16* dy, u16* dw) {
  const bool bf = in == GemmIn::BF16;
  const int64_t Cg = g.C / g.groups, Kg = g.K / g.groups, CKK = Cg * g.kh * g.kw, L = g.Ho * g.Wo;
  const int64_t HW = g.H * g.W, wsize = g.K * CKK;
  const bool pointwise = is_pointwise(g);
  const int nt = num_threads();
  const int64_t parts = (nt > 1 && g.N >= nt) ? nt : 1;
  const int threads = parts > 1 ? 1 : 0;
  std::vector<float> acc(size_t(parts * wsize));  // f32 sums per part
  parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    std::vector<u16> col(pointwise ? 0 : size_t(col_size(g)));
    for (int64_t p = p0; p < p1; ++p) {
      float* a = acc.data() + p * wsize;
      for (int64_t n = g.N * p / parts; n < g.N * (p + 1) / parts; ++n)
        for (int64_t gi = 0; gi < g.groups; ++gi) {
          const u16* c = x + (n * g.C + gi * Cg) * HW;
          if (!pointwise) {
            prims<float>().im2col16(g, c, Cg, col.data());
            c = col.data();
          }
          gemm16(in, Kg, CKK, L, dy + (n * g.K + gi * Kg) * L, L, 1, c, 1, L, a + gi * Kg * CKK, CKK, true, threads);
        }
    }
  });
  for (int64_t p = 1; p < parts; ++p)
    for (int64_t i = 0; i < wsize; ++i) acc[i] += acc[p * wsize + i];
  narrow_all(acc.data(), wsize, bf, dw);
}

bool is16(Dtype d) { return d == Dtype::BFloat16 || d == Dtype::Float16; }
GemmIn gemm_in(Dtype d) { return d == Dtype::BFloat16 ? GemmIn::BF16 : GemmIn::F16; }

template <class T>
const T* ptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <class T>
T* mptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

void cpu_conv_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeom& g) {
  if (y.numel() == 0) return;
  if (is16(x.dtype())) {
    const bool bf = x.dtype() == Dtype::BFloat16;
    if (native16(g)) return forward16(g, gemm_in(x.dtype()), ptr<u16>(x), ptr<u16>(w), ptr<u16>(bias), mptr<u16>(y));
    const auto xf = widen(ptr<u16>(x), x.numel(), bf), wf = widen(ptr<u16>(w), w.numel(), bf);
    const auto bf32 = widen(ptr<u16>(bias), bias.defined() ? bias.numel() : 0, bf);
    std::vector<float> yf(size_t(y.numel()));
    forward<float>(g, xf.data(), wf.data(), bias.defined() ? bf32.data() : nullptr, yf.data());
    return narrow_all(yf.data(), y.numel(), bf, mptr<u16>(y));
  }
  if (x.dtype() == Dtype::Float64) return forward<double>(g, ptr<double>(x), ptr<double>(w), ptr<double>(bias), mptr<double>(y));
  forward<float>(g, ptr<float>(x), ptr<float>(w), ptr<float>(bias), mptr<float>(y));
}

void cpu_conv_grad_input(const Tensor& dx, const Tensor& dy, const Tensor& w, const ConvGeom& g) {
  if (dx.numel() == 0) return;
  if (dy.numel() == 0) {  // no output channels: nothing flows back
    std::memset(dx.raw_data(), 0, size_t(dx.numel()) * dx.itemsize());
    return;
  }
  if (is16(dx.dtype())) {
    const bool bf = dx.dtype() == Dtype::BFloat16;
    if (native16(g)) return grad_input16(g, gemm_in(dx.dtype()), ptr<u16>(dy), ptr<u16>(w), mptr<u16>(dx));
    const auto dyf = widen(ptr<u16>(dy), dy.numel(), bf), wf = widen(ptr<u16>(w), w.numel(), bf);
    std::vector<float> dxf(size_t(dx.numel()));
    grad_input<float>(g, dyf.data(), wf.data(), dxf.data());
    return narrow_all(dxf.data(), dx.numel(), bf, mptr<u16>(dx));
  }
  if (dx.dtype() == Dtype::Float64) return grad_input<double>(g, ptr<double>(dy), ptr<double>(w), mptr<double>(dx));
  grad_input<float>(g, ptr<float>(dy), ptr<float>(w), mptr<float>(dx));
}

void cpu_conv_grad_weight(const Tensor& dw, const Tensor& x, const Tensor& dy, const ConvGeom& g) {
  if (dw.numel() == 0) return;
  if (dy.numel() == 0 || x.numel() == 0) {  // empty batch: the sum over images is zero
    std::memset(dw.raw_data(), 0, size_t(dw.numel()) * dw.itemsize());
    return;
  }
  if (is16(dw.dtype())) {
    const bool bf = dw.dtype() == Dtype::BFloat16;
    if (native16(g)) return grad_weight16(g, gemm_in(dw.dtype()), ptr<u16>(x), ptr<u16>(dy), mptr<u16>(dw));
    const auto xf = widen(ptr<u16>(x), x.numel(), bf), dyf = widen(ptr<u16>(dy), dy.numel(), bf);
    std::vector<float> dwf(size_t(dw.numel()));
    grad_weight<float>(g, xf.data(), dyf.data(), dwf.data());
    return narrow_all(dwf.data(), dw.numel(), bf, mptr<u16>(dw));
  }
  if (dw.dtype() == Dtype::Float64) return grad_weight<double>(g, ptr<double>(x), ptr<double>(dy), mptr<double>(dw));
  grad_weight<float>(g, ptr<float>(x), ptr<float>(dy), mptr<float>(dw));
}

template <class T>
void im2col_all(const ConvGeom& g, const T* x, T* col) {
  const int64_t per = g.C * g.kh * g.kw * g.Ho * g.Wo;
  parallel_for(0, g.N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) prims<T>().im2col(g, x + n * g.C * g.H * g.W, g.C, col + n * per);
  });
}
template <class T>
void col2im_all(const ConvGeom& g, const T* col, T* x) {
  const int64_t per = g.C * g.kh * g.kw * g.Ho * g.Wo, HW = g.H * g.W;
  parallel_for(0, g.N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      std::memset(x + n * g.C * HW, 0, size_t(g.C * HW) * sizeof(T));
      prims<T>().col2im(g, col + n * per, g.C, x + n * g.C * HW);
    }
  });
}

void cpu_im2col(const Tensor& col, const Tensor& x, const ConvGeom& g) {
  if (col.numel() == 0) return;
  if (x.dtype() == Dtype::Float64) return im2col_all<double>(g, ptr<double>(x), mptr<double>(col));
  im2col_all<float>(g, ptr<float>(x), mptr<float>(col));
}

void cpu_col2im(const Tensor& x, const Tensor& col, const ConvGeom& g) {
  if (x.numel() == 0) return;
  if (x.dtype() == Dtype::Float64) return col2im_all<double>(g, ptr<double>(col), mptr<double>(x));
  col2im_all<float>(g, ptr<float>(col), mptr<float>(x));
}

}  // namespace

EMBER_REGISTER_KERNEL(conv_forward, CPU, &cpu_conv_forward);
EMBER_REGISTER_KERNEL(conv_grad_input, CPU, &cpu_conv_grad_input);
EMBER_REGISTER_KERNEL(conv_grad_weight, CPU, &cpu_conv_grad_weight);
EMBER_REGISTER_KERNEL(im2col, CPU, &cpu_im2col);
EMBER_REGISTER_KERNEL(col2im, CPU, &cpu_col2im);

}  // namespace ember::cpu
