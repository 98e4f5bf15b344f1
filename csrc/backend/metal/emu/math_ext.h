// math_ext.h -- MSL math the kernel families need beyond the core dialect: classification,
// trigonometry / logarithms for float (reduced types convert to float first), as_type bit casts
// and precise:: variants. Included by msl_emu_dialect.h inside the metal:: helpers.
#pragma once
#include <cmath>
#include <cstring>

namespace metal {
inline bool isnan(float x) { return std::isnan(x); }
inline bool isinf(float x) { return std::isinf(x); }
inline bool isfinite(float x) { return std::isfinite(x); }
inline float floor(float x) { return std::floor(x); }
inline float ceil(float x) { return std::ceil(x); }
inline float round(float x) { return std::round(x); }
inline float sin(float x) { return std::sin(x); }
inline float cos(float x) { return std::cos(x); }
inline float log1p(float x) { return std::log1p(x); }
inline float log2(float x) { return std::log2(x); }
inline float expm1(float x) { return std::expm1(x); }
inline float pow(float x, float y) { return std::pow(x, y); }
inline float erf(float x) { return std::erf(x); }
inline float sign(float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : x); }
inline int abs(int x) { return x < 0 ? -x : x; }
template <class To, class From>
To as_type(From v) {
  static_assert(sizeof(To) == sizeof(From), "as_type needs equal sizes");
  To t;
  std::memcpy(&t, &v, sizeof(To));
  return t;
}
}  // namespace metal
