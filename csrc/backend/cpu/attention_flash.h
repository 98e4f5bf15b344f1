// The f32 fast path of flash attention (no dropout; causal or an additive mask, any L, S, E, Ev):
// register-tiled products on operands packed once per head, online softmax in base 2 on score
// tiles that stay in L1/L2. Included by attention_impl.h inside its per-ISA anonymous namespace,
// so every ISA gets its own copy (SimdVec is that ISA's register width).
//
// Scores are kept in log2 units (q pre-scaled by scale * log2(e)), so each probability is one
// exp2. With is_causal, register tiles wholly above the diagonal are skipped and every product
// stops at the last key a row group may see, so the masked half of diagonal blocks costs little.
// An additive mask (bool masks arrive as 0 / -inf) is added in each tile's epilogue; register
// tiles whose mask is -inf throughout are skipped the same way, so a causal or padding mask
// given as attn_mask costs about what is_causal does.
#pragma once

namespace flash {

using V = SimdVec<float>;
using VI = SimdVec<int32_t>;
constexpr int kW = kNativeVecBytes / 4;  // lanes
constexpr int kMR = 6, kNV = 2;          // register tile: kMR rows x kNV vectors (12 accumulators)
constexpr int64_t kNR = kNV * kW;        // columns of a register tile
constexpr int64_t kBr = 48;              // query rows per block (multiple of kMR)
constexpr int64_t kBc = 96;              // keys per block (multiple of kMR and of kNR for 4, 8, 16 lanes)
constexpr int64_t kBcF = 288;            // forward: wide key blocks, fewer online-softmax rescales per row
constexpr float kLog2e = 1.4426950408889634f;
constexpr double kLn2 = 0.69314718055994531;

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline V splat(float x) { return x - V{}; }  // (x - 0 folds to a broadcast; 0 + x would not: -0)

// 64-byte aligned float buffer that only grows (thread-local scratch: no allocation per tile).
struct Buf {
  float* p = nullptr;
  int64_t cap = 0;
  float* take(int64_t n) {
    if (n > cap) {
      ::operator delete[](p, std::align_val_t(64));
      cap = std::max<int64_t>(n, 2 * cap);
      p = static_cast<float*>(::operator new[](size_t(cap) * sizeof(float), std::align_val_t(64)));
    }
    return p;
  }
  ~Buf() { ::operator delete[](p, std::align_val_t(64)); }
};

// 2^x for x <= 0 (NaN stays NaN; below -126 flushes to 0): x = n + f with |f| <= 1/2, 2^f by
// its degree-7 Taylor polynomial (error < 1e-8 relative, under the f32 rounding), 2^n from bits.
EMBER_ALWAYS_INLINE V exp2_nonpos(V x) {
  const V n = (x + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23)
  const V f = x - n;  // (below -126 the bits below are garbage, even NaN: the last select drops them)
  V p = splat(1.5252733804059841e-5f);
  p = p * f + 1.5403530393381609e-4f;
  p = p * f + 1.3333558146428443e-3f;
  p = p * f + 9.6181291076284772e-3f;
  p = p * f + 5.5504108664821580e-2f;
  p = p * f + 2.4022650695910071e-1f;
  p = p * f + 6.9314718055994531e-1f;
  p = p * f + 1.0f;
  const VI e = (__builtin_convertvector(n, VI) + 127) << 23;
  const V y = p * reinterpret_cast<const V&>(e);
  return x < -126.0f ? V{} : y;
}

inline V lane_iota() {
  V v;
  for (int i = 0; i < kW; ++i) v[i] = float(i);
  return v;
}

// One register tile: C[kMR, kNR] (row stride ldc) = sum over k0 <= k < k1 of A(r, k) * B(k, :),
// where A(r, k) = a[r * a_rs + k * a_cs] and row k of B starts at b + k * ldb. The sum is stored
// (rs == nullptr, add == false), added to C (add), or added to rs[r] * C (online-softmax rescale).
EMBER_ALWAYS_INLINE void tile(int64_t k0, int64_t k1, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                              int64_t ldb, float* c, int64_t ldc, bool add, const float* rs) {
  V acc[kMR][kNV];
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[r][v] = V{};
  for (int64_t k = k0; k < k1; ++k) {
    const float* bk = b + k * ldb;
    const float* ak = a + k * a_cs;
    V bv[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) bv[v] = simd_load(bk + v * kW);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      const V ar = splat(ak[r * a_rs]);
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[r][v] = ar * bv[v] + acc[r][v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) {
    float* cr = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) {
      V x = acc[r][v];
      if (rs) x = splat(rs[r]) * simd_load(cr + v * kW) + x;
      else if (add) x += simd_load(cr + v * kW);
      simd_store(cr + v * kW, x);
    }
  }
}

// Keys of block j0 that query row i may see: all bc, or under is_causal those j <= i (may be <= 0).
inline int64_t visible(int64_t i, int64_t j0, int64_t bc, bool causal) {
  return causal ? std::min(bc, i - j0 + 1) : bc;
}

// Whether mask rows [i, i + rows) x columns [j, j + cols) of head (n, h) hold a value that is not
// -inf (early exit: a live tile costs a load or two).
inline bool mask_live(const View4<float>& mask, int64_t n, int64_t h, int64_t i, int64_t rows, int64_t j,
                      int64_t cols) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const float* m = mask.at(n, h, i + r) + j * mask.s3;
    for (int64_t c = 0; c < cols; ++c)
      if (m[c * mask.s3] != ninf) return true;
  }
  return false;
}

