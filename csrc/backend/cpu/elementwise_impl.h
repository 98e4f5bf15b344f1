// CPU elementwise kernels (binary, unary, copy, fill, where). Included once per ISA by the
// per-ISA builds of cmake/isa.cmake, each compiling it with different target flags into its own
// namespace (EMBER_ISA_NS); elementwise.cpp registers the best one for this CPU.
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/loops.h"
#include "backend/cpu/simd_math.h"
#include "backend/params.h"

namespace ember::cpu::EMBER_ISA_NS {
namespace {

template <class T>
constexpr bool is_float_v = std::is_floating_point_v<acc_t<T>>;

template <class T, class R, class F>
void run_binary(Iter& it, F f) {
  it.for_each([&](char** p, const int64_t* s, int64_t n) { binary_run<T, R>(p, s, n, f); });
}
template <class T, class R, class F>
void run_unary(Iter& it, F f) {
  it.for_each([&](char** p, const int64_t* s, int64_t n) { unary_run<T, R>(p, s, n, f); });
}

// Python semantics for // and % (floor division; the remainder takes the divisor's sign).
template <class A>
inline A floordiv(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) {
    if (b == 0) return a / b;
    A m = std::fmod(a, b), d = (a - m) / b;
    if (m != 0 && ((b < 0) != (m < 0))) d -= 1;
    if (d == 0) return std::copysign(A(0), a / b);  // a zero quotient keeps the sign of a / b
    A fd = std::floor(d);
    return d - fd > A(0.5) ? fd + 1 : fd;
  } else if constexpr (std::is_same_v<A, bool>) {
    return a;
  } else {
    if (b == -1) return A(0) - a;  // INT_MIN / -1 traps on x86
    A q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  }
}
template <class A>
inline A remainder(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) {
    A m = std::fmod(a, b);
    return (m != 0 && ((b < 0) != (m < 0))) ? m + b : m;
  } else if constexpr (std::is_same_v<A, bool>) {
    return false;
  } else {
    if (b == -1) return 0;
    A m = a % b;
    return (m != 0 && ((b < 0) != (m < 0))) ? m + b : m;
  }
}
// C's fmod: exact for any quotient (x - trunc(x / y) * y is not), x for y = +-inf.
template <class A>
inline A fmod_(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) return std::fmod(a, b);
  else if constexpr (std::is_same_v<A, bool>) return a;  // rejected by the op
  else return b == -1 ? A(0) : A(a % b);                  // INT_MIN % -1 traps on x86
}
template <class A>
inline A ipow(A base, A exp) {
  A r = 1;
  while (exp > 0) {
    if (exp & 1) r *= base;
    base *= base;
    exp >>= 1;
  }
  return r;
}
template <class A>
inline A nan_max(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) return (a != a || a > b) ? a : (b != b ? b : (a == b ? a : b));
  else return a > b ? a : b;
}
template <class A>
inline A nan_min(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) return (a != a || a < b) ? a : (b != b ? b : (a == b ? a : b));
  else return a < b ? a : b;
}

