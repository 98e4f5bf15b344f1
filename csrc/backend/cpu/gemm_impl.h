// The GEMM engine, compiled once per ISA: cmake/isa.cmake defines EMBER_ISA_NS and includes this
// file, so each copy is built with its own target flags. Everything below lives in
// ember::cpu::EMBER_ISA_NS (helpers in an anonymous namespace inside it) and no inline function
// from a shared header is called: copies built with different flags must never be merged by the
// linker (that could run AVX-512 code on a CPU without it).
//
// Algorithm (BLIS-style, rows of C vectorized):
//  - C is cut into work units (batch, MC-row block, NC-column block), claimed dynamically by the
//    pool's threads. A unit walks K in KC steps.
//  - B is packed into NR-column strips (kc x NR, row-major) shared by all threads: a strip is
//    packed by the first thread that needs it (atomic per-strip flags), so threads working on
//    the same column block split its packing and nobody waits on a barrier. A (kc x nc) block of
//    strips stays in L2 while the unit's rows stream past it. Small B (or few rows of A) with
//    unit column stride is read in place instead.
//  - A is packed in panels of at most MR rows (kc x MR, column-interleaved) into an L1-resident
//    buffer; the next panel's source is prefetched while the current one computes.
//  - The micro-kernel keeps an H x NR tile of C in registers (H <= MR broadcasts of A times NV
//    vectors of B per k step; one kernel per height, so ragged edges waste no FMAs) and stores
//    or accumulates it into C; epilogues other than a plain store/add (alpha, beta, bias,
//    relu/gelu, strided or partial tiles) go through a small tile buffer.
//  - C with few columns (N < NR) is computed as C^T = B^T A^T: the short side then runs down
//    the kernel's rows, where any count is exact.
//  - M == 1 or N == 1 (matrix-vector) takes a streaming path without packing.
// Packing converts the inputs to the accumulation type (f16/bf16 -> f32), so any dtype and any
// strides (transposed or sliced operands) cost one pass over the data, never an extra copy.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include <sched.h>

