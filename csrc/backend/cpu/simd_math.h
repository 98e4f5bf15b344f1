#pragma once
// Scalar-looking math that GCC/Clang auto-vectorize (no libm calls in the loop body).
#include <bit>
#include <cmath>
#include <cstdint>

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

// erf for float, ~2 ulp: x * P(x^2) for |x| < 1, 1 - exp(-x^2) * Q(1 / (1 + |x| / 2)) above
// (P, Q: least-squares fits of erf(x) / x and erfc(x) e^(x^2)); both computed and blended so
// the loop vectorizes (libm's erff is a call per element: GELU spent most of its time there).
EMBER_ALWAYS_INLINE float erf_f32(float x) {
  float ax = x < 0 ? -x : x;
  ax = ax > 4.0f ? 4.0f : ax;  // erf(4) rounds to 1 in float
  const float z = ax * ax;
  float p = 8.134098801712392e-05f;
  p = p * z - 8.091660402401039e-04f;
  p = p * z + 5.197207915101028e-03f;
  p = p * z - 2.685827969531303e-02f;
  p = p * z + 1.128368726502853e-01f;
  p = p * z - 3.761263449717642e-01f;
  p = p * z + 1.128379167019945e+00f;
  const float small = p * ax;
  const float t = 1.0f / (1.0f + 0.5f * ax);
  float q = 1.2086360834104708e-01f;
  q = q * t - 4.765870610352122e-01f;
  q = q * t + 5.713938711103004e-01f;
  q = q * t - 1.1034646264126557e-01f;
  q = q * t + 3.511148753270973e-01f;
  q = q * t + 2.5872150728758353e-01f;
  q = q * t + 2.8506729522436514e-01f;
  q = q * t - 1.6468626077837054e-04f;
  const float big = 1.0f - exp_f32(-z) * q;
  const float r = ax < 1.0f ? small : big;
  return x != x ? x : (x < 0 ? -r : r);  // NOLINT
}

template <class A>
EMBER_ALWAYS_INLINE A erf_fast(A x) {
  if constexpr (std::is_same_v<A, float>) return erf_f32(x);
  else return std::erf(x);
}

}  // namespace
}  // namespace ember::cpu