template <class T>
void binary_typed(BinaryOp op, Iter& it) {
  using A = acc_t<T>;
  using B = bool;
  switch (op) {
    case BinaryOp::Add: return run_binary<T, T>(it, [](A a, A b) { return a + b; });
    case BinaryOp::Sub: return run_binary<T, T>(it, [](A a, A b) { return a - b; });
    case BinaryOp::Mul: return run_binary<T, T>(it, [](A a, A b) { return a * b; });
    case BinaryOp::Div:
      if constexpr (is_float_v<T>) return run_binary<T, T>(it, [](A a, A b) { return a / b; });
      break;
    case BinaryOp::FloorDiv: return run_binary<T, T>(it, [](A a, A b) { return floordiv(a, b); });
    case BinaryOp::Remainder: return run_binary<T, T>(it, [](A a, A b) { return remainder(a, b); });
    case BinaryOp::Pow:
      if constexpr (is_float_v<T>) return run_binary<T, T>(it, [](A a, A b) { return std::pow(a, b); });
      else if constexpr (!std::is_same_v<T, bool>) return run_binary<T, T>(it, [](A a, A b) { return ipow(a, b); });
      break;
    case BinaryOp::Maximum: return run_binary<T, T>(it, [](A a, A b) { return nan_max(a, b); });
    case BinaryOp::Minimum: return run_binary<T, T>(it, [](A a, A b) { return nan_min(a, b); });
    case BinaryOp::Atan2:
      if constexpr (is_float_v<T>) return run_binary<T, T>(it, [](A a, A b) { return std::atan2(a, b); });
      break;
    case BinaryOp::Fmod: return run_binary<T, T>(it, [](A a, A b) { return fmod_(a, b); });
    // fmax/fmin ignore a NaN operand (NaN only when both are)
    case BinaryOp::Fmax: return run_binary<T, T>(it, [](A a, A b) { return (b != b || a >= b) ? a : b; });
    case BinaryOp::Fmin: return run_binary<T, T>(it, [](A a, A b) { return (b != b || a <= b) ? a : b; });
    case BinaryOp::Eq: return run_binary<T, B>(it, [](A a, A b) { return a == b; });
    case BinaryOp::Ne: return run_binary<T, B>(it, [](A a, A b) { return a != b; });
    case BinaryOp::Lt: return run_binary<T, B>(it, [](A a, A b) { return a < b; });
    case BinaryOp::Le: return run_binary<T, B>(it, [](A a, A b) { return a <= b; });
    case BinaryOp::Gt: return run_binary<T, B>(it, [](A a, A b) { return a > b; });
    case BinaryOp::Ge: return run_binary<T, B>(it, [](A a, A b) { return a >= b; });
    case BinaryOp::LogicalAnd: return run_binary<T, B>(it, [](A a, A b) { return bool(a) && bool(b); });
    case BinaryOp::LogicalOr: return run_binary<T, B>(it, [](A a, A b) { return bool(a) || bool(b); });
    case BinaryOp::LogicalXor: return run_binary<T, B>(it, [](A a, A b) { return bool(a) != bool(b); });
    case BinaryOp::BitAnd:
      if constexpr (!is_float_v<T>) return run_binary<T, T>(it, [](A a, A b) { return A(a & b); });
      break;
    case BinaryOp::BitOr:
      if constexpr (!is_float_v<T>) return run_binary<T, T>(it, [](A a, A b) { return A(a | b); });
      break;
    case BinaryOp::BitXor:
      if constexpr (!is_float_v<T>) return run_binary<T, T>(it, [](A a, A b) { return A(a ^ b); });
      break;
  }
  EMBER_TYPE_ERROR("binary op ", int(op), ": not supported for ", dtype_name(dtype_of<T>::value));
}

template <class A>
EMBER_ALWAYS_INLINE A erf_(A x) { return erf_fast(x); }
template <class A>
EMBER_ALWAYS_INLINE A sigmoid_(A x) { return A(1) / (A(1) + exp_fast(-x)); }
template <class A>
inline A softplus_(A x, A beta, A threshold) {
  return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
}