#include "backend/cpu/gemm.h"
#include "backend/cpu/simd_math.h"
#include "backend/cpu/threadpool.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ember::cpu::EMBER_ISA_NS {
namespace {

// ---------------------------------------------------------------------------------------------
// Vectors of this ISA and the register tile: kMR rows x kNV vectors, sized to the register file
// (the accumulators plus kNV B vectors and one broadcast must fit).
#if defined(__AVX512F__)
using VF = __m512;
using VD = __m512d;
inline VF bcast(float s) { return _mm512_set1_ps(s); }
inline VD bcast(double s) { return _mm512_set1_pd(s); }
inline VF vfma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
inline VD vfma(VD a, VD b, VD c) { return _mm512_fmadd_pd(a, b, c); }
constexpr int kMR = 14, kNV = 2;  // 28 of 32 zmm registers accumulate
#elif defined(__AVX2__) && defined(__FMA__)
using VF = __m256;
using VD = __m256d;
inline VF bcast(float s) { return _mm256_set1_ps(s); }
inline VD bcast(double s) { return _mm256_set1_pd(s); }
inline VF vfma(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
inline VD vfma(VD a, VD b, VD c) { return _mm256_fmadd_pd(a, b, c); }
constexpr int kMR = 6, kNV = 2;  // 12 of 16 ymm registers
#elif defined(__aarch64__)
using VF = float32x4_t;
using VD = float64x2_t;
inline VF bcast(float s) { return vdupq_n_f32(s); }
inline VD bcast(double s) { return vdupq_n_f64(s); }
inline VF vfma(VF a, VF b, VF c) { return vfmaq_f32(c, a, b); }
inline VD vfma(VD a, VD b, VD c) { return vfmaq_f64(c, a, b); }
constexpr int kMR = 8, kNV = 3;  // 24 of 32 NEON registers
#elif defined(__SSE2__)
using VF = __m128;
using VD = __m128d;
inline VF bcast(float s) { return _mm_set1_ps(s); }
inline VD bcast(double s) { return _mm_set1_pd(s); }
inline VF vfma(VF a, VF b, VF c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline VD vfma(VD a, VD b, VD c) { return _mm_add_pd(_mm_mul_pd(a, b), c); }
constexpr int kMR = 6, kNV = 2;  // 12 of 16 xmm registers
#else  // any other target: GCC/Clang generic vectors
typedef float VF __attribute__((vector_size(16)));
typedef double VD __attribute__((vector_size(16)));
inline VF bcast(float s) { return VF{s, s, s, s}; }
inline VD bcast(double s) { return VD{s, s}; }
inline VF vfma(VF a, VF b, VF c) { return a * b + c; }
inline VD vfma(VD a, VD b, VD c) { return a * b + c; }
constexpr int kMR = 6, kNV = 2;
#endif

template <class T> struct VecOf;
template <> struct VecOf<float> { using type = VF; };
template <> struct VecOf<double> { using type = VD; };
template <class T> using Vec = typename VecOf<T>::type;
template <class T> constexpr int kLanes = int(sizeof(Vec<T>) / sizeof(T));
template <class T> constexpr int kNR = kNV * kLanes<T>;

template <class T>
inline Vec<T> loadu(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void storeu(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

constexpr int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
constexpr int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
constexpr int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

// ---------------------------------------------------------------------------------------------
// Input element types: 16-bit floats are widened to float while packing.
struct F16 { uint16_t x; };
struct BF16 { uint16_t x; };

inline float cvt(float x) { return x; }
inline double cvt(double x) { return x; }
inline float cvt(BF16 h) {
  const uint32_t u = uint32_t(h.x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float cvt(F16 h) {
#if defined(__F16C__)
  return _cvtsh_ss(h.x);
#else
  const uint32_t sign = uint32_t(h.x & 0x8000) << 16, exp = (h.x >> 10) & 0x1f;
  uint32_t man = h.x & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}

// ---------------------------------------------------------------------------------------------
// Packing: a panel of n <= R "lanes" (rows of A, or columns of B) over kc steps of K, stored
// step-major: dst[p * R + i] = src[i * si + p * sp]. B panels are zero-padded to R lanes; A
// panels are not (the kernel for n rows reads only n).
template <class T>
using PackFn = void (*)(const void* base, int64_t off, int64_t si, int64_t sp, int64_t n, int64_t kc, T* dst,
                        bool pad);

// 16-byte vectors for the transposes in packing (SSE2 / NEON registers, on every target).
typedef float V4f __attribute__((vector_size(16)));
typedef double V2d __attribute__((vector_size(16)));

// dst[q * R + i] = src[i * si + q] for i, q < 4 (a 4 x 4 float block transposed).
template <int R>
inline void transpose_block(const float* src, int64_t si, float* dst) {
  V4f r0, r1, r2, r3;
  std::memcpy(&r0, src, 16);
  std::memcpy(&r1, src + si, 16);
  std::memcpy(&r2, src + 2 * si, 16);
  std::memcpy(&r3, src + 3 * si, 16);
  const V4f t0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5), t1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
  const V4f t2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5), t3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
  const V4f c0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), c1 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  const V4f c2 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5), c3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
  std::memcpy(dst, &c0, 16);
  std::memcpy(dst + R, &c1, 16);
  std::memcpy(dst + 2 * R, &c2, 16);
  std::memcpy(dst + 3 * R, &c3, 16);
}
template <int R>
inline void transpose_block(const double* src, int64_t si, double* dst) {
  V2d r0, r1;
  std::memcpy(&r0, src, 16);
  std::memcpy(&r1, src + si, 16);
  const V2d c0 = __builtin_shufflevector(r0, r1, 0, 2), c1 = __builtin_shufflevector(r0, r1, 1, 3);
  std::memcpy(dst, &c0, 16);
  std::memcpy(dst + R, &c1, 16);
}

#if defined(__AVX__)
typedef float V8f __attribute__((vector_size(32)));
typedef double V4d __attribute__((vector_size(32)));

// dst[q * R + i] = src[i * si + q] for i, q < 8 (8 x 8 floats; 24 shuffles).
template <int R>
inline void transpose_block8(const float* src, int64_t si, float* dst) {
  V8f r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], src + i * si, 32);
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int q = 0; q < 4; ++q) {
    const V8f lo = __builtin_shufflevector(u[q], u[q + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    const V8f hi = __builtin_shufflevector(u[q], u[q + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    std::memcpy(dst + q * R, &lo, 32);
    std::memcpy(dst + (q + 4) * R, &hi, 32);
  }
}
// 4 x 4 doubles.
template <int R>
inline void transpose_block8(const double* src, int64_t si, double* dst) {
  V4d r0, r1, r2, r3;
  std::memcpy(&r0, src, 32);
  std::memcpy(&r1, src + si, 32);
  std::memcpy(&r2, src + 2 * si, 32);
  std::memcpy(&r3, src + 3 * si, 32);
  const V4d t0 = __builtin_shufflevector(r0, r1, 0, 4, 2, 6), t1 = __builtin_shufflevector(r0, r1, 1, 5, 3, 7);
  const V4d t2 = __builtin_shufflevector(r2, r3, 0, 4, 2, 6), t3 = __builtin_shufflevector(r2, r3, 1, 5, 3, 7);
  const V4d c0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), c1 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  const V4d c2 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7), c3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
  std::memcpy(dst, &c0, 32);
  std::memcpy(dst + R, &c1, 32);
  std::memcpy(dst + 2 * R, &c2, 32);
  std::memcpy(dst + 3 * R, &c3, 32);
}
#endif

// Lanes [i0, n) of a steps-contiguous panel, transposed in L x L blocks (L = bytes / sizeof(T));
// returns the first lane not done.
template <int R, int Bytes, class T>
int64_t transpose_lanes(const T* src, int64_t si, int64_t i0, int64_t n, int64_t kc, T* dst) {
  constexpr int L = int(Bytes / sizeof(T));
  const int64_t kcl = kc / L * L;
  for (; i0 + L <= n; i0 += L) {
    const T* s = src + i0 * si;
    for (int64_t p = 0; p < kcl; p += L) {
      if constexpr (Bytes == 32) {
#if defined(__AVX__)
        transpose_block8<R>(s + p, si, dst + p * R + i0);
#endif
      } else {
        transpose_block<R>(s + p, si, dst + p * R + i0);
      }
    }
    for (int64_t p = kcl; p < kc; ++p)
      for (int i = 0; i < L; ++i) dst[p * R + i0 + i] = s[i * si + p];
  }
  return i0;
}

template <int R, class In, class T>
void pack(const void* base, int64_t off, int64_t si, int64_t sp, int64_t n, int64_t kc, T* __restrict dst,
          bool pad) {
  const In* src = static_cast<const In*>(base) + off;
  const int64_t nz = pad ? R : n;  // lanes written per step
  if (si == 1) {  // lanes contiguous: each step is a short copy
    if (n == R && std::is_same_v<In, T> && R % kLanes<T> == 0) {  // whole vectors (no memcpy calls)
      for (int64_t p = 0; p < kc; ++p) {
        const T* s = reinterpret_cast<const T*>(src + p * sp);
        T* d = dst + p * R;
#pragma GCC unroll 8
        for (int i = 0; i < R; i += kLanes<T>) storeu<T>(d + i, loadu<T>(s + i));
      }
    } else if (n == R) {
      for (int64_t p = 0; p < kc; ++p) {
        const In* s = src + p * sp;
        T* d = dst + p * R;
        for (int i = 0; i < R; ++i) d[i] = T(cvt(s[i]));
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const In* s = src + p * sp;
        T* d = dst + p * R;
        for (int64_t i = 0; i < n; ++i) d[i] = T(cvt(s[i]));
        for (int64_t i = n; i < nz; ++i) d[i] = T(0);
      }
    }
    return;
  }
  if (sp == 1) {  // steps contiguous (rows of a row-major A, columns of a transposed B): transpose
    int64_t i0 = 0;
    if constexpr (std::is_same_v<In, T>) {  // in register blocks
#if defined(__AVX__)
      i0 = transpose_lanes<R, 32>(src, si, i0, n, kc, dst);
#endif
      i0 = transpose_lanes<R, 16>(src, si, i0, n, kc, dst);
    }
    for (int64_t i = i0; i < n; ++i) {
      const In* s = src + i * si;
      for (int64_t p = 0; p < kc; ++p) dst[p * R + i] = T(cvt(s[p]));
    }
  } else {
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t i = 0; i < n; ++i) dst[p * R + i] = T(cvt(src[i * si + p * sp]));
  }
  if (nz > n)
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t i = n; i < nz; ++i) dst[p * R + i] = T(0);
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel: C[H x NR] (row stride ldc) = (acc ? C : 0) + sum over p < kc of
// a[p * kMR + i] * b[p * bs + j]. The tile lives in H * kNV vector registers; B rows are NR
// contiguous values (a packed strip, bs = NR, or a row-major B read in place, bs = its row stride).
template <class T, class P = T>
using MicroFn = void (*)(int64_t kc, const P* a, const P* b, int64_t bs, T* c, int64_t ldc, bool acc);

template <class T, int H>
void micro(int64_t kc, const T* __restrict a, const T* __restrict b, int64_t bs, T* __restrict c, int64_t ldc,
           bool acc) {
  using V = Vec<T>;
  constexpr int W = kLanes<T>, NV = kNV, NR = kNR<T>;
  // C's rows are far apart in memory: start fetching them now, not when the sums are done
#pragma GCC unroll 16
  for (int i = 0; i < H; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);
  }
  V t[H][NV];
#pragma GCC unroll 16
  for (int i = 0; i < H; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) t[i][v] = bcast(T(0));
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = loadu<T>(b + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < H; ++i) {
      const V ai = bcast(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) t[i][v] = vfma(ai, bv[v], t[i][v]);
    }
    a += kMR;
    b += bs;
  }
  if (acc) {
#pragma GCC unroll 16
    for (int i = 0; i < H; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) storeu<T>(c + i * ldc + v * W, loadu<T>(c + i * ldc + v * W) + t[i][v]);
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < H; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) storeu<T>(c + i * ldc + v * W, t[i][v]);
  }
}

// Kernels for every row count 1..kMR, so edge rows cost no wasted FMAs.
template <class T, class P = T>
struct Kernels {
  MicroFn<T, P> f[kMR];
};
template <class T, size_t... I>
constexpr Kernels<T> make_kernels(std::index_sequence<I...>) {
  return {{&micro<T, int(I) + 1>...}};
}
template <class T>
constexpr Kernels<T> kKernels = make_kernels<T>(std::make_index_sequence<kMR>{});

