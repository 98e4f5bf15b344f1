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

// erf for float, ~1 ulp (measured against double erf): x + x * Q(x^2) for |x| < 0.921875, else
// 1 - exp(-G(|x|)) with G fitted to -log(erfc) on [0.921875, 3.92] (beyond, erf rounds to +-1).
// Both computed and blended so the loop vectorizes; coefficients are weighted least-squares fits.
EMBER_ALWAYS_INLINE float erf_f32(float x) {
  const float s = x * x;
  float q = -5.991174257e-04f;
  q = q * s + 4.993255250e-03f;
  q = q * s - 2.676668018e-02f;
  q = q * s + 1.128181890e-01f;
  q = q * s - 3.761249483e-01f;
  q = q * s + 1.283791512e-01f;
  const float small = q * x + x;
  float t = x < 0 ? -x : x;
  const float ax = t;
  t = t > 3.92f ? 3.92f : t;
  float g = 2.156184564e-05f;
  g = g * t - 4.397526791e-04f;
  g = g * t + 4.196133930e-03f;
  g = g * t - 2.518385276e-02f;
  g = g * t + 1.083770767e-01f;
  g = g * t + 6.332613230e-01f;
  g = g * t + 1.129555941e+00f;
  g = g * t - 1.829271205e-04f;
  float big = 1.0f - exp_f32(-g);
  big = x < 0 ? -big : big;
  return x != x ? x : (ax < 0.921875f ? small : big);  // NOLINT
}

template <class A>
EMBER_ALWAYS_INLINE A erf_fast(A x) {
  if constexpr (std::is_same_v<A, float>) return erf_f32(x);
  else return std::erf(x);
}

// d/dx of exact gelu, x * Phi(x): Phi(x) + x * phi(x) (the standard normal cdf and pdf).
template <class A>
EMBER_ALWAYS_INLINE A gelu_erf_grad(A x) {
  const A cdf = A(0.5) * (A(1) + erf_fast(x * A(0.70710678118654752440)));
  return cdf + x * exp_fast(A(-0.5) * x * x) * A(0.39894228040143267794);
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