// Which register tiles of the block (rows i0 .. i0 + br, keys j0 .. j0 + bc) hold a score some
// row may see (under is_causal and the mask), and from it how far each row group's products
// run: keys [0, kend[g]) of row group g, rows [rlo[t], br) for column tile t.
struct Live {
  static constexpr int64_t kG = kBr / kMR, kT = kBcF / kNR;  // row groups, column tiles
  bool t[kG][kT];
  int64_t kend[kG], rlo[kT];
  void fill(const View4<float>& mask, int64_t n, int64_t h, int64_t i0, int64_t br, int64_t j0, int64_t bc,
            bool causal) {
    const int64_t ng = round_up(br, kMR) / kMR, nt = round_up(bc, kNR) / kNR;
    for (int64_t c = 0; c < nt; ++c) rlo[c] = br;
    for (int64_t g = 0; g < ng; ++g) {
      const int64_t rg = g * kMR, rows = std::min<int64_t>(kMR, br - rg);
      const int64_t vis = visible(i0 + rg + kMR - 1, j0, bc, causal);
      int64_t last = 0;
      for (int64_t c = 0; c < nt; ++c) {
        const int64_t c0 = c * kNR;
        bool live = vis > c0;
        if (live && mask.p) live = mask_live(mask, n, h, i0 + rg, rows, j0 + c0, std::min(kNR, bc - c0));
        t[g][c] = live;
        if (live) last = std::min(bc, c0 + kNR), rlo[c] = std::min(rlo[c], rg);
      }
      kend[g] = std::min(std::max<int64_t>(vis, 0), last);
    }
  }
};

// Score tile s[brp, round_up(bc, kNR)] (row stride lds) = qs[brp, E] @ K^T for keys j0 .. j0 + bc,
// K^T packed in kNR-column panels [E, kNR]. Register tiles no row may see are skipped (left stale:
// the softmax pass overwrites them with zeros).
inline void score_tile(float* s, int64_t lds, const float* qs, int64_t ldq, const float* kpanels, int64_t E,
                       int64_t brp, int64_t j0, int64_t bc, const Live& lv) {
  for (int64_t c0 = 0; c0 < bc; c0 += kNR)  // column tiles outer: the panel stays in L1 across row groups
    for (int64_t rg = 0; rg < brp; rg += kMR)
      if (lv.t[rg / kMR][c0 / kNR])
        tile(0, E, qs + rg * ldq, ldq, 1, kpanels + (j0 + c0) / kNR * E * kNR, kNR, s + rg * lds + c0, lds, false,
             nullptr);
}