// ---------------------------------------------------------------------------------------------
// Epilogue: C = act(alpha * acc + beta * C + bias). Over K blocks: the first block applies beta
// and bias, later ones add alpha * acc, the last applies the activation.
template <class T>
struct Epi {
  T alpha, beta;
  const T* bias;   // per column of C (per row with bias_rows), or null
  bool bias_rows;  // set when the engine computes C^T (swapped operands)
  GemmAct act;
  int64_t pre;  // GemmDesc::pre_act: where C's value before the activation goes (0: nowhere)
};

// The element `off` elements after p (pre-activation buffers live at a fixed distance from C).
template <class T>
T* at_offset(T* p, int64_t off) {
  return reinterpret_cast<T*>(reinterpret_cast<intptr_t>(p) + off * intptr_t(sizeof(T)));
}

// c[j] = f(c[j]) over n values, storing the value before f in pre[j] too when pre is not null
// (one loop: the pre-activation store rides along).
template <class T, class F>
void act_loop(T* __restrict c, int64_t n, T* __restrict pre, F f) {
  if (pre)
    for (int64_t j = 0; j < n; ++j) {
      const T x = c[j];
      pre[j] = x;
      c[j] = f(x);
    }
  else
    for (int64_t j = 0; j < n; ++j) c[j] = f(c[j]);
}

// c = act(c) over n values; pre (when not null) also receives c before the activation. The
// formulas are the eager unary kernels' (elementwise_impl.h), so fused and unfused results match.
template <class T>
void apply_act(T* __restrict c, int64_t n, GemmAct act, T* __restrict pre = nullptr) {
  switch (act) {
    case GemmAct::None: break;
    case GemmAct::Relu: act_loop(c, n, pre, [](T x) { return x < T(0) ? T(0) : x; }); break;  // NaN stays NaN
    case GemmAct::Gelu: act_loop(c, n, pre, [](T x) { return gelu_erf(x); }); break;
    case GemmAct::GeluTanh: act_loop(c, n, pre, [](T x) { return gelu_tanh(x); }); break;
  }
}

// One row of C (n values, unit stride) from one row of the product t; pre: where the row's
// pre-activation goes (null: nowhere).
template <class T>
void merge_row(const T* __restrict t, T* __restrict c, int64_t n, const Epi<T>& e, const T* __restrict bias,
               T row_bias, bool first, bool last, T* pre = nullptr) {
  const T alpha = e.alpha, beta = e.beta;
  if (!first || beta == T(1)) {
    if (alpha == T(1))
      for (int64_t j = 0; j < n; ++j) c[j] += t[j];
    else
      for (int64_t j = 0; j < n; ++j) c[j] += alpha * t[j];
  } else if (beta == T(0)) {
    if (alpha == T(1))
      for (int64_t j = 0; j < n; ++j) c[j] = t[j];
    else
      for (int64_t j = 0; j < n; ++j) c[j] = alpha * t[j];
  } else {
    for (int64_t j = 0; j < n; ++j) c[j] = alpha * t[j] + beta * c[j];
  }
  if (first && bias)
    for (int64_t j = 0; j < n; ++j) c[j] += bias[j];
  if (first && row_bias != T(0))
    for (int64_t j = 0; j < n; ++j) c[j] += row_bias;
  if (last) apply_act(c, n, e.act, pre);
}

// C[mr x nr] (row stride ldc, column stride cs) from the product tile (row stride ldt). bias
// points at the bias of C's first row or column.
template <class T>
void merge(const T* t, int64_t ldt, T* c, int64_t ldc, int64_t cs, int64_t mr, int64_t nr, const Epi<T>& e,
           const T* bias, bool first, bool last) {
  const T* col_bias = bias && !e.bias_rows ? bias : nullptr;
  T row[kNR<T> > 64 ? kNR<T> : 64], prow[kNR<T> > 64 ? kNR<T> : 64];
  for (int64_t i = 0; i < mr; ++i, t += ldt, c += ldc) {
    const T rb = bias && e.bias_rows ? bias[i] : T(0);
    T* pre = last && e.pre ? at_offset(c, e.pre) : nullptr;
    if (cs == 1) {
      merge_row<T>(t, c, nr, e, col_bias, rb, first, last, pre);
      continue;
    }
    for (int64_t j0 = 0; j0 < nr; j0 += 64) {  // strided C: through contiguous row buffers
      const int64_t n = imin(64, nr - j0);
      for (int64_t j = 0; j < n; ++j) row[j] = c[(j0 + j) * cs];
      merge_row<T>(t + j0, row, n, e, col_bias ? col_bias + j0 : nullptr, rb, first, last, pre ? prow : nullptr);
      for (int64_t j = 0; j < n; ++j) c[(j0 + j) * cs] = row[j];
      if (pre)
        for (int64_t j = 0; j < n; ++j) pre[(j0 + j) * cs] = prow[j];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Workspace for packed B: grown on demand, kept by the calling thread between calls (a fresh
// allocation per call would page-fault through megabytes every time).
struct Workspace {
  void* p = nullptr;
  size_t size = 0;
  void* get(size_t bytes) {
    if (bytes > size) {
      if (p) ::operator delete(p, std::align_val_t(64));
      p = nullptr;
      size = 0;
      p = ::operator new(bytes, std::align_val_t(64));
      size = bytes;
    }
    return p;
  }
  ~Workspace() {
    if (p) ::operator delete(p, std::align_val_t(64));
  }
};
thread_local Workspace t_ws;

constexpr int64_t kPackCapBytes = int64_t(64) << 20;  // packed B per pass; larger problems are split
constexpr int64_t kParallelFlops = int64_t(1) << 19;  // below this (64^3), waking the pool costs more

// Cache blocking: an A panel (kMR x KC) in half of L1 (32 KB), a B block (KC x NC) in half of
// L2 (>= 512 KB per core on current x86 and arm64 server cores).
template <class T> constexpr int64_t kKC = sizeof(T) == 4 ? 256 : 128;
template <class T> constexpr int64_t kNC = round_up((int64_t(512) << 10) / (kKC<T> * int64_t(sizeof(T))), kNR<T>);

// How A panels and B strips are packed: elements of type P, each holding KP consecutive values
// along K; the K block KC; the micro-kernel for a panel of h rows (kc counted in elements).
template <class T>
struct PlainLayout {
  using P = T;
  static constexpr int KP = 1;
  static constexpr int64_t KC = kKC<T>;
  static MicroFn<T> kernel(int64_t h) { return kKernels<T>.f[h - 1]; }
};

#if defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
// bfloat16 inputs on CPUs with AVX512_BF16: A and B are packed as pairs of consecutive K values
// (one 32-bit word per pair, the lower k in the low half) and the kernel's VDPBF16PS adds both
// products of a pair to float accumulators, twice the FMA rate of widening to float first.
#define EMBER_GEMM_BF16_DOT 1

bool has_bf16_dot() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return ok;
}

template <int H>
__attribute__((target("avx512bf16"))) void micro_bf16(int64_t kp, const uint32_t* __restrict a,
                                                      const uint32_t* __restrict b, int64_t bs, float* __restrict c,
                                                      int64_t ldc, bool acc) {
  static_assert(kNV == 2, "the pair kernel is written for two vectors per row");
#pragma GCC unroll 16
  for (int i = 0; i < H; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + 31, 1, 3);
  }
  __m512 t[H][2];
#pragma GCC unroll 16
  for (int i = 0; i < H; ++i) t[i][0] = t[i][1] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kp; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < H; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(int(a[i]));
      t[i][0] = _mm512_dpbf16_ps(t[i][0], ai, b0);
      t[i][1] = _mm512_dpbf16_ps(t[i][1], ai, b1);
    }
    a += kMR;
    b += bs;
  }
#pragma GCC unroll 16
  for (int i = 0; i < H; ++i) {
    float* r = c + i * ldc;
    if (acc) {
      _mm512_storeu_ps(r, _mm512_add_ps(_mm512_loadu_ps(r), t[i][0]));
      _mm512_storeu_ps(r + 16, _mm512_add_ps(_mm512_loadu_ps(r + 16), t[i][1]));
    } else {
      _mm512_storeu_ps(r, t[i][0]);
      _mm512_storeu_ps(r + 16, t[i][1]);
    }
  }
}

