#pragma once
// Kernel slot of device random numbers (ops/creation.cpp): a counter-based Philox4x32-10 stream,
// so a GPU fills any element independently and a key gives the same tensor on every run. CPU
// tensors keep the generator's sequential stream (creation.cpp); this slot's CPU kernel computes
// the same Philox stream, for a device's fallback (e.g. float64 on Metal).
#include <cstdint>

#include "backend/registry.h"
#include "core/tensor.h"

namespace ember {

enum class RandomKind : uint32_t {
  Uniform,          // a + (b - a) * u, u uniform in [0, 1) with the dtype's significand bits
  Normal,           // a + b * z, z standard normal (Box-Muller on pairs of 24-bit uniforms)
  Bernoulli,        // 1 if u < a else 0 (u: 24-bit uniform)
  BernoulliTensor,  // 1 if u < probs[i] else 0
};

struct RandomDraw {
  uint64_t key = 0;  // 64 bits drawn from the generator: one draw per call
  RandomKind kind = RandomKind::Uniform;
  double a = 0, b = 1;
};

// The 4 x 32 random bits of counter (c0, c1, 0, 0) under key: elements 4 c .. 4 c + 3.
struct Philox4x32 {
  uint32_t v[4];
};
inline Philox4x32 philox4x32_10(uint64_t counter, uint64_t key) {
  uint32_t c[4] = {uint32_t(counter), uint32_t(counter >> 32), 0, 0};
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    const uint64_t p0 = uint64_t(0xD2511F53u) * c[0], p1 = uint64_t(0xCD9E8D57u) * c[2];
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c[1] ^ k0, n2 = uint32_t(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0, c[1] = uint32_t(p1), c[2] = n2, c[3] = uint32_t(p0);
  }
  return {{c[0], c[1], c[2], c[3]}};
}

namespace kernel {
// out contiguous floating point; probs (BernoulliTensor only) contiguous, out's dtype and shape.
using RandomFillFn = void (*)(const Tensor& out, const Tensor& probs, const RandomDraw& d);
inline KernelSlot<RandomFillFn> random_fill{"random"};
}  // namespace kernel

}  // namespace ember
