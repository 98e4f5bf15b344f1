#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/half.h"

namespace ember {

// Order matters: promotion walks categories bool < integer < floating.
enum class Dtype : uint8_t { Bool, UInt8, Int32, Int64, Float16, BFloat16, Float32, Float64 };
constexpr int kNumDtypes = 8;

inline int64_t itemsize(Dtype d) {
  constexpr int64_t sz[] = {1, 1, 4, 8, 2, 2, 4, 8};
  return sz[int(d)];
}
inline const char* dtype_name(Dtype d) {
  constexpr const char* n[] = {"bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"};
  return n[int(d)];
}
inline bool is_floating(Dtype d) { return d >= Dtype::Float16; }
inline bool is_integral(Dtype d, bool include_bool) {
  return (d >= Dtype::UInt8 && d <= Dtype::Int64) || (include_bool && d == Dtype::Bool);
}
inline bool is_reduced_float(Dtype d) { return d == Dtype::Float16 || d == Dtype::BFloat16; }

Dtype default_dtype();
void set_default_dtype(Dtype d);
Dtype promote_types(Dtype a, Dtype b);

template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr Dtype value = Dtype::Bool; };
template <> struct dtype_of<uint8_t> { static constexpr Dtype value = Dtype::UInt8; };
template <> struct dtype_of<int32_t> { static constexpr Dtype value = Dtype::Int32; };
template <> struct dtype_of<int64_t> { static constexpr Dtype value = Dtype::Int64; };
template <> struct dtype_of<Half> { static constexpr Dtype value = Dtype::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr Dtype value = Dtype::BFloat16; };
template <> struct dtype_of<float> { static constexpr Dtype value = Dtype::Float32; };
template <> struct dtype_of<double> { static constexpr Dtype value = Dtype::Float64; };

// Arithmetic type used for a storage type: 16-bit floats compute in float.
template <class T> struct acc_type { using type = T; };
template <> struct acc_type<Half> { using type = float; };
template <> struct acc_type<BFloat16> { using type = float; };
template <class T> using acc_t = typename acc_type<T>::type;

// dispatch(dtype, f): calls f.template operator()<T>() with the C++ type of dtype.
// The *_floating variant rejects non-float dtypes with a TypeError naming the op.
template <class F>
decltype(auto) dispatch_all(Dtype d, F&& f) {
  switch (d) {
    case Dtype::Bool: return f.template operator()<bool>();
    case Dtype::UInt8: return f.template operator()<uint8_t>();
    case Dtype::Int32: return f.template operator()<int32_t>();
    case Dtype::Int64: return f.template operator()<int64_t>();
    case Dtype::Float16: return f.template operator()<Half>();
    case Dtype::BFloat16: return f.template operator()<BFloat16>();
    case Dtype::Float32: return f.template operator()<float>();
    default: return f.template operator()<double>();
  }
}

template <class F>
decltype(auto) dispatch_floating(Dtype d, const char* op, F&& f) {
  switch (d) {
    case Dtype::Float16: return f.template operator()<Half>();
    case Dtype::BFloat16: return f.template operator()<BFloat16>();
    case Dtype::Float32: return f.template operator()<float>();
    case Dtype::Float64: return f.template operator()<double>();
    default: EMBER_TYPE_ERROR(op, ": expected a floating point tensor, got ", dtype_name(d));
  }
}

}  // namespace ember