template <size_t... I>
constexpr Kernels<float, uint32_t> make_bf16_kernels(std::index_sequence<I...>) {
  return {{&micro_bf16<int(I) + 1>...}};
}
constexpr Kernels<float, uint32_t> kBf16Kernels = make_bf16_kernels(std::make_index_sequence<kMR>{});

struct Bf16PairLayout {
  using P = uint32_t;
  static constexpr int KP = 2;
  static constexpr int64_t KC = 512;  // pairs: the same bytes per panel as 256 floats
  static MicroFn<float, uint32_t> kernel(int64_t h) { return kBf16Kernels.f[h - 1]; }
};

// Pairs along K: dst[q * R + i] = (src(i, 2q), src(i, 2q + 1)) as one word; B panels are
// zero-padded to R lanes, and an odd kc to a whole last pair.
template <int R>
void pack_pairs(const void* base, int64_t off, int64_t si, int64_t sp, int64_t n, int64_t kc, uint32_t* __restrict dst,
                bool pad) {
  const uint16_t* src = static_cast<const uint16_t*>(base) + off;
  const int64_t kp = cdiv(kc, 2), full = kc / 2, nz = pad ? R : n;
  int64_t i0 = 0;
  if (sp == 1 && si % 2 == 0 && (reinterpret_cast<uintptr_t>(src) & 3) == 0) {
    // K contiguous: each pair is already one aligned word of the row; transpose the words
    const float* words = reinterpret_cast<const float*>(src);
    float* d = reinterpret_cast<float*>(dst);
    i0 = transpose_lanes<R, 32>(words, si / 2, 0, n, full, d);
    i0 = transpose_lanes<R, 16>(words, si / 2, i0, n, full, d);
    for (int64_t i = i0; i < n; ++i)
      for (int64_t q = 0; q < full; ++q) std::memcpy(&dst[q * R + i], src + i * si + 2 * q, 4);
    i0 = n;
  } else if (si == 1) {  // lanes contiguous: interleave two K rows
    for (int64_t q = 0; q < full; ++q) {
      const uint16_t *s0 = src + 2 * q * sp, *s1 = s0 + sp;
      for (int64_t i = 0; i < n; ++i) dst[q * R + i] = uint32_t(s0[i]) | uint32_t(s1[i]) << 16;
    }
    i0 = n;
  }
  for (int64_t q = 0; q < full; ++q)
    for (int64_t i = i0; i < n; ++i)
      dst[q * R + i] = uint32_t(src[i * si + 2 * q * sp]) | uint32_t(src[i * si + (2 * q + 1) * sp]) << 16;
  if (kp > full)  // odd kc: the last pair's upper half is zero
    for (int64_t i = 0; i < n; ++i) dst[full * R + i] = src[i * si + 2 * full * sp];
  if (nz > n)
    for (int64_t q = 0; q < kp; ++q)
      for (int64_t i = n; i < nz; ++i) dst[q * R + i] = 0;
}
#endif

template <class T, class L>
struct Plan {
  using P = typename L::P;
  const GemmDesc* d;
  PackFn<P> pack_a, pack_b;
  Epi<T> epi;
  T* c;
  int64_t mc, nc, kc, mblocks, nblocks, kblocks, units;
  bool direct_b;     // B read in place (row-major, same dtype)
  P* bpack;          // packed B: [batch][column block][k block][strip] of kc x NR
  uint8_t* flags;    // per packed strip: 0 empty, 1 being packed, 2 ready
  int64_t npad;      // N rounded up to NR
  int64_t spb;       // strips per column block
  int64_t in_size;   // bytes per input element
  int64_t next;      // next unit to claim (atomic)
};

