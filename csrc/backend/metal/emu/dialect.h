#pragma once
// Lets a kernel written in Metal Shading Language compile as C++20 for the CPU emulator. Include
// only from kernel translation units (through metal/ember_kernel.h): it defines macros named
// device / constant / threadgroup / thread / kernel and the attribute names of the kernel ABI,
// so every standard header must come before them.
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/metal/emu/runtime.h"

typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;

namespace metal {
using half = _Float16;
template <class T>
using numeric_limits = std::numeric_limits<T>;

// ---- vector types: MSL sizes/alignments (float3 is 16 bytes), components .x .y .z .w and []
template <class T, int N>
struct vec;
#define EMU_VEC_OPS(N)                                                                          \
  T& operator[](int i) { return (&x)[i]; }                                                      \
  const T& operator[](int i) const { return (&x)[i]; }                                          \
  friend vec operator+(vec a, const vec& b) {                                                   \
    for (int i = 0; i < N; ++i) a[i] += b[i];                                                   \
    return a;                                                                                   \
  }                                                                                             \
  friend vec operator-(vec a, const vec& b) {                                                   \
    for (int i = 0; i < N; ++i) a[i] -= b[i];                                                   \
    return a;                                                                                   \
  }                                                                                             \
  friend vec operator*(vec a, const vec& b) {                                                   \
    for (int i = 0; i < N; ++i) a[i] *= b[i];                                                   \
    return a;                                                                                   \
  }                                                                                             \
  friend vec operator/(vec a, const vec& b) {                                                   \
    for (int i = 0; i < N; ++i) a[i] /= b[i];                                                   \
    return a;                                                                                   \
  }                                                                                             \
  friend vec operator*(vec a, T s) {                                                            \
    for (int i = 0; i < N; ++i) a[i] *= s;                                                      \
    return a;                                                                                   \
  }                                                                                             \
  friend vec operator*(T s, vec a) { return a * s; }                                            \
  vec& operator+=(const vec& b) { return *this = *this + b; }                                   \
  vec& operator*=(const vec& b) { return *this = *this * b; }
template <class T>
struct alignas(2 * sizeof(T)) vec<T, 2> {
  T x{}, y{};
  vec() = default;
  explicit vec(T s) : x(s), y(s) {}
  vec(T a, T b) : x(a), y(b) {}
  template <class U>
  explicit vec(const vec<U, 2>& o) : x(T(o.x)), y(T(o.y)) {}
  EMU_VEC_OPS(2)
};
template <class T>
struct alignas(4 * sizeof(T)) vec<T, 3> {
  T x{}, y{}, z{};
  vec() = default;
  explicit vec(T s) : x(s), y(s), z(s) {}
  vec(T a, T b, T c) : x(a), y(b), z(c) {}
  template <class U>
  explicit vec(const vec<U, 3>& o) : x(T(o.x)), y(T(o.y)), z(T(o.z)) {}
  EMU_VEC_OPS(3)
};
template <class T>
struct alignas(4 * sizeof(T)) vec<T, 4> {
  T x{}, y{}, z{}, w{};
  vec() = default;
  explicit vec(T s) : x(s), y(s), z(s), w(s) {}
  vec(T a, T b, T c, T d) : x(a), y(b), z(c), w(d) {}
  template <class U>
  explicit vec(const vec<U, 4>& o) : x(T(o.x)), y(T(o.y)), z(T(o.z)), w(T(o.w)) {}
  EMU_VEC_OPS(4)
};
#undef EMU_VEC_OPS
using float2 = vec<float, 2>;
using float3 = vec<float, 3>;
using float4 = vec<float, 4>;
using half2 = vec<half, 2>;
using half4 = vec<half, 4>;
using int2 = vec<int, 2>;
using int3 = vec<int, 3>;
using int4 = vec<int, 4>;
using uint2 = vec<uint, 2>;
using uint3 = vec<uint, 3>;
using uint4 = vec<uint, 4>;
using ushort2 = vec<ushort, 2>;
using ushort3 = vec<ushort, 3>;
static_assert(sizeof(float3) == 16 && alignof(float4) == 16 && sizeof(float2) == 8);

// ---- math. Float scalars (half converts); MSL's max/min on floats are fmax/fmin: a NaN operand is
// ignored (spec Table 6.4). Functions MSL lacks (erf, log1p, expm1, ...) are deliberately absent,
// so a kernel that uses one fails to build here as it would under Apple's compiler.
template <class T>
inline T max(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return std::fmax(a, b);
  else return a < b ? b : a;
}
template <class T>
inline T min(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return std::fmin(a, b);
  else return b < a ? b : a;
}
template <class T>
inline T clamp(T x, T lo, T hi) {
  return min(max(x, lo), hi);
}
#define EMU_MATH1(name, impl) \
  inline float name(float x) { return impl(x); }
EMU_MATH1(exp, std::exp)
EMU_MATH1(exp2, std::exp2)
EMU_MATH1(log, std::log)
EMU_MATH1(log2, std::log2)
EMU_MATH1(log10, std::log10)
EMU_MATH1(sqrt, std::sqrt)
EMU_MATH1(sin, std::sin)
EMU_MATH1(cos, std::cos)
EMU_MATH1(tan, std::tan)
EMU_MATH1(asin, std::asin)
EMU_MATH1(acos, std::acos)
EMU_MATH1(atan, std::atan)
EMU_MATH1(sinh, std::sinh)
EMU_MATH1(cosh, std::cosh)
EMU_MATH1(tanh, std::tanh)
EMU_MATH1(floor, std::floor)
EMU_MATH1(ceil, std::ceil)
EMU_MATH1(trunc, std::trunc)
EMU_MATH1(rint, std::nearbyint)  // MSL rint: round half to even
EMU_MATH1(fabs, std::fabs)
#undef EMU_MATH1
inline float abs(float x) { return std::fabs(x); }
inline int abs(int x) { return x < 0 ? -x : x; }
inline float rsqrt(float x) { return 1.0f / std::sqrt(x); }
inline float fma(float a, float b, float c) { return std::fma(a, b, c); }
inline float pow(float a, float b) { return std::pow(a, b); }
inline float fmod(float a, float b) { return std::fmod(a, b); }
inline float copysign(float a, float b) { return std::copysign(a, b); }
inline float atan2(float a, float b) { return std::atan2(a, b); }
inline bool isnan(float x) { return std::isnan(x); }
inline bool isinf(float x) { return std::isinf(x); }
inline bool isfinite(float x) { return std::isfinite(x); }
inline bool signbit(float x) { return std::signbit(x); }
template <class T>
inline T select(T a, T b, bool c) {
  return c ? b : a;
}
template <class To, class From>
inline To as_type(From v) {
  static_assert(sizeof(To) == sizeof(From), "as_type: sizes differ");
  To r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}
namespace fast {
using metal::exp;
using metal::exp2;
using metal::log;
using metal::max;
using metal::min;
using metal::rsqrt;
}  // namespace fast
namespace precise {
using metal::exp;
using metal::exp2;
using metal::log;
using metal::max;
using metal::min;
using metal::rsqrt;
}  // namespace precise

// ---- synchronisation (mem_flags are ignored: every barrier acts as a full fence)
enum class mem_flags : unsigned { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4 };
inline mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(unsigned(a) | unsigned(b)); }
inline void threadgroup_barrier(mem_flags, std::source_location loc = std::source_location::current()) {
  ::ember::emu::barrier(loc);
}
inline void simdgroup_barrier(mem_flags, std::source_location loc = std::source_location::current()) {
  ::ember::emu::simd_exchange(char(0), loc);
}