// Float-only math (ops promote integer inputs to the default float dtype first).
template <class T>
bool unary_float(UnaryOp op, Iter& it, double p0, double p1, double p2) {
  using A = acc_t<T>;
  const A a0 = A(p0), a1 = A(p1), a2 = A(p2);
  switch (op) {
    case UnaryOp::Reciprocal: run_unary<T, T>(it, [](A x) { return A(1) / x; }); return true;
    case UnaryOp::Exp: run_unary<T, T>(it, [](A x) { return exp_fast(x); }); return true;
    case UnaryOp::Exp2: run_unary<T, T>(it, [](A x) { return std::exp2(x); }); return true;
    case UnaryOp::Log: run_unary<T, T>(it, [](A x) { return std::log(x); }); return true;
    case UnaryOp::Log2: run_unary<T, T>(it, [](A x) { return std::log2(x); }); return true;
    case UnaryOp::Log1p: run_unary<T, T>(it, [](A x) { return std::log1p(x); }); return true;
    case UnaryOp::Expm1: run_unary<T, T>(it, [](A x) { return std::expm1(x); }); return true;
    case UnaryOp::Sqrt: run_unary<T, T>(it, [](A x) { return std::sqrt(x); }); return true;
    case UnaryOp::Rsqrt: run_unary<T, T>(it, [](A x) { return A(1) / std::sqrt(x); }); return true;
    case UnaryOp::Sin: run_unary<T, T>(it, [](A x) { return std::sin(x); }); return true;
    case UnaryOp::Cos: run_unary<T, T>(it, [](A x) { return std::cos(x); }); return true;
    case UnaryOp::Tan: run_unary<T, T>(it, [](A x) { return std::tan(x); }); return true;
    case UnaryOp::Tanh: run_unary<T, T>(it, [](A x) { return tanh_fast(x); }); return true;
    case UnaryOp::Sigmoid: run_unary<T, T>(it, [](A x) { return sigmoid_(x); }); return true;
    case UnaryOp::Erf: run_unary<T, T>(it, [](A x) { return erf_(x); }); return true;
    case UnaryOp::Silu: run_unary<T, T>(it, [](A x) { return x * sigmoid_(x); }); return true;
    case UnaryOp::Mish:
      run_unary<T, T>(it, [](A x) { return x * tanh_fast(softplus_(x, A(1), A(20))); });
      return true;
    case UnaryOp::GeluErf:
      run_unary<T, T>(it, [](A x) { return gelu_erf(x); });
      return true;
    case UnaryOp::GeluTanh:
      run_unary<T, T>(it, [](A x) { return gelu_tanh(x); });
      return true;
    case UnaryOp::LeakyRelu: run_unary<T, T>(it, [=](A x) { return x > 0 ? x : x * a0; }); return true;
    case UnaryOp::Elu: run_unary<T, T>(it, [=](A x) { return x > 0 ? x : a0 * std::expm1(x); }); return true;
    case UnaryOp::Softplus: run_unary<T, T>(it, [=](A x) { return softplus_(x, a0, a1); }); return true;
    case UnaryOp::NanToNum:
      run_unary<T, T>(it, [=](A x) { return x != x ? a0 : (x == INFINITY ? a1 : (x == -INFINITY ? a2 : x)); });
      return true;
    case UnaryOp::PowScalar:  // common exponents avoid the slow general pow
      if (p0 == 2) run_unary<T, T>(it, [](A x) { return x * x; });
      else if (p0 == 3) run_unary<T, T>(it, [](A x) { return x * x * x; });
      else if (p0 == 1) run_unary<T, T>(it, [](A x) { return x; });
      else if (p0 == 0.5) run_unary<T, T>(it, [](A x) { return std::sqrt(x); });
      else if (p0 == -1) run_unary<T, T>(it, [](A x) { return A(1) / x; });
      else if (p0 == -0.5) run_unary<T, T>(it, [](A x) { return A(1) / std::sqrt(x); });
      else run_unary<T, T>(it, [=](A x) { return std::pow(x, a0); });
      return true;
    case UnaryOp::RPowScalar: run_unary<T, T>(it, [=](A x) { return std::pow(a0, x); }); return true;
    case UnaryOp::IsNan: run_unary<T, bool>(it, [](A x) { return x != x; }); return true;
    case UnaryOp::IsInf: run_unary<T, bool>(it, [](A x) { return std::isinf(x); }); return true;
    case UnaryOp::IsPosInf: run_unary<T, bool>(it, [](A x) { return x == INFINITY; }); return true;
    case UnaryOp::IsNegInf: run_unary<T, bool>(it, [](A x) { return x == -INFINITY; }); return true;
    case UnaryOp::IsFinite: run_unary<T, bool>(it, [](A x) { return std::isfinite(x); }); return true;
    case UnaryOp::Floor: run_unary<T, T>(it, [](A x) { return std::floor(x); }); return true;
    case UnaryOp::Ceil: run_unary<T, T>(it, [](A x) { return std::ceil(x); }); return true;
    case UnaryOp::Round: run_unary<T, T>(it, [](A x) { return std::nearbyint(x); }); return true;
    case UnaryOp::Trunc: run_unary<T, T>(it, [](A x) { return std::trunc(x); }); return true;
    default: return false;
  }
}