// Mask values of columns [j, j + kNR) of one mask row (those at or past `lim` read as -inf), times mul.
EMBER_ALWAYS_INLINE void mask_vals(V* out, const float* m, int64_t s3, int64_t lim, float mul) {
  if (s3 == 1 && lim >= kNR) {
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) out[v] = simd_load(m + v * kW) * mul;
    return;
  }
  alignas(64) float t[kNR];
  for (int64_t c = 0; c < kNR; ++c) t[c] = c < lim ? m[c * s3] * mul : -std::numeric_limits<float>::infinity();
#pragma GCC unroll 4
  for (int v = 0; v < kNV; ++v) out[v] = simd_load(t + v * kW);
}

// Forward score tile: like score_tile, but each register tile's epilogue adds the mask (times
// mmul: log2 units), sets the columns a row may not see to -inf and folds the row into rmax[r]
// (a per-lane running max, NaN kept), so the softmax needs no separate max pass and no masking.
// Tiles masked throughout are set to -inf without a product.
inline void score_tile_max(float* s, int64_t lds, const float* qs, int64_t ldq, const float* kpanels, int64_t E,
                           int64_t i0, int64_t br, int64_t j0, int64_t bc, bool causal, const Live& lv,
                           const float* const* mrows, int64_t ms3, float mmul, V* rmax, V iota) {
  const V ninf = splat(-std::numeric_limits<float>::infinity());
  const int64_t brp = round_up(br, kMR);
  for (int64_t c0 = 0; c0 < bc; c0 += kNR)
    for (int64_t rg = 0; rg < brp; rg += kMR) {
      if (visible(i0 + rg + kMR - 1, j0, bc, causal) <= c0) continue;
      if (!lv.t[rg / kMR][c0 / kNR]) {  // masked throughout: the softmax reads -inf
        for (int r = 0; r < kMR; ++r)
          for (int v = 0; v < kNV; ++v) simd_store(s + (rg + r) * lds + c0 + v * kW, ninf);
        continue;
      }
      const float* b = kpanels + (j0 + c0) / kNR * E * kNR;
      const float* a = qs + rg * ldq;
      V acc[kMR][kNV];
#pragma GCC unroll 8
      for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < kNV; ++v) acc[r][v] = V{};
      for (int64_t k = 0; k < E; ++k) {
        V bv[kNV];
#pragma GCC unroll 4
        for (int v = 0; v < kNV; ++v) bv[v] = simd_load(b + k * kNR + v * kW);
#pragma GCC unroll 8
        for (int r = 0; r < kMR; ++r) {
          const V ar = splat(a[r * ldq + k]);
#pragma GCC unroll 4
          for (int v = 0; v < kNV; ++v) acc[r][v] = ar * bv[v] + acc[r][v];
        }
      }
      const bool full = visible(i0 + rg, j0, bc, causal) - c0 >= kNR;  // every row sees the whole tile
#pragma GCC unroll 8
      for (int r = 0; r < kMR; ++r) {
        float* cr = s + (rg + r) * lds + c0;
        const int64_t lim = visible(i0 + rg + r, j0, bc, causal) - c0;
        V mv[kNV];
        if (mrows) {  // (padding rows past br: all -inf)
          if (rg + r < br) mask_vals(mv, mrows[rg + r] + c0 * ms3, ms3, lim, mmul);
          else
            for (int v = 0; v < kNV; ++v) mv[v] = ninf;
        }
        V mx = rmax[rg + r];
#pragma GCC unroll 4
        for (int v = 0; v < kNV; ++v) {
          V x = acc[r][v];
          if (mrows) x += mv[v];
          else if (!full) x = iota + float(v * kW) < float(lim) ? x : ninf;
          simd_store(cr + v * kW, x);
          mx = (x > mx) | (x != x) ? x : mx;
        }
        rmax[rg + r] = mx;
      }
    }
}

