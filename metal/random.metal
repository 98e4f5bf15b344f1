// Random numbers: counter-based Philox4x32-10 (Salmon et al., SC'11). Thread g computes the
// 4 x 32 bits of counter (g, 0, 0, 0) under the call's 64-bit key and writes elements 4g..4g+3,
// so every element depends only on (key, index): the result is the same for any grid, schedule
// or GPU, and a seed gives the same stream on every run. Uniforms keep the dtype's significand
// bits (rand never rounds up to 1); bernoulli compares 24-bit uniforms with the probability; normals pair words (0, 1) and (2, 3) through Box-Muller.
#include "ember_kernel.h"
#include "random_params.h"

using namespace metal;

struct Philox4 {
  uint v[4];
};

inline Philox4 philox4x32_10(uint c0, uint k0, uint k1) {
  uint c[4] = {c0, 0u, 0u, 0u};
  for (int r = 0; r < 10; ++r) {
    if (r > 0) k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;  // the Weyl key schedule
    const ulong p0 = ulong(0xD2511F53u) * ulong(c[0]);
    const ulong p1 = ulong(0xCD9E8D57u) * ulong(c[2]);
    const uint n0 = uint(p1 >> 32) ^ c[1] ^ k0, n2 = uint(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0, c[1] = uint(p1), c[2] = n2, c[3] = uint(p0);
  }
  Philox4 out;
  for (int j = 0; j < 4; ++j) out.v[j] = c[j];
  return out;
}

// the top `bits` of w as a uniform in [0, 1)
inline float random_uniform01(uint w, uint bits) { return float(w >> (32u - bits)) / float(1u << bits); }

template <typename T>
[[kernel]] void random_fill(device T* out [[buffer(0)]], const device T* probs [[buffer(1)]],
                            constant RandomParams& p [[buffer(2)]],
                            uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const uint groups = (p.n + 3u) / 4u;
  for (uint g = gid; g < groups; g += nthreads) {
    const Philox4 r = philox4x32_10(g, p.key0, p.key1);
    float v[4];
    if (p.kind == RANDOM_NORMAL) {
      for (int j = 0; j < 4; j += 2) {
        const float u1 = random_uniform01(r.v[j], 24u) + 5.9604644775390625e-8f;  // (0, 1]: finite log
        const float u2 = random_uniform01(r.v[j + 1], 24u);
        const float rad = sqrt(-2.0f * log(u1)), th = 6.283185307179586f * u2;
        v[j] = p.a + p.b * (rad * cos(th));
        v[j + 1] = p.a + p.b * (rad * sin(th));
      }
    } else {
      for (int j = 0; j < 4; ++j) {
        const uint i = 4u * g + uint(j);
        if (p.kind == RANDOM_UNIFORM) {
          v[j] = p.a + (p.b - p.a) * random_uniform01(r.v[j], p.bits);
        } else {  // 24 bits whatever the dtype: a probability is not rounded to the output's
          const float u = random_uniform01(r.v[j], 24u);
          const float prob = p.kind == RANDOM_BERNOULLI ? p.a : (i < p.n ? float(probs[i]) : 0.0f);
          v[j] = u < prob ? 1.0f : 0.0f;
        }
      }
    }
    for (uint j = 0; j < 4u; ++j)
      if (4u * g + j < p.n) out[4u * g + j] = T(v[j]);
  }
}

EMBER_INSTANTIATE("random_float32", random_fill, float)
EMBER_INSTANTIATE("random_float16", random_fill, half)
EMBER_INSTANTIATE("random_bfloat16", random_fill, bfloat)
