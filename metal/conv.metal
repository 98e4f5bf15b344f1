// conv.metal -- 2-D convolution (grouped, strided, padded, dilated; float32).
// Forward and weight gradient are implicit GEMMs on simdgroup_matrix 8x8 tiles, staged like
// gemm.metal (32x32 output tile per threadgroup of 4 SIMD-groups, K steps of 16), with the im2col
// matrix never materialized: its elements are gathered from x while a tile is staged.
//   forward     (batch z = n * groups + g): y[k, p]  = sum_r w[k, r] * col(x)[r, p]
//   grad weight (batch z = g):               dw[k, r] = sum_{n, p} dy[n, k, p] * col(x)[r, (n, p)]
// with r = (c, i, j) over C/groups * kh * kw and p = (oh, ow). The input gradient is a direct
// gather per dx element (each output position that reads it, for every k, i, j).
#include "conv_params.h"
#include "ember_kernel.h"

using namespace metal;

static constant constexpr uint kCM = 32;
static constant constexpr uint kCN = 32;
static constant constexpr uint kCK = 16;

// col(x)[r, p] of image n, channel group g (0 outside the padded input)
static inline float conv_col(const device float* x, constant ConvParams& p, uint n, uint g, uint r,
                             uint pos) {
  const uint Cg = p.C / p.groups;
  const uint j = r % p.kw, i = (r / p.kw) % p.kh, c = r / (p.kw * p.kh);
  const uint ow = pos % p.Wo, oh = pos / p.Wo;
  const int h = int(oh * p.sh) - int(p.ph) + int(i * p.dh),
            w = int(ow * p.sw) - int(p.pw) + int(j * p.dw);
  if (h < 0 || w < 0 || h >= int(p.H) || w >= int(p.W)) {
    return 0.0f;
  }
  return x[((size_t(n) * p.C + g * Cg + c) * p.H + uint(h)) * p.W + uint(w)];
}

// mode 0: forward, mode 1: weight gradient
template <uint Mode>
[[kernel]] void conv_implicit_gemm(
    const device float* x [[buffer(0)]],
    const device float* wt [[buffer(1)]],  // forward: w; weight gradient: dy
    device float* out [[buffer(2)]],       // forward: y; weight gradient: dw
    const device float* bias [[buffer(3)]], constant ConvParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]]) {
  EMBER_THREADGROUP(float, As, [kCM * kCK]);
  EMBER_THREADGROUP(float, Bs, [kCK * kCN]);
  EMBER_THREADGROUP(float, Cs, [kCM * kCN]);
  const uint Kg = p.K / p.groups, R = (p.C / p.groups) * p.kh * p.kw, P = p.Ho * p.Wo;
  const uint n = Mode == 0 ? group.z / p.groups : 0, g = Mode == 0 ? group.z % p.groups : group.z;
  const uint M = Kg, Ncols = Mode == 0 ? P : R, Kdim = Mode == 0 ? R : p.N * P;
  const uint row0 = group.y * kCM, col0 = group.x * kCN;
  const uint sm = (sg / 2) * 16, sn = (sg % 2) * 16;
  simdgroup_matrix<float, 8, 8> acc[2][2];
  for (uint i = 0; i < 2; ++i) {
    for (uint j = 0; j < 2; ++j) {
      acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }
  for (uint k0 = 0; k0 < Kdim; k0 += kCK) {
    for (uint e = tid; e < kCM * kCK; e += 128) {
      const uint m = row0 + e / kCK, k = k0 + e % kCK;
      float v = 0.0f;
      if (m < M && k < Kdim) {
        if (Mode == 0) {
          v = wt[size_t(g * Kg + m) * R + k];
        } else {  // dy[n, g*Kg + m, pos] with k = (n, pos)
          v = wt[(size_t(k / P) * p.K + g * Kg + m) * P + k % P];
        }
      }
      As[e] = v;
    }
    for (uint e = tid; e < kCK * kCN; e += 128) {
      const uint k = k0 + e / kCN, c = col0 + e % kCN;
      float v = 0.0f;
      if (k < Kdim && c < Ncols) {
        v = Mode == 0 ? conv_col(x, p, n, g, k, c) : conv_col(x, p, k / P, g, c, k % P);
      }
      Bs[e] = v;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
    for (uint kk = 0; kk < kCK; kk += 8) {
      simdgroup_matrix<float, 8, 8> fa[2];
      simdgroup_matrix<float, 8, 8> fb[2];
      for (uint i = 0; i < 2; ++i) {
        simdgroup_load(fa[i], As, kCK, ulong2(kk, sm + 8 * i));
        simdgroup_load(fb[i], Bs, kCN, ulong2(sn + 8 * i, kk));
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
      simdgroup_store(acc[i][j], Cs, kCN, ulong2(sn + 8 * j, sm + 8 * i));
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);  // barrier
  for (uint e = tid; e < kCM * kCN; e += 128) {
    const uint m = row0 + e / kCN, c = col0 + e % kCN;
    if (m < M && c < Ncols) {
      float v = Cs[e];
      if (Mode == 0) {
        if (p.has_bias != 0) {
          v += bias[g * Kg + m];
        }
        out[(size_t(n) * p.K + g * Kg + m) * P + c] = v;
      } else {
        out[size_t(g * Kg + m) * R + c] = v;
      }
    }
  }
}

// dx[n, c, h, w] = sum over k of the group, i, j with h = oh*sh - ph + i*dh (same for w)
[[kernel]] void conv_grad_input(const device float* dy [[buffer(0)]],
                                const device float* w [[buffer(1)]], device float* dx [[buffer(2)]],
                                constant ConvParams& p [[buffer(3)]],
                                uint e [[thread_position_in_grid]]) {
  if (e >= p.N * p.C * p.H * p.W) {
    return;
  }
  const uint x_w = e % p.W, x_h = (e / p.W) % p.H, c = (e / (p.W * p.H)) % p.C,
             n = e / (p.W * p.H * p.C);
  const uint Cg = p.C / p.groups, Kg = p.K / p.groups, g = c / Cg, cl = c % Cg;
  float s = 0.0f;
  for (uint i = 0; i < p.kh; ++i) {
    const int th = int(x_h) + int(p.ph) - int(i * p.dh);
    if (th < 0 || th % int(p.sh) != 0 || uint(th) / p.sh >= p.Ho) {
      continue;
    }
    const uint oh = uint(th) / p.sh;
    for (uint j = 0; j < p.kw; ++j) {
      const int tw = int(x_w) + int(p.pw) - int(j * p.dw);
      if (tw < 0 || tw % int(p.sw) != 0 || uint(tw) / p.sw >= p.Wo) {
        continue;
      }
      const uint ow = uint(tw) / p.sw;
      for (uint k = g * Kg; k < (g + 1) * Kg; ++k) {
        s += w[((size_t(k) * Cg + cl) * p.kh + i) * p.kw + j] *
             dy[((size_t(n) * p.K + k) * p.Ho + oh) * p.Wo + ow];
      }
    }
  }
  dx[e] = s;
}

EMBER_INSTANTIATE("conv_forward_float32", conv_implicit_gemm, 0u)
EMBER_INSTANTIATE("conv_grad_weight_float32", conv_implicit_gemm, 1u)
EMBER_EXPORT(conv_grad_input)
