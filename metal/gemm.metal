// gemm.metal -- batched C = act(alpha * A @ B + beta * C + bias) on simdgroup_matrix 8x8 tiles.
// A threadgroup (4 SIMD-groups, 128 threads) computes a 32x32 tile of C: each SIMD-group a 16x16
// quarter as 2x2 fragments. K advances 16 at a time through float tiles staged in threadgroup
// memory (any strides, so transposed operands need no copy; edges zero-padded), so f16 / bf16
// inputs multiply and accumulate in float. The epilogue goes through threadgroup memory too.
#include "ember_kernel.h"
#include "gemm_params.h"

using namespace metal;

static constant constexpr uint kBM = 32;
static constant constexpr uint kBN = 32;
static constant constexpr uint kBK = 16;

// MSL has no erf: Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7)
static inline float gemm_erf(float x) {
  float t = 1.0f / (1.0f + 0.3275911f * abs(x));
  float y =
      1.0f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t +
              0.254829592f) *
                 t * exp(-x * x);
  return x < 0.0f ? -y : y;
}

static inline float gemm_activation(uint act, float v) {
  if (act == 1) {
    return v > 0.0f ? v : (isnan(v) ? v : 0.0f);
  }
  if (act == 2) {
    return 0.5f * v * (1.0f + gemm_erf(v * 0.70710678118654752f));
  }
  if (act == 3) {
    return 0.5f * v * (1.0f + tanh(0.79788456080286535f * (v + 0.044715f * v * v * v)));
  }
  return v;
}

template <typename T>
[[kernel]] void gemm_tiled(const device T* a [[buffer(0)]], const device T* b [[buffer(1)]],
                           device T* out [[buffer(2)]], const device T* bias [[buffer(3)]],
                           constant GemmParams& p [[buffer(4)]],
                           uint3 group [[threadgroup_position_in_grid]],
                           uint tid [[thread_index_in_threadgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]]) {
  EMBER_THREADGROUP(float, As, [kBM * kBK]);
  EMBER_THREADGROUP(float, Bs, [kBK * kBN]);
  EMBER_THREADGROUP(float, Cs, [kBM * kBN]);
  const uint row0 = group.y * kBM, col0 = group.x * kBN, batch = group.z;
  const device T* ab = a + long(batch) * p.a_b;
  const device T* bb = b + long(batch) * p.b_b;
  const uint sm = (sg / 2) * 16, sn = (sg % 2) * 16;  // this SIMD-group's quarter of the tile
  simdgroup_matrix<float, 8, 8> acc[2][2];
  for (uint i = 0; i < 2; ++i) {
    for (uint j = 0; j < 2; ++j) {
      acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }
  for (uint k0 = 0; k0 < p.K; k0 += kBK) {
    for (uint e = tid; e < kBM * kBK; e += 128) {
      uint r = e / kBK, k = e % kBK;
      uint gr = row0 + r, gk = k0 + k;
      As[e] = (gr < p.M && gk < p.K) ? float(ab[long(gr) * p.a_m + long(gk) * p.a_k]) : 0.0f;
    }
    for (uint e = tid; e < kBK * kBN; e += 128) {
      uint k = e / kBN, c = e % kBN;
      uint gk = k0 + k, gc = col0 + c;
      Bs[e] = (gk < p.K && gc < p.N) ? float(bb[long(gk) * p.b_k + long(gc) * p.b_n]) : 0.0f;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    for (uint kk = 0; kk < kBK; kk += 8) {
      simdgroup_matrix<float, 8, 8> fa[2];
      simdgroup_matrix<float, 8, 8> fb[2];
      for (uint i = 0; i < 2; ++i) {
        simdgroup_load(fa[i], As, kBK, ulong2(kk, sm + 8 * i));
        simdgroup_load(fb[i], Bs, kBN, ulong2(sn + 8 * i, kk));
      }
      for (uint i = 0; i < 2; ++i) {
        for (uint j = 0; j < 2; ++j) {
          simdgroup_multiply_accumulate(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  }
  for (uint i = 0; i < 2; ++i) {
    for (uint j = 0; j < 2; ++j) {
      simdgroup_store(acc[i][j], Cs, kBN, ulong2(sn + 8 * j, sm + 8 * i));
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  device T* ob = out + long(batch) * p.o_b;
  for (uint e = tid; e < kBM * kBN; e += 128) {
    uint r = e / kBN, c = e % kBN;
    uint gr = row0 + r, gc = col0 + c;
    if (gr < p.M && gc < p.N) {
      float v = p.alpha * Cs[e];
      if (p.beta != 0.0f) {
        v += p.beta * float(ob[long(gr) * p.o_m + gc]);
      }
      if (p.has_bias != 0) {
        v += float(bias[gc]);
      }
      ob[long(gr) * p.o_m + gc] = T(gemm_activation(p.act, v));
    }
  }
}

EMBER_INSTANTIATE("gemm_tiled_float32", gemm_tiled, float)
EMBER_INSTANTIATE("gemm_tiled_float16", gemm_tiled, half)
EMBER_INSTANTIATE("gemm_tiled_bfloat16", gemm_tiled, bfloat)