// 8 x 8 transpose: o[c * ld + i] = x[i * rs + c], in registers. Rows i and i + 4 are loaded into
// the low and high halves of one register, so two in-lane rounds of shuffles finish the job
// (no lane-crossing round), four columns at a time: few live registers, nothing spilled. A
// template: only builds with 8-lane registers instantiate it (in an SSE build, 32-byte vectors
// would change the ABI of the lambdas).
template <int = 0>
EMBER_ALWAYS_INLINE void transpose8(const float* x, int64_t rs, float* o, int64_t ld) {
  using V8 = float __attribute__((vector_size(32), aligned(4)));  // unaligned loads and stores
  using V4 = float __attribute__((vector_size(16), aligned(4)));
  auto ld4 = [&](int i, int c) { return *reinterpret_cast<const V4*>(x + i * rs + c); };
  auto pair = [&](int i, int c) { return __builtin_shufflevector(ld4(i, c), ld4(i + 4, c), 0, 1, 2, 3, 4, 5, 6, 7); };
  auto lo = [](V8 a, V8 b) { return __builtin_shufflevector(a, b, 0, 8, 1, 9, 4, 12, 5, 13); };
  auto hi = [](V8 a, V8 b) { return __builtin_shufflevector(a, b, 2, 10, 3, 11, 6, 14, 7, 15); };
  auto lo2 = [](V8 a, V8 b) { return __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13); };
  auto hi2 = [](V8 a, V8 b) { return __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15); };
  auto st = [&](int c, V8 v) { *reinterpret_cast<V8*>(o + c * ld) = v; };
  for (int c = 0; c < 8; c += 4) {  // columns c .. c + 3 of rows 0 .. 7
    const V8 a0 = pair(0, c), a1 = pair(1, c), a2 = pair(2, c), a3 = pair(3, c);
    const V8 t0 = lo(a0, a1), t1 = hi(a0, a1), t2 = lo(a2, a3), t3 = hi(a2, a3);
    st(c, lo2(t0, t2));
    st(c + 1, hi2(t0, t2));
    st(c + 2, lo2(t1, t3));
    st(c + 3, hi2(t1, t3));
  }
}

// Packs rows [j_from, j_to) of x (rows of n values, row stride rs) into kNR-column panels of x^T:
// out[(j / kNR) * n * kNR + e * kNR + j % kNR]; rows past `rows` are zeros.
inline void pack_panels(float* out, const float* x, int64_t rs, int64_t rows, int64_t n, int64_t j_from,
                        int64_t j_to) {
  for (int64_t jp = j_from / kNR * kNR; jp < j_to; jp += kNR) {  // (j_from, j_to: multiples of kNR)
    float* o = out + jp * n;
    const int64_t nr = std::clamp<int64_t>(rows - jp, 0, kNR);
    int64_t e = 0;
    if constexpr (kW >= 8)
      if (nr == kNR)  // a whole panel: 8 x 8 blocks transposed in registers
        for (; e + 8 <= n; e += 8)
          for (int64_t jj = 0; jj < kNR; jj += 8) transpose8(x + (jp + jj) * rs + e, rs, o + e * kNR + jj, kNR);
    for (; e < n; ++e) {  // sequential stores; the kNR source rows stay in L1
      for (int64_t jj = 0; jj < nr; ++jj) o[e * kNR + jj] = x[(jp + jj) * rs + e];
      for (int64_t jj = nr; jj < kNR; ++jj) o[e * kNR + jj] = 0;
    }
  }
}

// Copies rows [r_from, r_to) of x (n values, row stride rs) times `mul` into out (row stride ld),
// the columns n .. ld zero; rows past `rows` are all zeros.
inline void pack_rows(float* out, int64_t ld, const float* x, int64_t rs, int64_t rows, int64_t n, float mul,
                      int64_t r_from, int64_t r_to) {
  for (int64_t r = r_from; r < r_to; ++r) {
    float* o = out + r * ld;
    int64_t e = 0;
    if (r < rows)
      for (; e < n; ++e) o[e] = x[r * rs + e] * mul;
    for (; e < ld; ++e) o[e] = 0;
  }
}

struct Scratch {
  Buf qb, ob, s, dp, m, l, corr;  // per query block
  Buf kp, vr, kr, vp, dk, dv, qs, go, dq, lse2, dsum;  // per head
  uint64_t call = 0;  // forward: K^T / V of (call, head) packed up to `done` keys
  int64_t nh = -1, done = 0;
};
inline Scratch& scratch() {
  thread_local Scratch t;
  return t;
}
inline std::atomic<uint64_t> call_id{0};