template <class T, class L>
void ensure_packed(const Plan<T, L>& pl, int64_t bi, int64_t jb, int64_t pc, int64_t j0, int64_t ncur, int64_t p0,
                   int64_t kcur, typename L::P* block) {
  constexpr int NR = kNR<T>;
  const GemmDesc& d = *pl.d;
  uint8_t* f = pl.flags + ((bi * pl.nblocks + jb) * pl.kblocks + pc) * pl.spb;
  const int64_t nstrips = cdiv(ncur, NR);
  for (int64_t s = 0; s < nstrips; ++s) {
    uint8_t expected = 0;
    if (__atomic_load_n(&f[s], __ATOMIC_ACQUIRE) == 0 &&
        __atomic_compare_exchange_n(&f[s], &expected, uint8_t(1), false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      const int64_t js = s * NR;
      pl.pack_b(d.b, bi * d.b_bs + p0 * d.b_rs + (j0 + js) * d.b_cs, d.b_cs, d.b_rs, imin(NR, ncur - js), kcur,
                block + s * cdiv(kcur, L::KP) * NR, true);
      __atomic_store_n(&f[s], uint8_t(2), __ATOMIC_RELEASE);
    }
  }
  // wait for strips other threads are packing; yield when that takes long (the packer may be
  // descheduled on a busy machine)
  for (int64_t s = 0; s < nstrips; ++s)
    for (int spins = 0; __atomic_load_n(&f[s], __ATOMIC_ACQUIRE) != 2; ++spins) {
      if (spins < 4096) cpu_relax();
      else sched_yield();
    }
}

template <class T, class L>
void run_unit(const Plan<T, L>& pl, int64_t u, typename L::P* abuf, typename L::P* bedge, T* tile) {
  using P = typename L::P;
  constexpr int MR = kMR, NR = kNR<T>, KP = L::KP;
  const GemmDesc& d = *pl.d;
  const int64_t M = d.m, N = d.n, K = d.k;
  const int64_t ib = u % pl.mblocks, jb = (u / pl.mblocks) % pl.nblocks, bi = u / (pl.mblocks * pl.nblocks);
  const int64_t i0 = ib * pl.mc, mcur = imin(pl.mc, M - i0);
  const int64_t j0 = jb * pl.nc, ncur = imin(pl.nc, N - j0), ncpad = round_up(ncur, NR);
  const int64_t nstrips = cdiv(ncur, NR), last_nr = ncur - (nstrips - 1) * NR;
  T* C = pl.c + bi * d.c_bs + i0 * d.c_rs + j0 * d.c_cs;
  const T* bias = pl.epi.bias ? pl.epi.bias + (pl.epi.bias_rows ? i0 : j0) : nullptr;
  const int64_t aoff = bi * d.a_bs + i0 * d.a_rs;
  const P* bdirect = pl.direct_b ? static_cast<const P*>(d.b) + bi * d.b_bs + j0 : nullptr;  // P == T here

  // the activation runs once over the finished block's unit-stride lines (long loops: its
  // constants are set up once per line, not once per NR-wide strip)
  const bool late_act = pl.epi.act != GemmAct::None && (d.c_cs == 1 || d.c_rs == 1);
  for (int64_t pc = 0; pc < pl.kblocks; ++pc) {
    const int64_t p0 = pc * pl.kc, kcur = imin(pl.kc, K - p0), kp = cdiv(kcur, KP);
    const bool first = pc == 0, last = pc == pl.kblocks - 1 && !late_act;
    P* block = nullptr;
    if (pl.direct_b) {
      if (last_nr < NR)  // the partial last strip is padded into a local buffer
        pl.pack_b(d.b, bi * d.b_bs + p0 * d.b_rs + (j0 + (nstrips - 1) * NR), 1, d.b_rs, last_nr, kcur, bedge, true);
    } else {
      const int64_t Kp = cdiv(K, KP);  // K blocks hold a multiple of KP values but the last
      block = pl.bpack + bi * Kp * pl.npad + j0 * Kp + (p0 / KP) * ncpad;
      ensure_packed(pl, bi, jb, pc, j0, ncur, p0, kcur, block);
    }
    // the kernel writes C itself when the epilogue of this K block is a plain store or add
    const T alpha = pl.epi.alpha, beta = pl.epi.beta;
    const bool direct_c = d.c_cs == 1 && alpha == T(1) && (!first || beta == T(0) || beta == T(1));
    const bool acc = !first || beta == T(1);
    // row panels of balanced heights (17 rows: 9 + 8, not 14 + 3): short panels re-read B
    // for few FMAs
    const int64_t npanels = cdiv(mcur, MR), base_h = mcur / npanels, tall = mcur % npanels;
    for (int64_t r = 0, is = 0; r < npanels; ++r) {
      const int64_t mr = base_h + (r < tall ? 1 : 0), next_is = is + mr;
      pl.pack_a(d.a, aoff + is * d.a_rs + p0 * d.a_cs, d.a_rs, d.a_cs, mr, kcur, abuf, false);
      const MicroFn<T, P> kern = L::kernel(mr);
      T* Cr = C + is * d.c_rs;
      const T* rbias = bias && pl.epi.bias_rows ? bias + is : nullptr;
      // the next A panel's source is fetched into L2 in slices while this one computes (its
      // rows are short strided streams the hardware prefetchers pick up late)
      const int64_t next_rows = r + 1 < npanels ? base_h + (r + 1 < tall ? 1 : 0) : 0;
      const char* next_a = static_cast<const char*>(d.a) + (aoff + next_is * d.a_rs + p0 * d.a_cs) * pl.in_size;
      const int64_t line_elems = 64 / pl.in_size, row_lines = cdiv(kcur, line_elems);
      const bool prefetch = next_rows > 0 && d.a_cs == 1;
      const int64_t lines_per_strip = prefetch ? cdiv(next_rows * row_lines, nstrips) : 0;
      int64_t pf = 0;
      for (int64_t s = 0; s < nstrips; ++s) {
        for (int64_t l = 0; l < lines_per_strip && pf < next_rows * row_lines; ++l, ++pf)
          __builtin_prefetch(next_a + ((pf / row_lines) * d.a_rs + (pf % row_lines) * line_elems) * pl.in_size, 0, 2);
        const int64_t js = s * NR, nr = imin(NR, ncur - js);
        const P* bp = block ? block + s * kp * NR : nr == NR ? bdirect + p0 * d.b_rs + js : bedge;
        const int64_t bs = block || nr < NR ? NR : d.b_rs;
        const T* cbias = bias && !pl.epi.bias_rows ? bias + js : rbias;
        if (direct_c && nr == NR) {
          T* Ct = Cr + js;
          kern(kp, abuf, bp, bs, Ct, d.c_rs, acc);
          if ((first && bias) || (last && pl.epi.act != GemmAct::None))
            for (int64_t i = 0; i < mr; ++i) {
              T* row = Ct + i * d.c_rs;
              if (first && cbias && !pl.epi.bias_rows)
                for (int64_t j = 0; j < NR; ++j) row[j] += cbias[j];
              if (first && rbias)
                for (int64_t j = 0; j < NR; ++j) row[j] += rbias[i];
              if (last) apply_act(row, NR, pl.epi.act, pl.epi.pre ? at_offset(row, pl.epi.pre) : nullptr);
            }
        } else {
          kern(kp, abuf, bp, bs, tile, NR, false);
          merge(tile, NR, Cr + js * d.c_cs, d.c_rs, d.c_cs, mr, nr, pl.epi, cbias, first, last);
        }
      }
      is = next_is;
    }
  }
  if (late_act) {
    const bool rows = d.c_cs == 1;
    const int64_t lines = rows ? mcur : ncur, len = rows ? ncur : mcur, step = rows ? d.c_rs : d.c_cs;
    for (int64_t l = 0; l < lines; ++l) {
      T* line = C + l * step;
      apply_act(line, len, pl.epi.act, pl.epi.pre ? at_offset(line, pl.epi.pre) : nullptr);
    }
  }
}

template <class T, class L>
void worker(Plan<T, L>& pl) {
  alignas(64) typename L::P abuf[kMR * L::KC / L::KP];
  alignas(64) typename L::P bedge[kNR<T> * L::KC / L::KP];
  alignas(64) T tile[kMR * kNR<T>];
  for (;;) {
    const int64_t u = __atomic_fetch_add(&pl.next, 1, __ATOMIC_RELAXED);
    if (u >= pl.units) break;
    run_unit(pl, u, abuf, bedge, tile);
  }
}

// Splits C into units for nt threads: column blocks of whole NR strips, at most what keeps a
// (kc x nc) block of packed B in half of L2, and row blocks of any height (a unit cuts its rows
// into balanced panels of at most MR). Among the splits, the one with the least estimated time
// wins, counting the threads' makespan in whole units (units are claimed dynamically), the
// kernel's efficiency at the panel height, each unit's A packing and B streaming, and a margin
// for uneven cores when there are few units per thread. Costs are in cycles of one core.
template <class T, class L>
void choose_blocks(Plan<T, L>& pl, int64_t M, int64_t N, int64_t K, int64_t B, int nt) {
  constexpr int64_t MR = kMR, NR = kNR<T>;
  const int64_t kc_bytes = imax(cdiv(pl.kc, L::KP), 1) * int64_t(sizeof(typename L::P));
  const int64_t nc_max = imax(NR, (int64_t(512) << 10) / kc_bytes / NR * NR);
  const int64_t ns = cdiv(N, NR), nb_min = cdiv(N, nc_max);
  int64_t best_mb = 1, best_nb = nb_min;
  if (nt > 1 && B * nb_min < 4 * nt) {
    const double fma_per_cycle = 64.0 / double(sizeof(T));  // two 256-bit FMA pipes
    const double kk = double(K > 0 ? K : 1);
    double best = -1;
    for (int64_t mb = 1; mb <= imin(M, 16 * nt); ++mb) {
      const int64_t rows = cdiv(M, mb);
      if (mb > 1 && rows == cdiv(M, mb - 1)) continue;  // same split as mb - 1
      const double h = double(rows) / double(cdiv(rows, MR));  // panel height
      const int64_t mblocks = cdiv(M, rows);
      for (int64_t nb = nb_min; nb <= imin(ns, 16 * nt); ++nb) {
        if (nb > nb_min && cdiv(ns, nb) == cdiv(ns, nb - 1)) continue;
        const int64_t cols = cdiv(ns, nb) * NR;
        const int64_t units = B * mblocks * cdiv(ns, cdiv(ns, nb));
        if (units > 16 * nt) break;
        const double unit = double(rows) * double(cols) * kk / fma_per_cycle * (h + 1.5) / h +
                            double(rows) * kk + double(cols) * kk / 4 + 2000;
        // few units per thread: a core slowed by other work cannot hand any off
        const double t = double(cdiv(units, nt)) * unit * (1 + 0.1 * double(nt) / double(units));
        if (best < 0 || t < best) {
          best = t;
          best_mb = mb;
          best_nb = nb;
        }
      }
    }
  }
  pl.mc = cdiv(M, best_mb);
  pl.mblocks = cdiv(M, pl.mc);
  pl.nc = cdiv(ns, best_nb) * NR;
  pl.nblocks = cdiv(N, pl.nc);
}

// Whether kc rows `stride` bytes apart (a B strip read in place, one line per row) stay in a
// 32 KB 8-way L1: a stride that is a multiple of a large power of two maps every row to the same
// few sets (N = 512 floats: 2 sets, 16 lines), so the strip is re-read from L2 on every pass.
inline bool rows_fit_l1(int64_t stride, int64_t kc) {
  if (stride % 64 != 0) return true;  // rows straddle lines: the sets spread
  int64_t lines = stride / 64, g = 64;
  while (lines % 2 == 0 && g > 1) lines /= 2, g /= 2;  // g = 64 / gcd(stride / 64, 64): sets hit
  return g * 8 >= kc;
}

inline int threads_for(const GemmDesc& d, double flops) {
  if (flops < double(kParallelFlops) || in_parallel_region()) return 1;
  return d.threads > 0 ? d.threads : num_threads();
}

template <class T, class L>
void gemm_packed(const GemmDesc& d, PackFn<typename L::P> pack_a, PackFn<typename L::P> pack_b, int64_t in_size,
                 bool bias_rows) {
  using P = typename L::P;
  const bool same_type = std::is_same_v<P, T> && in_size == int64_t(sizeof(T));
  constexpr int MR = kMR, NR = kNR<T>;
  const int64_t M = d.m, N = d.n, K = d.k, B = d.batch;
  Plan<T, L> pl{};
  pl.d = &d;
  pl.pack_a = pack_a;
  pl.pack_b = pack_b;
  pl.in_size = in_size;
  pl.c = static_cast<T*>(d.c);
  pl.epi = {T(d.alpha), T(d.beta), static_cast<const T*>(d.bias), bias_rows, d.act, d.pre_act};

  pl.kblocks = K == 0 ? 1 : cdiv(K, L::KC);
  pl.kc = K == 0 ? 0 : round_up(cdiv(K, pl.kblocks), L::KP);
  const int nt = threads_for(d, 2.0 * double(B) * double(M) * double(N) * double(K));
  // few rows of A (each B element used by at most 4 panels: packing B would cost more than
  // the strided reads it saves) or a small B whose rows do not collide in L1: read B in place
  pl.direct_b = same_type && d.b_cs == 1 &&
                (M <= 4 * MR || (K * N * int64_t(sizeof(T)) <= (int64_t(256) << 10) &&
                                 rows_fit_l1(d.b_rs * int64_t(sizeof(T)), pl.kc)));

  choose_blocks<T, L>(pl, M, N, K, B, nt);
  pl.units = B * pl.nblocks * pl.mblocks;
  pl.npad = round_up(N, NR);
  pl.spb = pl.nc / NR;

  if (!pl.direct_b) {
    const int64_t pack_bytes = B * cdiv(K, L::KP) * pl.npad * int64_t(sizeof(P));
    const int64_t nflags = B * pl.nblocks * pl.kblocks * pl.spb;
    char* ws = static_cast<char*>(t_ws.get(size_t(pack_bytes + nflags + 64)));
    pl.bpack = reinterpret_cast<P*>(ws);
    pl.flags = reinterpret_cast<uint8_t*>(ws + pack_bytes);
    std::memset(pl.flags, 0, size_t(nflags));
  }
  pl.next = 0;
  const int64_t nworkers = imin(nt, pl.units);
  if (nworkers <= 1) {
    worker(pl);
  } else {
    parallel_for(0, nworkers, 1, [&](int64_t, int64_t) { worker(pl); });
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix-vector products (M == 1 or N == 1): y[r] = sum_k mat[r, k] x[k] for R outputs, streamed
// without packing. Rows of mat contiguous -> dot products; columns contiguous -> axpy sweeps.
template <class T>
T hsum(Vec<T> v) {
  T l[kLanes<T>];
  storeu<T>(l, v);
  T s = 0;
  for (int i = 0; i < kLanes<T>; ++i) s += l[i];
  return s;
}

template <class T>
void gemv_dot(const T* __restrict m, int64_t rs, const T* __restrict x, int64_t K, int64_t n, T* __restrict y) {
  constexpr int W = kLanes<T>;
  int64_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const T *r0 = m + r * rs, *r1 = r0 + rs, *r2 = r1 + rs, *r3 = r2 + rs;
    Vec<T> a0 = bcast(T(0)), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + W <= K; k += W) {
      const Vec<T> xv = loadu<T>(x + k);
      a0 = vfma(loadu<T>(r0 + k), xv, a0);
      a1 = vfma(loadu<T>(r1 + k), xv, a1);
      a2 = vfma(loadu<T>(r2 + k), xv, a2);
      a3 = vfma(loadu<T>(r3 + k), xv, a3);
    }
    T s0 = hsum<T>(a0), s1 = hsum<T>(a1), s2 = hsum<T>(a2), s3 = hsum<T>(a3);
    for (; k < K; ++k) {
      s0 += r0[k] * x[k];
      s1 += r1[k] * x[k];
      s2 += r2[k] * x[k];
      s3 += r3[k] * x[k];
    }
    y[r] = s0;
    y[r + 1] = s1;
    y[r + 2] = s2;
    y[r + 3] = s3;
  }
  for (; r < n; ++r) {
    const T* r0 = m + r * rs;
    Vec<T> a0 = bcast(T(0)), a1 = a0;
    int64_t k = 0;
    for (; k + 2 * W <= K; k += 2 * W) {
      a0 = vfma(loadu<T>(r0 + k), loadu<T>(x + k), a0);
      a1 = vfma(loadu<T>(r0 + k + W), loadu<T>(x + k + W), a1);
    }
    T s = hsum<T>(a0) + hsum<T>(a1);
    for (; k < K; ++k) s += r0[k] * x[k];
    y[r] = s;
  }
}

template <class T>
void gemv_axpy(const T* __restrict m, int64_t cs, const T* __restrict x, int64_t K, int64_t n, T* __restrict y) {
  constexpr int W = kLanes<T>;
  for (int64_t r = 0; r < n; ++r) y[r] = T(0);
  constexpr int S = 8;  // columns per sweep: an eighth of the y traffic (y stays in L1)
  int64_t k = 0;
  for (; k + S <= K; k += S) {
    const T* c0 = m + k * cs;
    Vec<T> xv[S];
#pragma GCC unroll 8
    for (int q = 0; q < S; ++q) xv[q] = bcast(x[k + q]);
    int64_t r = 0;
    for (; r + W <= n; r += W) {
      Vec<T> v = loadu<T>(y + r);
#pragma GCC unroll 8
      for (int q = 0; q < S; ++q) v = vfma(loadu<T>(c0 + q * cs + r), xv[q], v);
      storeu<T>(y + r, v);
    }
    for (; r < n; ++r)
      for (int q = 0; q < S; ++q) y[r] += c0[q * cs + r] * x[k + q];
  }
  for (; k < K; ++k) {
    const T* c0 = m + k * cs;
    for (int64_t r = 0; r < n; ++r) y[r] += c0[r] * x[k];
  }
}

// True when handled (f32/f64 with a unit stride in the matrix operand).
template <class T>
bool gemv(const GemmDesc& d) {
  const bool row = d.m == 1;  // C row = x^T @ B: mat = B^T
  const int64_t R = row ? d.n : d.m, K = d.k;
  const int64_t rs = row ? d.b_cs : d.a_rs, cs = row ? d.b_rs : d.a_cs;
  const int64_t mat_bs = row ? d.b_bs : d.a_bs, xs = row ? d.a_cs : d.b_rs, x_bs = row ? d.a_bs : d.b_bs;
  const T* mat = static_cast<const T*>(row ? d.b : d.a);
  const T* xp = static_cast<const T*>(row ? d.a : d.b);
  if (K == 0 || (cs != 1 && rs != 1) || (cs == 1 && rs == 1 && R > 1 && K > 1)) return false;
  const bool dots = cs == 1;

  const int nt = threads_for(d, 2.0 * double(d.batch) * double(R) * double(K));
  const Epi<T> epi{T(d.alpha), T(d.beta), static_cast<const T*>(d.bias), false, d.act, d.pre_act};
  T* C = static_cast<T*>(d.c);
  // Axpy sweeps with few outputs and batches: split K instead of the outputs, so each thread
  // streams whole contiguous columns; the partial sums are added at the end.
  const bool ksplit = !dots && nt > 1 && d.batch < nt && R <= 65536 && K >= 16 * nt;
  const int64_t kparts = ksplit ? nt : 1;

  // workspace: x gathered when strided, partial sums of the K split
  const int64_t xn = xs != 1 ? round_up(d.batch * K, 16) : 0, pn = ksplit ? d.batch * kparts * R : 0;
  T* ws = xn + pn ? static_cast<T*>(t_ws.get(size_t(xn + pn) * sizeof(T))) : nullptr;
  T* xbuf = xn ? ws : nullptr;
  if (xbuf)
    for (int64_t b = 0; b < d.batch; ++b)
      for (int64_t k = 0; k < K; ++k) xbuf[b * K + k] = xp[b * x_bs + k * xs];
  auto output = [&](const T* y, int64_t b, int64_t r0, int64_t n) {
    T* c = C + b * d.c_bs;
    if (row)  // outputs along C's row: one row of n columns
      merge<T>(y, n, c + r0 * d.c_cs, d.c_rs, d.c_cs, 1, n, epi, epi.bias ? epi.bias + r0 : nullptr, true, true);
    else  // outputs down C's column: n rows of one column
      merge<T>(y, 1, c + r0 * d.c_rs, d.c_rs, 1, n, 1, epi, epi.bias, true, true);
  };

  if (ksplit) {
    T* part = ws + xn;
    const int64_t klen = round_up(cdiv(K, kparts), 8);
    parallel_for(0, d.batch * kparts, 1, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t b = u / kparts, k0 = (u % kparts) * klen, kl = imin(klen, K - k0);
        const T* x = xbuf ? xbuf + b * K : xp + b * x_bs;
        if (kl > 0)
          gemv_axpy<T>(mat + b * mat_bs + k0 * cs, cs, x + k0, kl, R, part + u * R);
        else
          for (int64_t r = 0; r < R; ++r) part[u * R + r] = T(0);
      }
    });
    for (int64_t b = 0; b < d.batch; ++b) {
      T* y = part + b * kparts * R;
      for (int64_t q = 1; q < kparts; ++q)
        for (int64_t r = 0; r < R; ++r) y[r] += y[q * R + r];
      output(y, b, 0, R);
    }
    return true;
  }

  // one thread: long chunks (axpy sweeps then read long contiguous runs of each column: a
  // 4096-wide chunk streams a 4096-column matrix row by row, 16 KB of y staying in L1)
  constexpr int64_t kChunk = 4096;
  const int64_t chunk = nt <= 1 ? imin(kChunk, R) : imin(512, imax(16, round_up(cdiv(R, 4 * int64_t(nt)), 16)));
  const int64_t nchunks = cdiv(R, chunk), units = d.batch * nchunks;

  auto body = [&](int64_t u0, int64_t u1) {
    alignas(64) T y[kChunk];
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / nchunks, r0 = (u % nchunks) * chunk, n = imin(chunk, R - r0);
      const T* x = xbuf ? xbuf + b * K : xp + b * x_bs;
      const T* m = mat + b * mat_bs + r0 * rs;
      if (dots)
        gemv_dot<T>(m, rs, x, K, n, y);
      else
        gemv_axpy<T>(m, cs, x, K, n, y);
      output(y, b, r0, n);
    }
  };
  if (nt <= 1 || units <= 1)
    body(0, units);
  else
    parallel_for(0, units, cdiv(units, 4 * int64_t(nt)), body);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Few columns (N < NR) with rows of A contiguous along K: C[i, j] = dot(A[i, :], B[:, j]). B^T
