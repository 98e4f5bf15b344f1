#pragma once
// 16-bit float storage types. Arithmetic always happens in float32 (DESIGN §3).
#include <bit>
#include <cstdint>
#include <cstring>

namespace ember {

inline float half_bits_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do { e++; man <<= 1; } while (!(man & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 112) << 23 | man << 13;
  }
  return std::bit_cast<float>(bits);
}

inline uint16_t float_to_half_bits(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffff;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // overflow -> inf
  if (ax < 0x38800000u) {  // subnormal half or zero: round via float add trick
    float a = std::bit_cast<float>(ax) + 0.5f;
    return uint16_t(sign | (std::bit_cast<uint32_t>(a) - 0x3f000000u));
  }
  uint32_t mant_odd = (ax >> 13) & 1;
  ax += 0xc8000fffu + mant_odd;  // rebias exponent and round to nearest even
  return uint16_t(sign | (ax >> 13));
}

struct Half {
  uint16_t x = 0;
  Half() = default;
  Half(float f) : x(float_to_half_bits(f)) {}
  operator float() const { return half_bits_to_float(x); }
};

struct BFloat16 {
  uint16_t x = 0;
  BFloat16() = default;
  BFloat16(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7fffffff) > 0x7f800000u) { x = uint16_t((u >> 16) | 0x40); return; }  // NaN
    u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
    x = uint16_t(u >> 16);
  }
  operator float() const { return std::bit_cast<float>(uint32_t(x) << 16); }
};

}  // namespace ember