// Output rows [i0, i0 + br) of head (n, h).
inline void fwd_block(float* out, float* lse, const View4<float>& q, const View4<float>& k, const View4<float>& v,
                      const View4<float>& mask, const AttentionParams& p, uint64_t call, int64_t n, int64_t h,
                      int64_t i0, int64_t br) {
  const int64_t hk = h / (p.H / p.Hk), E = p.E, Ev = p.Ev;
  const int64_t Ep = round_up(E, kNR), Evp = round_up(Ev, kNR), brp = round_up(br, kMR);
  const int64_t Sp = round_up(p.S, kBcF);
  const bool causal = p.causal;
  Scratch& w = scratch();
  const int64_t jend = causal ? std::min(p.S, i0 + br) : p.S;  // later keys: masked for every row

  // K^T panels and V rows of this key/value head, packed once per thread and head
  float* kp = w.kp.take(Sp * E);
  // V is read in place when its rows are whole register tiles, else from a zero-padded copy
  const bool v_direct = Ev == Evp;
  float* vpad = v_direct ? nullptr : w.vr.take(Sp * Evp);
  const float* vr = v_direct ? v.at(n, hk, 0) : vpad;
  const int64_t ldv = v_direct ? v.s2 : Evp;
  if (w.call != call || w.nh != n * p.Hk + hk) w.call = call, w.nh = n * p.Hk + hk, w.done = 0;
  const int64_t need = std::min(Sp, round_up(jend, kBcF));
  if (w.done < need) {
    pack_panels(kp, k.at(n, hk, 0), k.s2, p.S, E, w.done, need);
    if (!v_direct) pack_rows(vpad, Evp, v.at(n, hk, 0), v.s2, p.S, Ev, 1.0f, w.done, need);
    w.done = need;
  }

  // Q is read in place when its rows fill whole register tiles and the scale is positive (the
  // scale, times log2(e), then goes into the exponent: 2^(c s - c m)); else a pre-scaled copy.
  const float qmul = float(p.scale) * kLog2e;
  const bool q_direct = br == brp && qmul > 0 && std::isfinite(qmul);
  const float c2 = q_direct ? qmul : 1.0f;  // scores times c2: log2 units
  float* qb = q_direct ? nullptr : w.qb.take(kBr * Ep);
  if (!q_direct) pack_rows(qb, Ep, q.at(n, h, i0), q.s2, br, E, qmul, 0, brp);
  const float* qa = q_direct ? q.at(n, h, i0) : qb;
  const int64_t ldq = q_direct ? q.s2 : Ep;
  float* ob = w.ob.take(kBr * Evp);  // (written whole by the first key block, unless masked)
  const bool masked = mask.p != nullptr;
  if (masked) std::fill(ob, ob + brp * Evp, 0.0f);  // a row group may skip every product
  float* s = w.s.take(kBr * kBcF);
  float* m = w.m.take(kBr);
  float* l = w.l.take(kBr);
  float* corr = w.corr.take(kBr);
  std::fill(m, m + brp, -std::numeric_limits<float>::infinity());
  std::fill(l, l + brp, 0.0f);
  const V iota = lane_iota();
  const float mmul = kLog2e / c2;  // mask values into the scores' units
  const float* mrows[kBr];
  Live lv;

  V rmax[kBr];
  for (int64_t j0 = 0; j0 < jend; j0 += kBcF) {
    const int64_t bc = std::min(kBcF, jend - j0);
    if (masked)
      for (int64_t r = 0; r < br; ++r) mrows[r] = mask.at(n, h, i0 + r) + j0 * mask.s3;
    lv.fill(mask, n, h, i0, br, j0, bc, causal);
    std::fill(rmax, rmax + brp, splat(-std::numeric_limits<float>::infinity()));
    score_tile_max(s, kBcF, qa, ldq, kp, E, i0, br, j0, bc, causal, lv, masked ? mrows : nullptr, mask.s3, mmul,
                   rmax, iota);
    for (int64_t r = 0; r < brp; ++r) {  // online softmax of each row, in place (masked scores: -inf)
      float* row = s + r * kBcF;
      const int64_t nv = r < br ? visible(i0 + r, j0, bc, causal) : 0;
      const int64_t kg = round_up(lv.kend[r / kMR], kW);
      corr[r] = 1;
      float mx = m[r];
      for (int i = 0; i < kW; ++i) mx = rmax[r][i] > mx || rmax[r][i] != rmax[r][i] ? rmax[r][i] : mx;
      if (nv <= 0 || mx == -std::numeric_limits<float>::infinity()) {  // nothing to attend yet
        std::fill(row, row + kg, 0.0f);
        continue;
      }
      const V mxv = splat(mx * c2), cv = splat(c2);
      V sv = V{};
      for (int64_t c = 0; c < kg; c += kW) {  // (columns past the visible ones hold -inf: 2^-inf = 0)
        const V pv = exp2_nonpos(simd_load(row + c) * cv - mxv);
        sv += pv;
        simd_store(row + c, pv);
      }
      float sum = 0;
      for (int i = 0; i < kW; ++i) sum += sv[i];
      if (mx != m[r]) corr[r] = exp2_nonpos(splat((m[r] - mx) * c2))[0];  // 0 when m was -inf
      l[r] = l[r] * corr[r] + sum;
      m[r] = mx;
    }
    for (int64_t rg = 0; rg < brp; rg += kMR) {  // O = corr * O + P V
      const int64_t kg = lv.kend[rg / kMR];
      if (kg <= 0) continue;  // every row masked (corr 1)
      for (int64_t e0 = 0; e0 < Evp; e0 += kNR)
        tile(0, kg, s + rg * kBcF, kBcF, 1, vr + j0 * ldv + e0, ldv, ob + rg * Evp + e0, Evp, false,
             j0 == 0 && !masked ? nullptr : corr + rg);  // unmasked, the first block stores (all see key 0)
    }
  }
  for (int64_t r = 0; r < br; ++r) {
    const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;  // a row with nothing to attend gives 0
    for (int64_t e = 0; e < Ev; ++e) out[r * Ev + e] = ob[r * Evp + e] * inv;
    lse[r] = l[r] > 0 ? float((double(m[r]) * c2 + std::log2(double(l[r]))) * kLn2)
                      : std::numeric_limits<float>::infinity();
  }
}