// (N x K, a few KB) is packed once and stays in L1/L2; A is read in place, never packed or
// transposed. Blocks of up to 4 rows x 2 columns of C accumulate in registers (6 loads per 8
// FMAs); narrow blocks split K in two accumulator sets so enough FMA chains are in flight.
template <class T, int R, int C>
void dot_block(const T* __restrict a, int64_t lda, const T* __restrict bt, int64_t ldb, int64_t K, T* __restrict out,
               int64_t ldo) {
  using V = Vec<T>;
  constexpr int W = kLanes<T>, U = R * C < 8 ? 2 : 1;
  V acc[U][R][C];
#pragma GCC unroll 2
  for (int u = 0; u < U; ++u)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int c = 0; c < C; ++c) acc[u][r][c] = bcast(T(0));
  int64_t k = 0;
  for (; k + U * W <= K; k += U * W)
#pragma GCC unroll 2
    for (int u = 0; u < U; ++u) {
      V av[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) av[r] = loadu<T>(a + r * lda + k + u * W);
#pragma GCC unroll 2
      for (int c = 0; c < C; ++c) {
        const V bv = loadu<T>(bt + c * ldb + k + u * W);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[u][r][c] = vfma(av[r], bv, acc[u][r][c]);
      }
    }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      T s = hsum<T>(acc[0][r][c]);
      if constexpr (U > 1) s += hsum<T>(acc[U - 1][r][c]);
      for (int64_t q = k; q < K; ++q) s += a[r * lda + q] * bt[c * ldb + q];
      out[r * ldo + c] = s;
    }
}