// ---- SIMD-group functions (width 32, over the *active* lanes, MSL spec 6.9.2)
#define EMU_SIMD_LOC std::source_location loc = std::source_location::current()
// simd_sum / simd_max / simd_min: fold the active lanes' values in lane order
template <class T, class Op>
T simd_fold(T v, std::source_location loc, Op op) {
  auto s = ::ember::emu::simd_exchange(v, loc);
  T r = v;
  bool first = true;
  for (uint j = 0; j < 32; ++j)
    if (s.active(j)) {
      r = first ? s.get(j) : op(r, s.get(j));
      first = false;
    }
  return r;
}
template <class T>
T simd_sum(T v, EMU_SIMD_LOC) {
  return simd_fold(v, loc, [](T a, T b) { return a + b; });
}
template <class T>
T simd_max(T v, EMU_SIMD_LOC) {
  return simd_fold(v, loc, [](T a, T b) { return max(a, b); });
}
template <class T>
T simd_min(T v, EMU_SIMD_LOC) {
  return simd_fold(v, loc, [](T a, T b) { return min(a, b); });
}
template <class T>
T simd_prefix_exclusive_sum(T v, EMU_SIMD_LOC) {
  auto s = ::ember::emu::simd_exchange(v, loc);
  T r{};
  for (uint j = 0; j < s.lane; ++j)
    if (s.active(j)) r = r + s.get(j);
  return r;
}
// shuffles: reading an inactive lane is undefined in MSL, so the emulator returns poison bytes
template <class T>
T simd_shuffle(T v, ushort src, EMU_SIMD_LOC) {
  auto s = ::ember::emu::simd_exchange(v, loc);
  return s.active(src) ? s.get(src) : s.undefined();
}
template <class T>
T simd_broadcast(T v, ushort src, EMU_SIMD_LOC) {
  return simd_shuffle(v, src, loc);
}
template <class T>
T simd_shuffle_xor(T v, ushort mask, EMU_SIMD_LOC) {
  auto s = ::ember::emu::simd_exchange(v, loc);
  uint j = s.lane ^ mask;
  return s.active(j) ? s.get(j) : s.undefined();
}
template <class T>
T simd_shuffle_down(T v, ushort delta, EMU_SIMD_LOC) {  // the upper `delta` lanes keep their value
  auto s = ::ember::emu::simd_exchange(v, loc);
  uint j = s.lane + delta;
  return j >= 32 ? v : (s.active(j) ? s.get(j) : s.undefined());
}
template <class T>
T simd_shuffle_up(T v, ushort delta, EMU_SIMD_LOC) {  // the lower `delta` lanes keep their value
  auto s = ::ember::emu::simd_exchange(v, loc);
  return s.lane < delta ? v : (s.active(s.lane - delta) ? s.get(s.lane - delta) : s.undefined());
}
#undef EMU_SIMD_LOC
}  // namespace metal