inline void forward(const Tensor& out_t, const Tensor& lse_t, const View4<float>& q, const View4<float>& k,
                    const View4<float>& v, const View4<float>& mask, const AttentionParams& p) {
  const int64_t nblk = (p.L + kBr - 1) / kBr;
  const uint64_t call = call_id.fetch_add(1) + 1;
  float* out = static_cast<float*>(out_t.raw_data());
  float* lse = static_cast<float*>(lse_t.raw_data());
  // units: whole heads (K^T is packed once per head and thread), or runs of query blocks when
  // there are few heads
  const int64_t heads = p.N * p.H, want = 16 * int64_t(num_threads());
  const int64_t per = heads * 4 >= want ? nblk : std::max<int64_t>(1, nblk * heads / want);
  const int64_t units_per_head = (nblk + per - 1) / per;
  parallel_claim(heads * units_per_head, [&](int64_t u) {
    const int64_t nh = u / units_per_head, b0 = u % units_per_head * per;
    for (int64_t blk = b0; blk < std::min(nblk, b0 + per); ++blk) {
      const int64_t i0 = blk * kBr;
      fwd_block(out + (nh * p.L + i0) * p.Ev, lse + nh * p.L + i0, q, k, v, mask, p, call, nh / p.H, nh % p.H, i0,
                std::min(kBr, p.L - i0));
    }
  });
}