// Ops that keep integer dtypes.
template <class T>
void unary_typed(UnaryOp op, Iter& it, double p0, double p1, double p2) {
  using A = acc_t<T>;
  if constexpr (is_float_v<T>) {
    if (unary_float<T>(op, it, p0, p1, p2)) return;
  }
  const A lo = A(p0), hi = A(p1);
  switch (op) {
    case UnaryOp::Neg:
      if constexpr (!std::is_same_v<T, bool>) return run_unary<T, T>(it, [](A x) { return A(-x); });
      break;
    case UnaryOp::Abs:
      if constexpr (std::is_unsigned_v<A> || std::is_same_v<T, bool>) return run_unary<T, T>(it, [](A x) { return x; });
      else return run_unary<T, T>(it, [](A x) { return x < 0 ? A(-x) : x; });
    case UnaryOp::Sign:
      if constexpr (std::is_same_v<T, bool>) return run_unary<T, T>(it, [](A x) { return x; });
      else return run_unary<T, T>(it, [](A x) { return x > 0 ? A(1) : (x < 0 ? A(-1) : x); });
    case UnaryOp::Square: return run_unary<T, T>(it, [](A x) { return A(x * x); });
    // `x < 0 ? 0 : x` keeps NaN and -0 as PyTorch (one compare + blend, as fast as max)
    case UnaryOp::Relu:  // (bool is rejected by the op)
      if constexpr (!std::is_same_v<T, bool>) return run_unary<T, T>(it, [](A x) { return x < 0 ? A(0) : x; });
      break;
    case UnaryOp::Hardtanh:
    case UnaryOp::Clamp:  // min(max(x, lo), hi): lo > hi gives hi, NaN stays NaN
      if constexpr (is_float_v<T>)
        if (lo != lo || hi != hi) return run_unary<T, T>(it, [](A) { return std::numeric_limits<A>::quiet_NaN(); });
      return run_unary<T, T>(it, [=](A x) {
        A y = x < lo ? lo : x;
        return y > hi ? hi : y;
      });
    case UnaryOp::ClampMin:
    case UnaryOp::ClampMax:  // a NaN bound makes every element NaN (PyTorch)
      if constexpr (is_float_v<T>)
        if (lo != lo) return run_unary<T, T>(it, [](A) { return std::numeric_limits<A>::quiet_NaN(); });
      if (op == UnaryOp::ClampMin) return run_unary<T, T>(it, [=](A x) { return x < lo ? lo : x; });
      return run_unary<T, T>(it, [=](A x) { return x > lo ? lo : x; });
    case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
      return run_unary<T, T>(it, [](A x) { return x; });
    case UnaryOp::LogicalNot: return run_unary<T, bool>(it, [](A x) { return !bool(x); });
    case UnaryOp::BitNot:
      if constexpr (std::is_same_v<T, bool>) return run_unary<T, T>(it, [](A x) { return !x; });
      else if constexpr (!is_float_v<T>) return run_unary<T, T>(it, [](A x) { return A(~x); });
      break;
    case UnaryOp::IsNan: case UnaryOp::IsInf: case UnaryOp::IsPosInf: case UnaryOp::IsNegInf:
      return run_unary<T, bool>(it, [](A) { return false; });
    case UnaryOp::IsFinite: return run_unary<T, bool>(it, [](A) { return true; });
    case UnaryOp::PowScalar:
      if constexpr (!is_float_v<T> && !std::is_same_v<T, bool>)
        return run_unary<T, T>(it, [e = A(p0)](A x) { return ipow(x, e); });
      break;
    case UnaryOp::RPowScalar:
      if constexpr (!is_float_v<T> && !std::is_same_v<T, bool>)
        return run_unary<T, T>(it, [b = A(p0)](A x) { return ipow(b, x); });
      break;
    default: break;
  }
  EMBER_TYPE_ERROR("unary op ", int(op), ": not supported for ", dtype_name(dtype_of<T>::value));
}

}  // namespace

void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  Iter it({&out, &a, &b});
  dispatch_all(a.dtype(), [&]<class T>() { binary_typed<T>(op, it); });
}

void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1, double p2) {
  Iter it({&out, &x});
  dispatch_all(x.dtype(), [&]<class T>() { unary_typed<T>(op, it, p0, p1, p2); });
}

// Same-dtype copies move raw bytes of the item size; casts go through the compute type.
template <class U>
void copy_bytes(Iter& it) {
  it.for_each([](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(U) && s[1] == sizeof(U)) {
      std::memcpy(p[0], p[1], size_t(n) * sizeof(U));
    } else if (s[1] == 0) {
      U v = *reinterpret_cast<const U*>(p[1]);
      for (int64_t i = 0; i < n; ++i) *reinterpret_cast<U*>(p[0] + i * s[0]) = v;
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<U*>(p[0] + i * s[0]) = *reinterpret_cast<const U*>(p[1] + i * s[1]);
    }
  });
}

void copy_kernel(const Tensor& dst, const Tensor& src) {
  Iter it({&dst, &src});
  if (dst.dtype() == src.dtype()) {
    switch (dst.itemsize()) {
      case 1: return copy_bytes<uint8_t>(it);
      case 2: return copy_bytes<uint16_t>(it);
      case 4: return copy_bytes<uint32_t>(it);
      default: return copy_bytes<uint64_t>(it);
    }
  }
  dispatch_all(dst.dtype(), [&]<class D>() {
    dispatch_all(src.dtype(), [&]<class S>() {
      it.for_each([](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<D*>(p[0] + i * s[0]) = cast<D>(*reinterpret_cast<const S*>(p[1] + i * s[1]));
      });
    });
  });
}

void fill_kernel(const Tensor& dst, const Scalar& value) {
  Iter it({&dst});
  dispatch_all(dst.dtype(), [&]<class T>() {
    const T v = T(value.to<acc_t<T>>());
    it.for_each([v](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
      }
    });
  });
}

void where_kernel(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  Iter it({&out, &cond, &a, &b});
  auto run = [&]<class U>() {
    it.for_each([](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<U*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                     ? *reinterpret_cast<const U*>(p[2] + i * s[2])
                                                     : *reinterpret_cast<const U*>(p[3] + i * s[3]);
    });
  };
  switch (out.itemsize()) {
    case 1: return run.template operator()<uint8_t>();
    case 2: return run.template operator()<uint16_t>();
    case 4: return run.template operator()<uint32_t>();
    default: return run.template operator()<uint64_t>();
  }
}

}  // namespace ember::cpu::EMBER_ISA_NS
