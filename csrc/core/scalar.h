#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace ember {

// A Python number: keeps its category so promotion can treat it as a "wrapped" scalar.
struct Scalar {
  enum Kind : uint8_t { Bool, Int, Float } kind = Float;
  double d = 0;
  int64_t i = 0;
  Scalar() = default;
  Scalar(double v) : kind(Float), d(v), i(int64_t(v)) {}
  Scalar(float v) : Scalar(double(v)) {}
  Scalar(int v) : kind(Int), d(double(v)), i(v) {}
  Scalar(int64_t v) : kind(Int), d(double(v)), i(v) {}
  Scalar(bool v) : kind(Bool), d(v), i(v) {}
  static Scalar from_bool(bool v) { return Scalar(v); }

  double to_double() const { return kind == Float ? d : double(i); }
  int64_t to_int() const { return kind == Float ? int64_t(d) : i; }
  bool is_float() const { return kind == Float; }
  // dtype a Python number of this kind gets as a wrapped scalar
  Dtype natural_dtype() const {
    return kind == Float ? Dtype::Float64 : kind == Int ? Dtype::Int64 : Dtype::Bool;
  }
  template <class T> T to() const {
    if constexpr (std::is_same_v<T, bool>) return kind == Float ? d != 0 : i != 0;
    else if constexpr (std::is_integral_v<T>) return T(to_int());
    else return T(to_double());
  }
};

}  // namespace ember