// dk, dv of key/value head (n, hk) and dq of its query heads; loops: query head, key block, query block.
inline void bwd_head(float* dq_out, float* dk_out, float* dv_out, const float* g_all, const float* o_all,
                     const float* lse_all, const View4<float>& q, const View4<float>& k, const View4<float>& v,
                     const View4<float>& mask, const AttentionParams& p, int64_t n, int64_t hk) {
  const int64_t L = p.L, S = p.S, E = p.E, Ev = p.Ev, rep = p.H / p.Hk;
  const int64_t Ep = round_up(E, kNR), Evp = round_up(Ev, kNR);
  const int64_t Sp = round_up(S, kBc), Lp = round_up(L, kBr);
  const bool causal = p.causal;
  Scratch& w = scratch();
  w.nh = -1;  // the forward's K^T cache no longer matches these buffers' contents
  float* kp = w.kp.take(Sp * E);    // K^T panels (scores)
  float* vp = w.vp.take(Sp * Ev);   // V^T panels (dP = dO V^T)
  float* kr = w.kr.take(Sp * Ep);   // K rows (dQ = dS K)
  float* dk = w.dk.take(Sp * Ep);
  float* dv = w.dv.take(Sp * Evp);
  pack_panels(kp, k.at(n, hk, 0), k.s2, S, E, 0, Sp);
  pack_panels(vp, v.at(n, hk, 0), v.s2, S, Ev, 0, Sp);
  pack_rows(kr, Ep, k.at(n, hk, 0), k.s2, S, E, 1.0f, 0, Sp);
  std::fill(dk, dk + Sp * Ep, 0.0f);
  std::fill(dv, dv + Sp * Evp, 0.0f);
  float* qs = w.qs.take(Lp * Ep);
  float* go = w.go.take(Lp * Evp);
  float* dq = w.dq.take(Lp * Ep);
  float* lse2 = w.lse2.take(Lp);
  float* dsum = w.dsum.take(Lp);
  float* s = w.s.take(kBr * kBc);
  float* dp = w.dp.take(kBr * kBc);
  const V iota = lane_iota();
  const bool masked = mask.p != nullptr;
  Live lv;

  for (int64_t h = hk * rep; h < (hk + 1) * rep; ++h) {
    const int64_t bh = n * p.H + h;
    const float* g = g_all + bh * L * Ev;
    const float* o = o_all + bh * L * Ev;
    pack_rows(qs, Ep, q.at(n, h, 0), q.s2, L, E, float(p.scale) * kLog2e, 0, Lp);
    pack_rows(go, Evp, g, Ev, L, Ev, 1.0f, 0, Lp);
    for (int64_t i = 0; i < L; ++i) {  // D_i = rowsum(dO * O); lse in log2 units
      double d = 0;
      for (int64_t e = 0; e < Ev; ++e) d += double(g[i * Ev + e]) * o[i * Ev + e];
      dsum[i] = float(d);
      lse2[i] = float(double(lse_all[bh * L + i]) * (1.0 / kLn2));
    }
    std::fill(dq, dq + Lp * Ep, 0.0f);
    for (int64_t j0 = 0; j0 < S; j0 += kBc) {
      const int64_t bc = std::min(kBc, S - j0);
      const int64_t bcr = round_up(bc, kMR);
      for (int64_t i0 = causal ? j0 / kBr * kBr : 0; i0 < L; i0 += kBr) {
        const int64_t br = std::min(kBr, L - i0), brp = round_up(br, kMR);
        lv.fill(mask, n, h, i0, br, j0, bc, causal);
        score_tile(s, kBc, qs + i0 * Ep, Ep, kp, E, brp, j0, bc, lv);
        score_tile(dp, kBc, go + i0 * Evp, Evp, vp, Ev, brp, j0, bc, lv);  // dP = dO V^T
        for (int64_t r = 0; r < brp; ++r) {  // P = 2^(s + mask - lse), dS = P (dP - D); zeros where masked
          float* srow = s + r * kBc;
          float* drow = dp + r * kBc;
          const int64_t nv = r < br ? std::min(visible(i0 + r, j0, bc, causal), lv.kend[r / kMR]) : 0;
          const float ls = r < br ? lse2[i0 + r] : 0.0f;
          if (nv <= 0 || ls == std::numeric_limits<float>::infinity()) {
            std::fill(srow, srow + kBc, 0.0f);
            std::fill(drow, drow + kBc, 0.0f);
            continue;
          }
          const V dv_ = splat(dsum[i0 + r]);
          const float* mrow = masked ? mask.at(n, h, i0 + r) + j0 * mask.s3 : nullptr;
          for (int64_t c = 0; c < kBc; c += kW) {  // (selects, not products: stale tiles may hold NaN)
            VI keep = iota + float(c) < float(nv);
            V x = simd_load(srow + c) - ls;
            if (mrow) {  // (a masked-throughout tile is stale: its -inf mask drops it)
              V mv;
              if (mask.s3 == 1 && c + kW <= nv) mv = simd_load(mrow + c);
              else
                for (int i = 0; i < kW; ++i) mv[i] = c + i < nv ? mrow[(c + i) * mask.s3] : 0.0f;
              keep &= mv != -std::numeric_limits<float>::infinity();
              x += mv * kLog2e;
            }
            x = x > 0.0f ? V{} : x;  // NaN stays NaN
            const V pv = keep ? exp2_nonpos(x) : V{};
            simd_store(srow + c, pv);
            simd_store(drow + c, keep ? pv * (simd_load(drow + c) - dv_) : V{});
          }
        }
        for (int64_t c0 = 0; c0 < bcr; c0 += kMR) {  // dV += P^T dO, dK += dS^T Qs over rows that see key c0..
          const int64_t t0 = c0 / kNR, t1 = std::min((c0 + kMR - 1) / kNR, (bc - 1) / kNR);
          const int64_t rlo =
              std::max(causal ? std::max<int64_t>(0, j0 + c0 - i0) : 0, std::min(lv.rlo[t0], lv.rlo[t1]));
          if (rlo >= br) continue;  // no row sees these keys
          for (int64_t e0 = 0; e0 < Evp; e0 += kNR)
            tile(rlo, br, s + c0, 1, kBc, go + i0 * Evp + e0, Evp, dv + (j0 + c0) * Evp + e0, Evp, true, nullptr);
          for (int64_t e0 = 0; e0 < Ep; e0 += kNR)
            tile(rlo, br, dp + c0, 1, kBc, qs + i0 * Ep + e0, Ep, dk + (j0 + c0) * Ep + e0, Ep, true, nullptr);
        }
        for (int64_t rg = 0; rg < brp; rg += kMR) {  // dQ += dS K
          const int64_t kg = lv.kend[rg / kMR];
          if (kg <= 0) continue;
          for (int64_t e0 = 0; e0 < Ep; e0 += kNR)
            tile(0, kg, dp + rg * kBc, kBc, 1, kr + j0 * Ep + e0, Ep, dq + (i0 + rg) * Ep + e0, Ep, true, nullptr);
        }
      }
    }
    float* dqo = dq_out + bh * L * E;  // dQ = scale dS K
    const float sc = float(p.scale);
    for (int64_t i = 0; i < L; ++i)
      for (int64_t e = 0; e < E; ++e) dqo[i * E + e] = dq[i * Ep + e] * sc;
  }
  // dK = scale dS^T Q = ln 2 dS^T Qs (Qs holds scale log2(e) Q); dV as accumulated
  float* dko = dk_out + (n * p.Hk + hk) * S * E;
  float* dvo = dv_out + (n * p.Hk + hk) * S * Ev;
  for (int64_t j = 0; j < S; ++j) {
    for (int64_t e = 0; e < E; ++e) dko[j * E + e] = dk[j * Ep + e] * float(kLn2);
    for (int64_t e = 0; e < Ev; ++e) dvo[j * Ev + e] = dv[j * Evp + e];
  }
}

inline void backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& g, const View4<float>& q,
                     const View4<float>& k, const View4<float>& v, const Tensor& out, const Tensor& lse,
                     const View4<float>& mask, const AttentionParams& p) {
  float *dqp = static_cast<float*>(dq.raw_data()), *dkp = static_cast<float*>(dk.raw_data());
  float* dvp = static_cast<float*>(dv.raw_data());
  const float *gp = static_cast<const float*>(g.raw_data()), *op = static_cast<const float*>(out.raw_data());
  const float* lp = static_cast<const float*>(lse.raw_data());
  parallel_claim(p.N * p.Hk, [&](int64_t t) {  // a unit: one key/value head
    bwd_head(dqp, dkp, dvp, gp, op, lp, q, k, v, mask, p, t / p.Hk, t % p.Hk);
  });
}

}  // namespace flash
