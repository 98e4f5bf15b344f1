// bfloat.h -- MSL's `bfloat` (bfloat16) for the emulator: 16 bits of storage (the top half of a
// float32), arithmetic in float, float -> bfloat rounds to nearest even (NaN stays a quiet NaN).
// Same bits as ember's BFloat16, so host buffers bind unchanged. Included by msl_emu_dialect.h.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace metal {
struct bfloat {
  uint16_t bits = 0;
  bfloat() = default;
  template <class U,
            class = std::enable_if_t<std::is_arithmetic_v<U> || std::is_same_v<U, _Float16>>>
  bfloat(U v) : bits(from_float(float(v))) {}
  operator float() const {
    uint32_t u = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  bfloat& operator+=(float o) { return *this = bfloat(float(*this) + o); }
  bfloat& operator-=(float o) { return *this = bfloat(float(*this) - o); }
  bfloat& operator*=(float o) { return *this = bfloat(float(*this) * o); }
  bfloat& operator/=(float o) { return *this = bfloat(float(*this) / o); }
  static uint16_t from_float(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // NaN: keep it quiet
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    return uint16_t(u >> 16);
  }
};
static_assert(sizeof(bfloat) == 2);
}  // namespace metal