// extensions (one header each): bfloat, atomics, math, simdgroup_matrix
#include "backend/metal/emu/bfloat.h"
#include "backend/metal/emu/atomic.h"
#include "backend/metal/emu/math_ext.h"
#include "backend/metal/emu/simdgroup_matrix.h"

// ---- builtin argument conversion: uint / ushort / int scalars (x) and 2- or 3-component vectors
namespace ember::emu {
template <class V>
struct is_vec : std::false_type {};
template <class T, int N>
struct is_vec<metal::vec<T, N>> : std::true_type {};
struct BuiltinProxy {
  Builtin b;
  BuiltinProxy operator[](int) const { return *this; }
  template <class V>
  operator V() const {
    dim3 d = builtin_value(b);
    if constexpr (is_vec<V>::value) {
      V v;
      u32 c[3] = {d.x, d.y, d.z};
      for (int i = 0; i < int(sizeof(V) / sizeof(v.x)) && i < 3; ++i) v[i] = decltype(v.x)(c[i]);
      return v;
    } else {
      static_assert(std::is_integral_v<V>, "builtin must be a scalar or vector integer");
      return V(d.x);
    }
  }
};
inline BuiltinProxy builtin(Builtin b) { return BuiltinProxy{b}; }
}  // namespace ember::emu

// ---- MSL keywords: address spaces carry no meaning on a CPU
#define kernel
#define device
#define constant
#define threadgroup
#define thread

// ---- kernel-argument attributes. `T* p [[buffer(3)]]` becomes `T* p [[gnu::unused]] = <proxy>`:
// a default argument evaluated in the calling fiber, so the launcher calls every kernel as
// `kernel()` and each parameter is filled from the encoder's bindings or the fiber's coordinates.
#define EMU_DEFAULT_ARG(expr) gnu::unused]] = (expr)[::ember::emu::kZero[0
#define buffer(n) EMU_DEFAULT_ARG(::ember::emu::bind_arg(n))
#define EMU_BUILTIN(id) EMU_DEFAULT_ARG(::ember::emu::builtin(::ember::emu::Builtin::bi_##id))
#define thread_position_in_grid EMU_BUILTIN(thread_position_in_grid)
#define thread_position_in_threadgroup EMU_BUILTIN(thread_position_in_threadgroup)
#define threadgroup_position_in_grid EMU_BUILTIN(threadgroup_position_in_grid)
#define threads_per_threadgroup EMU_BUILTIN(threads_per_threadgroup)
#define threadgroups_per_grid EMU_BUILTIN(threadgroups_per_grid)
#define threads_per_grid EMU_BUILTIN(threads_per_grid)
#define thread_index_in_threadgroup EMU_BUILTIN(thread_index_in_threadgroup)
#define thread_index_in_simdgroup EMU_BUILTIN(thread_index_in_simdgroup)
#define simdgroup_index_in_threadgroup EMU_BUILTIN(simdgroup_index_in_threadgroup)
#define threads_per_simdgroup EMU_BUILTIN(threads_per_simdgroup)
#define simdgroups_per_threadgroup EMU_BUILTIN(simdgroups_per_threadgroup)
#define thread_execution_width EMU_BUILTIN(thread_execution_width)