template <class T, int R>
void dot_rows(const T* a, int64_t lda, const T* bt, int64_t ldb, int64_t K, int64_t N, T* out, int64_t ldo) {
  int64_t j = 0;
  for (; j + 2 <= N; j += 2) dot_block<T, R, 2>(a, lda, bt + j * ldb, ldb, K, out + j, ldo);
  if (j < N) dot_block<T, R, 1>(a, lda, bt + j * ldb, ldb, K, out + j, ldo);
}

// True when handled: f32/f64, N < NR, A's rows contiguous along K.
template <class T>
bool gemm_narrow(const GemmDesc& d) {
  constexpr int64_t kRows = 32;  // rows of C per work unit
  const int64_t M = d.m, N = d.n, K = d.k, B = d.batch;
  if (N >= kNR<T> || d.a_cs != 1 || K < 2 * kLanes<T>) return false;
  const bool shared_b = d.b_bs == 0 || B == 1;  // one B^T for every batch
  const int64_t nb = shared_b ? 1 : B;
  if (nb * N * K * int64_t(sizeof(T)) > kPackCapBytes) return false;
  T* bt = static_cast<T*>(t_ws.get(size_t(nb * N * K) * sizeof(T)));
  const T* bsrc = static_cast<const T*>(d.b);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t j = 0; j < N; ++j) {
      T* dst = bt + (b * N + j) * K;
      const T* src = bsrc + b * d.b_bs + j * d.b_cs;
      for (int64_t k = 0; k < K; ++k) dst[k] = src[k * d.b_rs];
    }
  const Epi<T> epi{T(d.alpha), T(d.beta), static_cast<const T*>(d.bias), false, d.act, d.pre_act};
  const T* A = static_cast<const T*>(d.a);
  T* Cm = static_cast<T*>(d.c);
  const int64_t rblocks = cdiv(M, kRows), units = B * rblocks;
  auto body = [&](int64_t u0, int64_t u1) {
    alignas(64) T tile[kRows * kNR<T>];
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / rblocks, i0 = (u % rblocks) * kRows, mr = imin(kRows, M - i0);
      const T* a = A + b * d.a_bs + i0 * d.a_rs;
      const T* btb = bt + (shared_b ? 0 : b * N * K);
      int64_t i = 0;
      for (; i + 4 <= mr; i += 4) dot_rows<T, 4>(a + i * d.a_rs, d.a_rs, btb, K, K, N, tile + i * N, N);
      switch (mr - i) {
        case 3: dot_rows<T, 3>(a + i * d.a_rs, d.a_rs, btb, K, K, N, tile + i * N, N); break;
        case 2: dot_rows<T, 2>(a + i * d.a_rs, d.a_rs, btb, K, K, N, tile + i * N, N); break;
        case 1: dot_rows<T, 1>(a + i * d.a_rs, d.a_rs, btb, K, K, N, tile + i * N, N); break;
        default: break;
      }
      merge<T>(tile, N, Cm + b * d.c_bs + i0 * d.c_rs, d.c_rs, d.c_cs, mr, N, epi, epi.bias, true, true);
    }
  };
  const int nt = threads_for(d, 2.0 * double(B) * double(M) * double(N) * double(K));
  if (nt <= 1 || units <= 1)
    body(0, units);
  else
    parallel_for(0, units, cdiv(units, 4 * int64_t(nt)), body);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Packed path, with the packed-B workspace bounded: the batch, or the columns of one huge
