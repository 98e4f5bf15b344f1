#pragma once
// Scalar-looking math that GCC/Clang auto-vectorize (no libm calls in the loop body).
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__GNUC__)
#define EMBER_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define EMBER_ALWAYS_INLINE inline
#endif

namespace ember::cpu {
// Internal linkage: this header is compiled with different ISA flags in several files, and
// one shared (ODR-merged) copy could hand AVX-512 code to the portable path.
namespace {

// exp(x) for float, ~1 ulp: range-reduce by ln2, degree-6 polynomial, scale by 2^n via bits.
EMBER_ALWAYS_INLINE float exp_f32(float x) {
  const float xin = x;
  x = x < -87.3365f ? -87.3365f : x;  // below: flushed to 0 (no subnormal results)
  x = x > 88.7228f ? 88.7228f : x;
  float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n from its bits; n = 128 (x near the float max) is 2^127 * 2
  float n1 = n > 127.0f ? 127.0f : n;
  int32_t e = (int32_t(n1) + 127) << 23;
  float y = p * std::bit_cast<float>(e) * (n > 127.0f ? 2.0f : 1.0f);
  return xin < -87.3365f ? 0.0f : y;
}

// exp for x <= 0 (softmax after the max shift): no overflow or NaN handling per element.
EMBER_ALWAYS_INLINE float exp_nonpos_f32(float x) {
  const float xin = x;
  x = x < -87.3365f ? -87.3365f : x;
  float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  float y = p * std::bit_cast<float>((int32_t(n) + 127) << 23);
  return xin < -87.3365f ? 0.0f : y;
}

template <class A>
EMBER_ALWAYS_INLINE A exp_nonpos(A x) {
  if constexpr (std::is_same_v<A, float>) return exp_nonpos_f32(x);
  else return std::exp(x);
}

template <class A>
EMBER_ALWAYS_INLINE A exp_fast(A x) {
  if constexpr (std::is_same_v<A, float>) {
    // keep inf/nan semantics: exp(+inf)=inf, exp(nan)=nan
    float y = exp_f32(x);
    return x != x ? x : (x > 88.7228f ? INFINITY : y);  // NOLINT
  } else {
    return std::exp(x);
  }
}

// tanh for float, ~2 ulp: an odd polynomial near 0 (where 1 - 2/(e^2x + 1) would cancel),
// the exp form elsewhere; both computed and blended so the loop vectorizes.
EMBER_ALWAYS_INLINE float tanh_f32(float x) {
  float ax = x < 0 ? -x : x;
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = p * z * x + x;
  float e = exp_f32(2.0f * (ax > 44.0f ? 44.0f : ax));
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0 ? -big : big;
  return x != x ? x : (ax < 0.625f ? small : big);
}

template <class A>
EMBER_ALWAYS_INLINE A tanh_fast(A x) {
  if constexpr (std::is_same_v<A, float>) return tanh_f32(x);
  else return std::tanh(x);
}

// erf for float, <= 6 ulp (mean < 1, 4e-7 absolute; measured against double erf): one odd
// rational t P(t^2) / Q(t^2) with t = |x| clamped to 3.92 (beyond, erf rounds to 1), so it costs
// about one exp (the two-piece polynomial + exp form cost 2.4). The fit is a minimax of the
// relative error on [0, 3.92]; the coefficients are positive, so Horner does not cancel.
EMBER_ALWAYS_INLINE float erf_f32(float x) {
  const float ax = std::fabs(x);
  const float t = ax > 3.92f ? 3.92f : ax;  // a NaN stays NaN
  const float s = t * t;
  float p = 2.050089506e-06f;
  p = p * s + 2.848831355e-04f;
  p = p * s + 3.765624249e-03f;
  p = p * s + 5.274874717e-02f;
  p = p * s + 1.904066056e-01f;
  p = p * s + 1.128379107e+00f;
  float q = 3.809175905e-05f;
  q = q * s + 1.162537723e-03f;
  q = q * s + 1.496923156e-02f;
  q = q * s + 1.141091734e-01f;
  q = q * s + 5.020762086e-01f;
  q = q * s + 1.0f;
  float r = t * p / q;
  r = r > 1.0f ? 1.0f : r;
  return std::copysign(r, x);
}

template <class A>
EMBER_ALWAYS_INLINE A erf_fast(A x) {
  if constexpr (std::is_same_v<A, float>) return erf_f32(x);
  else return std::erf(x);
}

// exact gelu, x * Phi(x), as h + h * erf(x / sqrt 2) with h = x / 2: one FMA after the erf, and
// the signs of zero PyTorch gives (gelu(-0) = gelu(-20) = +0).
template <class A>
EMBER_ALWAYS_INLINE A gelu_erf(A x) {
  const A h = A(0.5) * x;
  return h + h * erf_fast(x * A(0.70710678118654752440));
}

// tanh-approximated gelu, 0.5 x (1 + tanh(k (x + c x^3))).
template <class A>
EMBER_ALWAYS_INLINE A gelu_tanh(A x) {
  return A(0.5) * x * (A(1) + tanh_fast(A(0.79788456080286535588) * (x + A(0.044715) * x * x * x)));
}

// d/dx of exact gelu: Phi(x) + x * phi(x) (the standard normal cdf and pdf). -x^2/2 <= 0, so the
// pdf takes the exp without overflow handling (x = +-inf gives inf * 0 = NaN, as PyTorch).
template <class A>
EMBER_ALWAYS_INLINE A gelu_erf_grad(A x) {
  const A cdf = A(0.5) + A(0.5) * erf_fast(x * A(0.70710678118654752440));
  return cdf + x * exp_nonpos(A(-0.5) * x * x) * A(0.39894228040143267794);
}

// d/dx of tanh-approximated gelu, 0.5 x (1 + tanh(k (x + c x^3))).
template <class A>
EMBER_ALWAYS_INLINE A gelu_tanh_grad(A x) {
  const A k = A(0.79788456080286535588), c = A(0.044715);
  const A x2 = x * x;
  const A t = tanh_fast(k * x * (A(1) + c * x2));
  return A(0.5) * (A(1) + t) + A(0.5) * x * (A(1) - t * t) * k * (A(1) + A(3) * c * x2);
}

}  // namespace
}  // namespace ember::cpu
