// math_ext.h -- MSL math the kernel families use beyond the core dialect (only functions MSL has).
// Included by dialect.h.
#pragma once
#include <cmath>

namespace metal {
inline float round(float x) { return std::round(x); }
inline float sign(float x) {
  return x > 0 ? 1.0f : (x < 0 ? -1.0f : x);
}  // sign(NaN) is NaN, sign(-0) is -0
}  // namespace metal