// product, are split into passes.
template <class In, class T>
void run_packed(const GemmDesc& d, bool bias_rows) {
  constexpr bool same = std::is_same_v<In, T>;
  const int64_t npad = round_up(d.n, kNR<T>);
  const int64_t per_batch = d.k * npad * int64_t(sizeof(T));
  if (per_batch * d.batch > kPackCapBytes && !(same && d.b_cs == 1 && d.m <= 4 * kMR)) {
    GemmDesc s = d;
    if (d.batch > 1) {
      const int64_t g = imax(1, kPackCapBytes / imax(per_batch, 1));
      for (int64_t b0 = 0; b0 < d.batch; b0 += g) {
        s.batch = imin(g, d.batch - b0);
        s.a = static_cast<const In*>(d.a) + b0 * d.a_bs;
        s.b = static_cast<const In*>(d.b) + b0 * d.b_bs;
        s.c = static_cast<T*>(d.c) + b0 * d.c_bs;
        run_packed<In, T>(s, bias_rows);
      }
      return;
    }
    const int64_t w = imax(kNC<T>, kPackCapBytes / imax(d.k * int64_t(sizeof(T)), 1) / kNC<T> * kNC<T>);
    if (w < d.n) {
      for (int64_t j0 = 0; j0 < d.n; j0 += w) {
        s.n = imin(w, d.n - j0);
        s.b = static_cast<const In*>(d.b) + j0 * d.b_cs;
        s.c = static_cast<T*>(d.c) + j0 * d.c_cs;
        if (d.bias && !bias_rows) s.bias = static_cast<const T*>(d.bias) + j0;
        run_packed<In, T>(s, bias_rows);
      }
      return;
    }
  }
#if defined(EMBER_GEMM_BF16_DOT)
  if constexpr (std::is_same_v<In, BF16>) {
    if (has_bf16_dot())
      return gemm_packed<T, Bf16PairLayout>(d, &pack_pairs<kMR>, &pack_pairs<kNR<T>>, int64_t(sizeof(In)),
                                            bias_rows);
  }
#endif
  gemm_packed<T, PlainLayout<T>>(d, &pack<kMR, In, T>, &pack<kNR<T>, In, T>, int64_t(sizeof(In)), bias_rows);
}

template <class In, class T>
void run(const GemmDesc& d) {
  if constexpr (std::is_same_v<In, T>) {
    if ((d.m == 1 || d.n == 1) && gemv<T>(d)) return;
    if (gemm_narrow<T>(d)) return;
  }
  // Narrow C (N well below NR): compute C^T = B^T A^T instead, so the short side runs down the
  // kernel's rows, where every count is exact (columns come in multiples of NR).
  constexpr int64_t NR = kNR<T>;
  if (d.n < NR && d.m > d.n && round_up(d.n, NR) * d.m * 10 > round_up(d.m, NR) * d.n * 13) {
    GemmDesc s = d;
    s.m = d.n;
    s.n = d.m;
    s.a = d.b;
    s.a_bs = d.b_bs;
    s.a_rs = d.b_cs;
    s.a_cs = d.b_rs;
    s.b = d.a;
    s.b_bs = d.a_bs;
    s.b_rs = d.a_cs;
    s.b_cs = d.a_rs;
    s.c_rs = d.c_cs;
    s.c_cs = d.c_rs;
    return run_packed<In, T>(s, true);
  }
  run_packed<In, T>(d, false);
}

}  // namespace

void gemm_run(const GemmDesc& d) {
  if (d.m <= 0 || d.n <= 0 || d.batch <= 0) return;
  switch (d.in) {
    case GemmIn::F32: return run<float, float>(d);
    case GemmIn::F64: return run<double, double>(d);
    case GemmIn::F16: return run<F16, float>(d);
    case GemmIn::BF16: return run<BF16, float>(d);
  }
}

}  // namespace ember::cpu::EMBER_ISA_NS
