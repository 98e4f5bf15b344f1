// Winograd F(4x4, 3x3) convolution kernels, compiled once per ISA: cmake/isa.cmake defines
// EMBER_ISA_NS and include this file. Everything lives in ember::cpu::EMBER_ISA_NS with helpers
// in an anonymous namespace (copies built with different flags must never be merged).
//
// Each 4x4 output tile is computed from a 6x6 input patch d and the 3x3 filter g as
//   y = A^T [ sum_c (G g G^T) .* (B^T d B) ] A,
// i.e. 36 independent channel reductions (one GEMM per transform position) between the input
// and output transforms. Tiles are processed in blocks of T (a few dozen) so the transformed
// block V[36][C][T] stays in L2; transforms are vectorized across the tiles of a block.
// The weight gradient runs the adjoints: dU[pos] = sum_tiles V[pos] (A dy A^T)[pos]^T, then
// dw = G^T dU G.
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "backend/cpu/threadpool.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace ember::cpu::EMBER_ISA_NS {
namespace {

// Vector of L floats and the GEMM register tile: MR rows (broadcast scalars) x NV vectors.
#if defined(__AVX512F__)
constexpr int L = 16, MR = 8, NV = 2;
#elif defined(__AVX2__)
constexpr int L = 8, MR = 6, NV = 2;
#else
constexpr int L = 4, MR = 4, NV = 2;
#endif
constexpr int S = L * NV;  // columns of the register tile (a "strip")
typedef float V __attribute__((vector_size(L * 4)));

inline V ld(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void st(float* p, V v) { std::memcpy(p, &v, sizeof v); }
inline V fma(V a, V b, V c) {
#if defined(__AVX512F__)
  return _mm512_fmadd_ps(a, b, c);
#elif defined(__AVX2__) && defined(__FMA__)
  return _mm256_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}
inline V splat(float s) {
#if defined(__AVX512F__)
  return _mm512_set1_ps(s);
#elif defined(__AVX2__)
  return _mm256_set1_ps(s);
#else
  V v;
  for (int i = 0; i < L; ++i) v[i] = s;
  return v;
#endif
}

constexpr int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }
constexpr int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
constexpr int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// ---------------------------------------------------------------------------------------------
// 1-D transforms (Lavin's F(4, 3), interpolation points 0, +-1, +-2, inf), on scalars or vectors.
// B^T: 6 inputs -> 6 transform values.
template <class X>
inline void in1d(X d0, X d1, X d2, X d3, X d4, X d5, X* v) {
  const X t1 = d4 - 4 * d2, t2 = d3 - 4 * d1, t3 = d4 - d2, t4 = 2 * (d3 - d1);
  v[0] = 4 * d0 - 5 * d2 + d4;
  v[1] = t1 + t2;
  v[2] = t1 - t2;
  v[3] = t3 + t4;
  v[4] = t3 - t4;
  v[5] = 4 * d1 - 5 * d3 + d5;
}
// A^T: 6 products -> 4 outputs.
template <class X>
inline void out1d(X m0, X m1, X m2, X m3, X m4, X m5, X* o) {
  const X a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
  o[0] = m0 + a + c;
  o[1] = b + 2 * d;
  o[2] = a + 4 * c;
  o[3] = b + 8 * d + m5;
}
// A (adjoint of out1d): 4 output gradients -> 6 product gradients.
template <class X>
inline void out1d_adj(X o0, X o1, X o2, X o3, X* m) {
  const X e = o0 + o2, f = o1 + o3, g = o0 + 4 * o2, h = 2 * o1 + 8 * o3;
  m[0] = o0;
  m[1] = e + f;
  m[2] = e - f;
  m[3] = g + h;
  m[4] = g - h;
  m[5] = o3;
}
// G: 3 filter taps -> 6 transform values (multiplications by reciprocals: divisions are slow).
template <class X>
inline void w1d(X g0, X g1, X g2, X* u) {
  const X s6 = X(1) / 6, s12 = X(1) / 12, s24 = X(1) / 24;
  const X a = (g0 + g2) * s6, b = g1 * s6, c = g0 * s24 + g2 * s6, d = g1 * s12;
  u[0] = g0 * X(0.25);
  u[1] = -a - b;
  u[2] = b - a;
  u[3] = c + d;
  u[4] = c - d;
  u[5] = g2;
}
// G^T (adjoint of w1d): 6 transform gradients -> 3 tap gradients.
template <class X>
inline void w1d_adj(const X* u, X* g) {
  const X s6 = X(1) / 6, s12 = X(1) / 12, s24 = X(1) / 24;
  g[0] = u[0] * X(0.25) - (u[1] + u[2]) * s6 + (u[3] + u[4]) * s24;
  g[1] = (u[2] - u[1]) * s6 + (u[3] - u[4]) * s12;
  g[2] = (u[3] + u[4] - u[1] - u[2]) * s6 + u[5];
}

// w1d on vectors of MR filters side by side (VM: MR floats rounded up to a power of two).
constexpr int MRV = MR <= 4 ? 4 : MR <= 8 ? 8 : 16;
typedef float VM __attribute__((vector_size(MRV * 4)));
inline void w1d_vec(VM g0, VM g1, VM g2, VM* u) {
  const float s6 = 1.f / 6, s12 = 1.f / 12, s24 = 1.f / 24;
  const VM a = (g0 + g2) * s6, b = g1 * s6, c = g0 * s24 + g2 * s6, d = g1 * s12;
  u[0] = g0 * 0.25f;
  u[1] = -a - b;
  u[2] = b - a;
  u[3] = c + d;
  u[4] = c - d;
  u[5] = g2;
}

// The output-gradient transform A dy A^T over n (a multiple of L) problems side by side:
// element p of problem i is at src[p * ss + i], result q at dst[q * ds + i].
void output_adj_tf(const float* src, int64_t ss, float* dst, int64_t ds, int64_t n) {
  for (int64_t i = 0; i < n; i += L) {
    V r[4][6];
    for (int y = 0; y < 4; ++y) {
      const float* s = src + y * 4 * ss + i;
      out1d_adj(ld(s), ld(s + ss), ld(s + 2 * ss), ld(s + 3 * ss), r[y]);
    }
    for (int x = 0; x < 6; ++x) {
      V m[6];
      out1d_adj(r[0][x], r[1][x], r[2][x], r[3][x], m);
      for (int y = 0; y < 6; ++y) st(dst + (y * 6 + x) * ds + i, m[y]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Register-tile kernel: c[i][j] (+)= sum_{p < steps} a(i, p) * b[p * bs + j] for i < MR, j < S.
// a is packed (a[p * MR + i]) or a row-major block with row stride ars (a[i * ars + p]).
template <bool Packed, bool Acc>
void micro(int64_t steps, const float* __restrict a, int64_t ars, const float* __restrict b, int64_t bs,
           float* __restrict c, int64_t ldc) {
  V t[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) t[i][v] = V{};
#pragma GCC unroll 2
  for (int64_t p = 0; p < steps; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = ld(b + p * bs + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V ai = splat(Packed ? a[p * MR + i] : a[i * ars + p]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) t[i][v] = fma(ai, bv[v], t[i][v]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* p = c + i * ldc + v * L;
      st(p, Acc ? ld(p) + t[i][v] : t[i][v]);
    }
}

// ---------------------------------------------------------------------------------------------
// Per-thread scratch, grown on demand and kept between calls.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t count) {
    if (count > n) {
      if (p) ::operator delete(p, std::align_val_t(64));
      p = static_cast<float*>(::operator new(count * sizeof(float), std::align_val_t(64)));
      n = count;
    }
    return p;
  }
  ~Scratch() {
    if (p) ::operator delete(p, std::align_val_t(64));
  }
};
thread_local Scratch t_scratch;
// The calling thread's buffer for the transformed weights (forward) or their gradient sums: kept
// between calls, since a fresh buffer of tens of MB is mapped page by page on first touch,
// which costs as much as the transform itself (512->512: 38 MB).
thread_local Scratch t_weights;

// The problem and its tiling. Tiles are numbered t = (n * th + ty) * tw + tx.
struct Geom {
  int64_t N, C, H, W, K, ph, pw, Ho, Wo, th, tw, tiles;
  Geom(int64_t N_, int64_t C_, int64_t H_, int64_t W_, int64_t K_, int64_t ph_, int64_t pw_)
      : N(N_), C(C_), H(H_), W(W_), K(K_), ph(ph_), pw(pw_) {
    Ho = H + 2 * ph - 2;
    Wo = W + 2 * pw - 2;
    th = cdiv(Ho, 4);
    tw = cdiv(Wo, 4);
    tiles = N * th * tw;
  }
};

// The stride between the 36 transform positions of a block holding n floats per position: n
// plus one cache line, so that the 36 values a transform writes (or reads) at once do not all
// map to the same L1 set (n is often a multiple of 4 KB: 64 channels x 64 tiles).
constexpr int64_t pos_stride(int64_t n) { return n + 16; }

// Tiles per block: the transformed block (36 x rows x T floats) within ~1 MB (L2 size), a whole
// number of strips, and at least two blocks per thread when the problem allows.
int64_t block_tiles(const Geom& g, int64_t rows) {
  int64_t t = (int64_t(1024) << 10) / (36 * 4 * imax(rows, 1)) / S * S;
  t = imax(S, imin(t, 4 * S));
  const int64_t per_thread = round_up(cdiv(g.tiles, 2 * int64_t(num_threads())), S);
  return imax(S, imin(t, per_thread));
}

// Where a tile reads and writes: offsets of its input patch origin (channel 0) and output tile,
// the patch origin (iy, ix) and the valid output rows and columns (0 for padding tiles). `run`
// marks the first of G = L / 4 tiles that sit side by side in one tile row (L input columns).
constexpr int G = L / 4;
struct TileRef {
  int64_t in, out, iy, ix, rows, cols;
  bool run;
};

void tile_refs(const Geom& g, int64_t t0, int64_t nt, int64_t T, TileRef* ref) {
  for (int64_t t = 0; t < T; ++t) {
    if (t >= nt) {  // padding tile: reads zeros, writes nothing
      ref[t] = {0, 0, -8, -8, 0, 0, false};
      continue;
    }
    const int64_t tile = t0 + t, tx = tile % g.tw, ty = tile / g.tw % g.th, n = tile / (g.tw * g.th);
    const int64_t iy = 4 * ty - g.ph, ix = 4 * tx - g.pw;
    ref[t] = {n * g.C * g.H * g.W + iy * g.W + ix, (n * g.K * g.Ho + 4 * ty) * g.Wo + 4 * tx, iy, ix,
              imin(4, g.Ho - 4 * ty), imin(4, g.Wo - 4 * tx), t % G == 0 && t + G <= nt && tx + G <= g.tw};
  }
}

// Lanes l of p[l] with lo <= l < hi (clamped to [0, L)), zeros elsewhere; p may point outside
// the array where the lanes are masked off.
inline V load_part(const float* p, int64_t lo, int64_t hi) {
  lo = imax(lo, 0);
  hi = imin(hi, L);
  if (lo == 0 && hi == L) return ld(p);
#if defined(__AVX512F__)
  const __mmask16 m = hi <= lo ? 0 : __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
  return _mm512_maskz_loadu_ps(m, p);
#elif defined(__AVX2__)
  const __m256i l = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(l, _mm256_set1_epi32(int(lo) - 1)),
                                     _mm256_cmpgt_epi32(_mm256_set1_epi32(int(hi)), l));
  return _mm256_maskload_ps(p, m);
#else
  V v = V{};
  for (int64_t l = lo; l < hi; ++l) v[l] = p[l];
  return v;
#endif
}
// Stores lanes [0, n) of v.
inline void store_part(float* p, V v, int64_t n) {
  if (n >= L) return st(p, v);
#if defined(__AVX512F__)
  _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), v);
#elif defined(__AVX2__)
  const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  _mm256_maskstore_ps(p, m, v);
#else
  for (int64_t l = 0; l < n; ++l) p[l] = v[l];
#endif
}

// 4-float pieces (one tile row's 4 values) and their assembly into / out of vectors of L.
typedef float V4 __attribute__((vector_size(16)));
typedef float V8 __attribute__((vector_size(32)));
template <int LL = L>  // (a template, so the branches for other widths are not compiled)
inline auto join(const V4* p) {  // p[0..L/4) side by side, as a V
  if constexpr (LL == 4) {
    return p[0];
  } else if constexpr (LL == 8) {
    return __builtin_shufflevector(p[0], p[1], 0, 1, 2, 3, 4, 5, 6, 7);
  } else {
    const V8 lo = __builtin_shufflevector(p[0], p[1], 0, 1, 2, 3, 4, 5, 6, 7);
    const V8 hi = __builtin_shufflevector(p[2], p[3], 0, 1, 2, 3, 4, 5, 6, 7);
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  }
}
template <int Q>
inline V4 piece(V v) {  // lanes 4Q..4Q+3
  return __builtin_shufflevector(v, v, 4 * Q, 4 * Q + 1, 4 * Q + 2, 4 * Q + 3);
}

// Given a0..a3 holding L groups of 4 values (group q at lanes 4q.. of the concatenation), the
// phase-J value of each group: result[q] = group q's value J (two-level shuffles).
template <int J, size_t... I>
inline V deinterleave(V a0, V a1, V a2, V a3, std::index_sequence<I...>) {
  const V s01 = __builtin_shufflevector(a0, a1, (J + 4 * (int(I) % (L / 2)))...);
  const V s23 = __builtin_shufflevector(a2, a3, (J + 4 * (int(I) % (L / 2)))...);
  return __builtin_shufflevector(s01, s23, (int(I) < L / 2 ? int(I) : int(I) + L / 2)...);
}
// Inverse: groups of (p0[q], p1[q], p2[q], p3[q]) for q < L, as 4 vectors o[0..3].
template <int Q0, size_t... I>
inline V quad(V a01, V a23, std::index_sequence<I...>) {  // groups Q0.. from pair-interleaved halves
  return __builtin_shufflevector(a01, a23, (int(I) % 4 < 2 ? 2 * (Q0 + int(I) / 4) + int(I) % 4
                                                            : L + 2 * (Q0 + int(I) / 4) + int(I) % 4 - 2)...);
}
template <size_t... I>
inline void interleave(V p0, V p1, V p2, V p3, V* o, std::index_sequence<I...> is) {
  const V lo01 = __builtin_shufflevector(p0, p1, ((int(I) % 2 ? L : 0) + int(I) / 2)...);
  const V hi01 = __builtin_shufflevector(p0, p1, ((int(I) % 2 ? L : 0) + L / 2 + int(I) / 2)...);
  const V lo23 = __builtin_shufflevector(p2, p3, ((int(I) % 2 ? L : 0) + int(I) / 2)...);
  const V hi23 = __builtin_shufflevector(p2, p3, ((int(I) % 2 ? L : 0) + L / 2 + int(I) / 2)...);
  o[0] = quad<0>(lo01, lo23, is);
  o[1] = quad<L / 4>(lo01, lo23, is);
  o[2] = quad<0>(hi01, hi23, is);
  o[3] = quad<L / 4>(hi01, hi23, is);
}
using Lanes = std::make_index_sequence<L>;

// Transforms channel c's 6x6 patches of L tiles (refs ref[0..L)) into v[pos * vs] (L floats
// each). Per patch row, columns 0-3 and 4-7 (4-5 used) of the tiles are loaded as 4 + 4 vectors
// (straight loads for runs of G tiles side by side, masked at the image edges; else assembled
// from 4-float pieces), split into 6 column vectors by shuffles and transformed; then the
// columns are transformed. All in registers: staging through memory stalls store forwarding.
void input_chunk(const Geom& g, const float* xc, const TileRef* ref, float* v, int64_t vs) {
  V R[6][6];
  for (int r = 0; r < 6; ++r) {
    V a[4], b[4];
    for (int m = 0; m < 4; ++m) {
      const TileRef* f = ref + m * G;
      if (f->run) {  // G tiles side by side: columns 0-3 of each are L consecutive values
        const int64_t iy = f->iy + r;
        if (iy < 0 || iy >= g.H) {
          a[m] = b[m] = V{};
        } else {
          const float* s = xc + (f->in + r * g.W);
          a[m] = load_part(s, -f->ix, g.W - f->ix);
          b[m] = load_part(s + 4, -f->ix - 4, g.W - f->ix - 4);
        }
        continue;
      }
      V4 p0[G], p4[G];
      for (int q = 0; q < G; ++q) {
        const int64_t iy = f[q].iy + r, ix = f[q].ix;
        if (iy < 0 || iy >= g.H) {
          p0[q] = p4[q] = V4{};
        } else {  // columns outside the image are zero padding
          const float* s = xc + (f[q].in + r * g.W);
          auto at = [&](int j) { return ix + j >= 0 && ix + j < g.W ? s[j] : 0.f; };
          p0[q] = V4{at(0), at(1), at(2), at(3)};
          p4[q] = V4{at(4), at(5), 0.f, 0.f};
        }
      }
      a[m] = join(p0);
      b[m] = join(p4);
    }
    const V a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
    in1d(deinterleave<0>(a0, a1, a2, a3, Lanes{}), deinterleave<1>(a0, a1, a2, a3, Lanes{}),
         deinterleave<2>(a0, a1, a2, a3, Lanes{}), deinterleave<3>(a0, a1, a2, a3, Lanes{}),
         deinterleave<0>(b0, b1, b2, b3, Lanes{}), deinterleave<1>(b0, b1, b2, b3, Lanes{}), R[r]);
  }
  for (int x = 0; x < 6; ++x) {
    V c[6];
    in1d(R[0][x], R[1][x], R[2][x], R[3][x], R[4][x], R[5][x], c);
    for (int y = 0; y < 6; ++y) st(v + (y * 6 + x) * vs, c[y]);
  }
}

// Vb[pos][c][t] (row stride T, position stride ps) for channels c < C of a block. The
// block's input rows (one span per tile row) are prefetched a channel ahead: the planes are far
// apart and each is read in short pieces, which the hardware prefetchers miss.
void transform_block(const Geom& g, const float* x, const TileRef* ref, int64_t T, int64_t ps, float* Vb) {
  int64_t lo[64], hi[64], nspans = 0;
  for (int64_t t = 0; t < T && ref[t].rows > 0; ++t) {
    const int64_t row0 = ref[t].in - ref[t].ix - ref[t].iy * g.W;  // image start
    const int64_t a = row0 + imax(ref[t].iy, 0) * g.W, b = row0 + imin(ref[t].iy + 6, g.H) * g.W;
    if (nspans > 0 && a <= hi[nspans - 1] && a >= lo[nspans - 1]) {
      hi[nspans - 1] = imax(hi[nspans - 1], b);
    } else if (nspans < 64) {
      lo[nspans] = a;
      hi[nspans++] = b;
    }
  }
  int64_t lines = 0;
  for (int64_t s = 0; s < nspans; ++s) lines += cdiv(hi[s] - lo[s], 16);
  const int64_t hw = g.H * g.W, chunks = T / L, per_chunk = cdiv(lines, chunks);
  for (int64_t c = 0; c < g.C; ++c) {
    // spread over the chunks: a burst of prefetches would fill the miss queue and stall
    int64_t s = 0, e = nspans > 0 ? lo[0] : 0;
    const float* next = x + (c + 1) * hw;
    for (int64_t t = 0; t < T; t += L) {
      for (int64_t i = 0; i < per_chunk && c + 1 < g.C && s < nspans; ++i) {
        __builtin_prefetch(next + e, 0, 3);
        e += 16;
        if (e >= hi[s] && ++s < nspans) e = lo[s];
      }
      input_chunk(g, x + c * hw, ref + t, Vb + c * T + t, ps);
    }
  }
}

// Writes one tile row (4 values, `cols` of them valid).
inline void put_row(float* d, V4 v, int64_t cols) {
  if (cols == 4) {
    std::memcpy(d, &v, 16);
  } else {
    for (int64_t j = 0; j < cols; ++j) d[j] = v[j];
  }
}

// y tiles of output channel k for L tiles from their 36 products m[pos * ms] (L floats each).
void output_chunk(const Geom& g, const float* m, int64_t ms, float bias, const TileRef* ref, float* yk) {
  V R[6][4];
  for (int y = 0; y < 6; ++y) {
    const float* s = m + y * 6 * ms;
    out1d(ld(s), ld(s + ms), ld(s + 2 * ms), ld(s + 3 * ms), ld(s + 4 * ms), ld(s + 5 * ms), R[y]);
  }
  const V b = splat(bias);
  for (int x = 0; x < 4; ++x) {  // columns of R in place: R[y][x] for y < 4 become output rows
    V o[4];
    out1d(R[0][x], R[1][x], R[2][x], R[3][x], R[4][x], R[5][x], o);
    for (int y = 0; y < 4; ++y) R[y][x] = o[y] + b;
  }
  for (int y = 0; y < 4; ++y) {
    V o[4];
    interleave(R[y][0], R[y][1], R[y][2], R[y][3], o, Lanes{});
    for (int m = 0; m < 4; ++m) {
      const TileRef* f = ref + m * G;
      if (f->run) {  // G tiles side by side: one (partial at the right edge) vector store
        if (y < f->rows) store_part(yk + f->out + y * g.Wo, o[m], 4 * (G - 1) + f[G - 1].cols);
        continue;
      }
      for (int q = 0; q < G; ++q) {
        if (y >= f[q].rows) continue;
        V4 row;
        switch (q) {
          case 0: row = piece<0>(o[m]); break;
          case 1: row = piece<G >= 2 ? 1 : 0>(o[m]); break;
          case 2: row = piece<G >= 4 ? 2 : 0>(o[m]); break;
          default: row = piece<G >= 4 ? 3 : 0>(o[m]); break;
        }
        put_row(yk + f[q].out + y * g.Wo, row, f[q].cols);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
void forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t C, int64_t H,
             int64_t W, int64_t K, int64_t ph, int64_t pw) {
  const Geom g(N, C, H, W, K, ph, pw);
  const int64_t Kp = round_up(K, MR), KP = Kp / MR;
  // U[pos][kp][c][i] = (G w[kp * MR + i][c] G^T)[pos]: packed for the kernel's broadcasts
  float* U = t_weights.get(size_t(36 * Kp * C));
  // (through a small buffer per panel and 16 channels: the positions are far apart in U, and
  // writing them value by value thrashes the cache sets)
  // (the MR filters of a panel side by side in one vector, so each transform step serves MR
  // filters; the last store of a channel spills into the next channel's slot, written after it)
  parallel_for(0, KP, 1, [&](int64_t kp0, int64_t kp1) {
    alignas(64) float buf[36][17][MR];
    for (int64_t kp = kp0; kp < kp1; ++kp)
      for (int64_t c0 = 0; c0 < C; c0 += 16) {
        const int64_t nc = imin(16, C - c0);
        for (int64_t c = 0; c < nc; ++c) {
          VM f[9];
          for (int t = 0; t < 9; ++t) f[t] = VM{};
          for (int i = 0; i < MR && kp * MR + i < K; ++i) {
            const float* src = w + ((kp * MR + i) * C + c0 + c) * 9;
            for (int t = 0; t < 9; ++t) f[t][i] = src[t];
          }
          VM r[3][6];
          for (int a = 0; a < 3; ++a) w1d_vec(f[a * 3], f[a * 3 + 1], f[a * 3 + 2], r[a]);
          for (int b = 0; b < 6; ++b) {
            VM col[6];
            w1d_vec(r[0][b], r[1][b], r[2][b], col);
            for (int a = 0; a < 6; ++a) std::memcpy(&buf[a * 6 + b][c][0], &col[a], sizeof(VM));
          }
        }
        for (int p = 0; p < 36; ++p)
          std::memcpy(U + ((p * KP + kp) * C + c0) * MR, buf[p], size_t(nc * MR) * sizeof(float));
      }
  });

  const int64_t T = block_tiles(g, C), nblocks = cdiv(g.tiles, T);
  const int64_t plane = g.Ho * g.Wo;
  // Filter panels per GEMM pass: a position's block of V (C x T) is loaded into L1 once per pass
  // and serves all its panels; the pass's products Mb stay in L2 for the output transform.
  const int64_t kpc = imin(KP, 4);
  parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
    const int64_t ps = pos_stride(C * T);
    float* Vb = t_scratch.get(size_t(36 * ps + 36 * kpc * MR * T + T * sizeof(TileRef) / sizeof(float)));
    float* Mb = Vb + 36 * ps;  // [i][pos][t] for the kpc * MR rows of a pass
    TileRef* ref = reinterpret_cast<TileRef*>(Mb + 36 * kpc * MR * T);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t t0 = blk * T;
      tile_refs(g, t0, imin(T, g.tiles - t0), T, ref);
      transform_block(g, x, ref, T, ps, Vb);
      for (int64_t kp0 = 0; kp0 < KP; kp0 += kpc) {
        const int64_t kp1 = imin(KP, kp0 + kpc);
        for (int p = 0; p < 36; ++p)
          for (int64_t kp = kp0; kp < kp1; ++kp)
            for (int64_t s = 0; s < T; s += S)
              micro<true, false>(C, U + (p * KP + kp) * C * MR, 0, Vb + p * ps + s, T,
                                 Mb + (kp - kp0) * MR * 36 * T + p * T + s, 36 * T);
        for (int64_t k = kp0 * MR; k < imin(K, kp1 * MR); ++k)
          for (int64_t t = 0; t < T; t += L)
            output_chunk(g, Mb + (k - kp0 * MR) * 36 * T + t, T, bias ? bias[k] : 0.f, ref + t, y + k * plane);
      }
    }
  });
}

// G[(r * 4 + j) * Kp + k] = dy[k][r][j] of one output tile (0 outside the output and for
// k >= K): whole tiles move 4 channels x 4 columns at a time through a 4x4 transpose.
void gather_dy(const Geom& g, const float* src, const TileRef& f, int64_t Kp, float* G) {
  const int64_t plane = g.Ho * g.Wo, K = g.K;
  int64_t k = 0;
  if (f.rows == 4 && f.cols == 4) {
    for (; k + 4 <= K; k += 4)
      for (int r = 0; r < 4; ++r) {
        V4 a[4];
        for (int i = 0; i < 4; ++i) std::memcpy(&a[i], src + (k + i) * plane + r * g.Wo, 16);
        const V4 t0 = __builtin_shufflevector(a[0], a[1], 0, 4, 1, 5);
        const V4 t1 = __builtin_shufflevector(a[0], a[1], 2, 6, 3, 7);
        const V4 t2 = __builtin_shufflevector(a[2], a[3], 0, 4, 1, 5);
        const V4 t3 = __builtin_shufflevector(a[2], a[3], 2, 6, 3, 7);
        const V4 c[4] = {__builtin_shufflevector(t0, t2, 0, 1, 4, 5), __builtin_shufflevector(t0, t2, 2, 3, 6, 7),
                         __builtin_shufflevector(t1, t3, 0, 1, 4, 5), __builtin_shufflevector(t1, t3, 2, 3, 6, 7)};
        for (int j = 0; j < 4; ++j) std::memcpy(G + (r * 4 + j) * Kp + k, &c[j], 16);
      }
  }
  for (int p = 0; p < 16; ++p)
    for (int64_t kk = k; kk < Kp; ++kk) G[p * Kp + kk] = 0.f;
  for (; k < K; ++k)
    for (int64_t r = 0; r < f.rows; ++r)
      for (int64_t j = 0; j < f.cols; ++j) G[(r * 4 + j) * Kp + k] = src[k * plane + r * g.Wo + j];
}

// ---------------------------------------------------------------------------------------------
void grad_weight(const float* x, const float* dy, float* dw, int64_t N, int64_t C, int64_t H, int64_t W,
                 int64_t K, int64_t ph, int64_t pw) {
  const Geom g(N, C, H, W, K, ph, pw);
  const int64_t Cp = round_up(C, MR), Kp = round_up(K, S), plane = g.Ho * g.Wo;
  const int64_t T = block_tiles(g, Cp + Kp), nblocks = cdiv(g.tiles, T);
  // per-slot sums dU[slot][pos][c][k]; slots are reduced in a fixed order at the end
  const int64_t slots = imax(1, imin(int64_t(num_threads()), nblocks)), usz = 36 * Cp * Kp;
  float* acc = t_weights.get(size_t(slots * usz));
  parallel_for(0, slots, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t slot = s0; slot < s1; ++slot) {
      float* dU = acc + slot * usz;
      std::memset(dU, 0, size_t(usz) * sizeof(float));
      const int64_t ps = pos_stride(Cp * T), ms = pos_stride(T * Kp);
      float* Vb = t_scratch.get(size_t(36 * ps + 36 * ms + 16 * Kp + T * sizeof(TileRef) / sizeof(float)));
      float* dM = Vb + 36 * ps;  // [pos][t][k], position stride ms
      float* G = dM + 36 * ms;   // [16][k]: one tile's output gradient
      TileRef* ref = reinterpret_cast<TileRef*>(G + 16 * Kp);
      const int64_t bb = nblocks * slot / slots, be = nblocks * (slot + 1) / slots;
      for (int64_t blk = bb; blk < be; ++blk) {
        const int64_t t0 = blk * T, nt = imin(T, g.tiles - t0);
        tile_refs(g, t0, nt, T, ref);
        transform_block(g, x, ref, T, ps, Vb);
        for (int p = 0; p < 36; ++p) std::memset(Vb + p * ps + C * T, 0, size_t((Cp - C) * T) * sizeof(float));
        for (int64_t t = 0; t < nt; ++t) {
          // the tile's rows in K planes are far-apart short reads: fetch the next line's early
          if (t % 4 == 0 && t + 4 < nt)
            for (int64_t k = 0; k < K; ++k)
              for (int64_t r = 0; r < ref[t + 4].rows; ++r)
                __builtin_prefetch(dy + ref[t + 4].out + k * plane + r * g.Wo, 0, 3);
          gather_dy(g, dy + ref[t].out, ref[t], Kp, G);
          output_adj_tf(G, Kp, dM + t * Kp, ms, Kp);
        }
        for (int p = 0; p < 36; ++p)
          for (int64_t cp = 0; cp < Cp; cp += MR)
            for (int64_t ks = 0; ks < Kp; ks += S)
              micro<false, true>(nt, Vb + p * ps + cp * T, T, dM + p * ms + ks, Kp, dU + (p * Cp + cp) * Kp + ks, Kp);
      }
    }
  });
  // dw[k][c] = G^T (sum over slots of dU[.][c][k]) G, for 16 k at a time (whole cache lines of
  // the far-apart positions)
  parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
    double u[16][36];
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t k0 = 0; k0 < K; k0 += 16) {
        const int64_t nk = imin(16, K - k0);
        for (int p = 0; p < 36; ++p) {
          for (int64_t i = 0; i < nk; ++i) u[i][p] = 0;
          for (int64_t sl = 0; sl < slots; ++sl) {
            const float* a = acc + sl * usz + (p * Cp + c) * Kp + k0;
            for (int64_t i = 0; i < nk; ++i) u[i][p] += a[i];
          }
        }
        for (int64_t i = 0; i < nk; ++i) {
          double r[6][3];
          for (int a = 0; a < 6; ++a) w1d_adj(u[i] + a * 6, r[a]);
          for (int b = 0; b < 3; ++b) {
            const double col[6] = {r[0][b], r[1][b], r[2][b], r[3][b], r[4][b], r[5][b]};
            double o[3];
            w1d_adj(col, o);
            for (int a = 0; a < 3; ++a) dw[((k0 + i) * C + c) * 9 + a * 3 + b] = float(o[a]);
          }
        }
      }
  });
}

}  // namespace

// Entry points of this ISA's build (declared in winograd.cpp).
void winograd_forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t C, int64_t H,
                      int64_t W, int64_t K, int64_t ph, int64_t pw) {
  forward(x, w, bias, y, N, C, H, W, K, ph, pw);
}
void winograd_grad_weight(const float* x, const float* dy, float* dw, int64_t N, int64_t C, int64_t H, int64_t W,
                          int64_t K, int64_t ph, int64_t pw) {
  grad_weight(x, dy, dw, N, C, H, W, K, ph, pw);
}

}  // namespace ember::cpu::EMBER_ISA_NS
