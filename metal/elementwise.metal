// Elementwise kernels: unary / binary / comparison / where / copy-cast / fill, each in one
// kernel per dtype whose op is a function constant (the pipeline is specialised per op, so the
// switch compiles away on a GPU). A second function constant selects the contiguous variant (no
// index arithmetic) over the strided one (any strides, broadcasting by stride 0, scalar operands
// as 0-d tensors expanded by stride 0). Each thread walks the grid with a stride, so the host
// may launch fewer threads than elements.
#include "ember_kernel.h"
#include "elementwise_params.h"

using namespace metal;

EMBER_FUNCTION_CONSTANT(uint, kOp, EMBER_EW_CONST_OP);
EMBER_FUNCTION_CONSTANT(bool, kContiguous, EMBER_EW_CONST_CONTIGUOUS);

// Offset (in elements) of element i of operand k (0 = the output).
inline long ew_offset(constant ElementwiseParams& p, uint k, uint i) {
  long off = 0;
  for (uint d = p.ndim; d-- > 0;) {
    const uint s = p.shape[d];
    off += long(i % s) * long(p.strides[k][d]);
    i /= s;
  }
  return off;
}

// ---- float math (half and float compute in float, as the CPU kernels do)
inline float ew_sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }
// MSL has no log1p / expm1: the classic corrections keep them accurate near 0
inline float ew_log1p(float x) {
  const float u = 1.0f + x;
  if (u == 1.0f) return x;
  if (u == INFINITY) return u;
  return log(u) * (x / (u - 1.0f));
}
inline float ew_expm1(float x) {
  const float u = exp(x);
  if (u == 1.0f) return x;
  if (isinf(u)) return u;
  const float um1 = u - 1.0f;
  return um1 == -1.0f ? -1.0f : um1 * x / log(u);
}
inline float ew_softplus(float x, float beta, float threshold) {
  return x * beta > threshold ? x : ew_log1p(exp(x * beta)) / beta;
}

// MSL has no erf: ember's own fits (least squares in float64, checked in float32 against
// math.erf: <= 2e-7 relative). |x| < 1: x * P(x^2); 1 <= |x| < 4: 1 - exp(-x^2) * Q(1 / |x|);
// beyond, erfc(x) < half an ulp of 1.
inline float ew_erf(float x) {
  if (isnan(x)) return x;
  const float ax = fabs(x);
  if (ax < 1.0f) {
    const float t = x * x;
    float p = 7.882503996e-05f;
    p = p * t - 8.018863155e-04f;
    p = p * t + 5.189313553e-03f;
    p = p * t - 2.685433067e-02f;
    p = p * t + 1.128359735e-01f;
    p = p * t - 3.761262596e-01f;
    p = p * t + 1.128379107e+00f;
    return x * p;
  }
  if (ax >= 4.0f) return copysign(1.0f, x);
  const float u = 1.0f / ax;
  float q = -7.107211277e-03f;
  q = q * u + 1.684645191e-02f;
  q = q * u + 4.869700596e-02f;
  q = q * u - 2.714495659e-01f;
  q = q * u + 5.181655288e-01f;
  q = q * u - 4.810545146e-01f;
  q = q * u + 4.451618344e-02f;
  q = q * u + 5.586770773e-01f;
  q = q * u + 2.926099696e-04f;
  return copysign(1.0f - exp(-ax * ax) * q, x);
}

inline float unary_float(uint op, float x, float p0, float p1, float p2) {
  switch (op) {
    case EW_NEG: return -x;
    case EW_ABS: return fabs(x);
    case EW_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case EW_RECIPROCAL: return 1.0f / x;
    case EW_EXP: return exp(x);
    case EW_EXP2: return exp2(x);
    case EW_LOG: return log(x);
    case EW_LOG2: return log2(x);
    case EW_LOG1P: return ew_log1p(x);
    case EW_EXPM1: return ew_expm1(x);
    case EW_SQRT: return sqrt(x);
    case EW_RSQRT: return 1.0f / sqrt(x);
    case EW_SQUARE: return x * x;
    case EW_SIN: return sin(x);
    case EW_COS: return cos(x);
    case EW_TAN: return tan(x);
    case EW_TANH: return tanh(x);
    case EW_SIGMOID: return ew_sigmoid(x);
    case EW_FLOOR: return floor(x);
    case EW_CEIL: return ceil(x);
    case EW_ROUND: return rint(x);  // half to even, as torch.round
    case EW_TRUNC: return trunc(x);
    case EW_RELU: return x < 0.0f ? 0.0f : x;  // keeps NaN and -0
    case EW_SILU: return x * ew_sigmoid(x);
    case EW_MISH: return x * tanh(ew_softplus(x, 1.0f, 20.0f));
    case EW_ERF: return ew_erf(x);
    case EW_GELU_ERF: return 0.5f * x * (1.0f + ew_erf(x * 0.7071067811865476f));
    case EW_GELU_TANH: return 0.5f * x * (1.0f + tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case EW_LEAKY_RELU: return x > 0.0f ? x : x * p0;
    case EW_ELU: return x > 0.0f ? x : p0 * ew_expm1(x);
    case EW_SOFTPLUS: return ew_softplus(x, p0, p1);
    case EW_CLAMP: {  // a NaN bound makes every element NaN (PyTorch); lo > hi gives hi
      if (isnan(p0) || isnan(p1)) return NAN;
      const float y = x < p0 ? p0 : x;
      return y > p1 ? p1 : y;
    }
    case EW_CLAMP_MIN: return isnan(p0) ? NAN : (x < p0 ? p0 : x);
    case EW_CLAMP_MAX: return isnan(p0) ? NAN : (x > p0 ? p0 : x);
    case EW_NAN_TO_NUM: return x != x ? p0 : (x == INFINITY ? p1 : (x == -INFINITY ? p2 : x));
    case EW_POW_SCALAR:  // the CPU kernel's special exponents, so results match bit for bit
      if (p0 == 2.0f) return x * x;
      if (p0 == 3.0f) return x * x * x;
      if (p0 == 1.0f) return x;
      if (p0 == 0.5f) return sqrt(x);
      if (p0 == -1.0f) return 1.0f / x;
      if (p0 == -0.5f) return 1.0f / sqrt(x);
      return pow(x, p0);
    case EW_RPOW_SCALAR: return pow(p0, x);
    default: return NAN;
  }
}

inline bool unary_predicate(uint op, float x) {
  switch (op) {
    case EW_ISNAN: return isnan(x);
    case EW_ISINF: return isinf(x);
    case EW_ISFINITE: return isfinite(x);
    case EW_ISPOSINF: return x == INFINITY;
    case EW_ISNEGINF: return x == -INFINITY;
    case EW_LOGICAL_NOT: return x == 0.0f;
    default: return false;
  }
}

template <typename T>
[[kernel]] void ew_unary(const device T* x [[buffer(0)]], device T* out [[buffer(1)]],
                      constant ElementwiseParams& p [[buffer(2)]],
                      uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const uint op = kOp;
  const bool contiguous = kContiguous;
  for (uint i = gid; i < p.n; i += nthreads) {
    const long o = contiguous ? long(i) : ew_offset(p, 0, i);
    const long s = contiguous ? long(i) : ew_offset(p, 1, i);
    out[o] = T(unary_float(op, float(x[s]), p.p0, p.p1, p.p2));
  }
}

// integers: the ops that keep an integer dtype (the others promote to float before the kernel;
// integer powers go through the binary kernel)
template <typename I>
inline I unary_int(uint op, I x) {
  switch (op) {
    case EW_NEG: return I(0) - x;
    case EW_ABS: return x < I(0) ? I(0) - x : x;
    case EW_SIGN: return x > I(0) ? I(1) : (x < I(0) ? I(-1) : I(0));
    case EW_SQUARE: return x * x;
    case EW_RELU: return x < I(0) ? I(0) : x;
    case EW_FLOOR:
    case EW_CEIL:
    case EW_ROUND:
    case EW_TRUNC: return x;
    case EW_BIT_NOT: return ~x;
    default: return I(0);
  }
}

template <typename I>
[[kernel]] void ew_unary_int(const device I* x [[buffer(0)]], device I* out [[buffer(1)]],
                             constant ElementwiseParams& p [[buffer(2)]],
                             uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const uint op = kOp;
  const bool contiguous = kContiguous;
  for (uint i = gid; i < p.n; i += nthreads) {
    const long o = contiguous ? long(i) : ew_offset(p, 0, i);
    const long s = contiguous ? long(i) : ew_offset(p, 1, i);
    out[o] = unary_int<I>(op, x[s]);
  }
}

// predicates of any dtype, through float (exact for them: no integer converts to NaN / inf)
template <typename T>
[[kernel]] void ew_unary_pred(const device T* x [[buffer(0)]], device bool* out [[buffer(1)]],
                           constant ElementwiseParams& p [[buffer(2)]],
                           uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const uint op = kOp;
  const bool contiguous = kContiguous;
  for (uint i = gid; i < p.n; i += nthreads) {
    const long o = contiguous ? long(i) : ew_offset(p, 0, i);
    const long s = contiguous ? long(i) : ew_offset(p, 1, i);
    out[o] = unary_predicate(op, float(x[s]));
  }
}

// ---- binary arithmetic: floats in float, integers in their own type (Python // and % rules)
inline float binary_float(uint op, float a, float b) {
  switch (op) {
    case EW_ADD: return a + b;
    case EW_SUB: return a - b;
    case EW_MUL: return a * b;
    case EW_DIV: return a / b;
    case EW_FLOOR_DIVIDE: {
      if (b == 0.0f) return a / b;
      const float m = fmod(a, b);
      float d = (a - m) / b;
      if (m != 0.0f && ((b < 0.0f) != (m < 0.0f))) d -= 1.0f;
      if (d == 0.0f) return copysign(0.0f, a / b);  // a zero quotient keeps the sign of a / b
      const float fd = floor(d);
      return d - fd > 0.5f ? fd + 1.0f : fd;
    }
    case EW_REMAINDER: {
      const float m = fmod(a, b);
      return (m != 0.0f && ((b < 0.0f) != (m < 0.0f))) ? m + b : m;
    }
    case EW_POW: return pow(a, b);
    case EW_MAXIMUM: return (a != a || a > b) ? a : (b != b ? b : (a == b ? a : b));  // NaN wins
    case EW_MINIMUM: return (a != a || a < b) ? a : (b != b ? b : (a == b ? a : b));
    case EW_ATAN2: return atan2(a, b);
    case EW_FMOD: return fmod(a, b);
    case EW_FMAX: return (b != b || a >= b) ? a : b;  // NaN loses
    case EW_FMIN: return (b != b || a <= b) ? a : b;
    default: return NAN;
  }
}

template <typename I>
inline I binary_int(uint op, I a, I b) {
  switch (op) {
    case EW_ADD: return a + b;
    case EW_SUB: return a - b;
    case EW_MUL: return a * b;
    case EW_FLOOR_DIVIDE: {  // the op rejects b == 0 first; b == -1 avoids the INT_MIN trap
      if (b == I(-1)) return I(0) - a;
      const I q = a / b;
      return (a % b != I(0) && ((a < I(0)) != (b < I(0)))) ? q - I(1) : q;
    }
    case EW_REMAINDER: {
      if (b == I(-1)) return I(0);
      const I m = a % b;
      return (m != I(0) && ((b < I(0)) != (m < I(0)))) ? m + b : m;
    }
    case EW_POW: {  // b >= 0 (the op rejects negative exponents)
      I r = I(1), base = a;
      for (I e = b; e > I(0); e >>= 1) {
        if (e & I(1)) r *= base;
        base *= base;
      }
      return r;
    }
    case EW_MAXIMUM:
    case EW_FMAX: return a > b ? a : b;
    case EW_MINIMUM:
    case EW_FMIN: return a < b ? a : b;
    case EW_FMOD: return b == I(-1) ? I(0) : I(a % b);
    case EW_BIT_AND: return a & b;
    case EW_BIT_OR: return a | b;
    case EW_BIT_XOR: return a ^ b;
    default: return I(0);
  }
}

template <typename T>
struct Arith {  // float, half and bfloat
  static T apply(uint op, T a, T b) { return T(binary_float(op, float(a), float(b))); }
};
template <>
struct Arith<int> {
  static int apply(uint op, int a, int b) { return binary_int<int>(op, a, b); }
};
template <>
struct Arith<long> {
  static long apply(uint op, long a, long b) { return binary_int<long>(op, a, b); }
};

template <typename T>
inline bool compare(uint op, T a, T b) {
  switch (op) {
    case EW_EQ: return a == b;
    case EW_NE: return a != b;
    case EW_LT: return a < b;
    case EW_LE: return a <= b;
    case EW_GT: return a > b;
    case EW_GE: return a >= b;
    case EW_LOGICAL_AND: return bool(a) && bool(b);
    case EW_LOGICAL_OR: return bool(a) || bool(b);
    case EW_LOGICAL_XOR: return bool(a) != bool(b);
    default: return false;
  }
}

template <typename T>
[[kernel]] void ew_binary(const device T* a [[buffer(0)]], const device T* b [[buffer(1)]],
                       device T* out [[buffer(2)]], constant ElementwiseParams& p [[buffer(3)]],
                       uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const uint op = kOp;
  const bool contiguous = kContiguous;
  for (uint i = gid; i < p.n; i += nthreads) {
    const long o = contiguous ? long(i) : ew_offset(p, 0, i);
    const long sa = contiguous ? long(i) : ew_offset(p, 1, i);
    const long sb = contiguous ? long(i) : ew_offset(p, 2, i);
    out[o] = Arith<T>::apply(op, a[sa], b[sb]);
  }
}

template <typename T>
[[kernel]] void ew_comparison(const device T* a [[buffer(0)]], const device T* b [[buffer(1)]],
                           device bool* out [[buffer(2)]], constant ElementwiseParams& p [[buffer(3)]],
                           uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const uint op = kOp;
  const bool contiguous = kContiguous;
  for (uint i = gid; i < p.n; i += nthreads) {
    const long o = contiguous ? long(i) : ew_offset(p, 0, i);
    const long sa = contiguous ? long(i) : ew_offset(p, 1, i);
    const long sb = contiguous ? long(i) : ew_offset(p, 2, i);
    out[o] = compare<T>(op, a[sa], b[sb]);
  }
}

// out = cond ? a : b (operands: 0 out, 1 cond, 2 a, 3 b)
template <typename T>
[[kernel]] void ew_where(const device bool* cond [[buffer(0)]], const device T* a [[buffer(1)]],
                      const device T* b [[buffer(2)]], device T* out [[buffer(3)]],
                      constant ElementwiseParams& p [[buffer(4)]],
                      uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const bool contiguous = kContiguous;
  for (uint i = gid; i < p.n; i += nthreads) {
    const long o = contiguous ? long(i) : ew_offset(p, 0, i);
    const long sc = contiguous ? long(i) : ew_offset(p, 1, i);
    const long sa = contiguous ? long(i) : ew_offset(p, 2, i);
    const long sb = contiguous ? long(i) : ew_offset(p, 3, i);
    out[o] = cond[sc] ? a[sa] : b[sb];
  }
}

// ---- copy and cast. To bool: nonzero (NaN included) is true; half <-> integers through float.
template <typename In, typename Out>
struct Convert {
  static Out apply(In x) { return Out(x); }
};
template <typename In>
struct Convert<In, bool> {
  static bool apply(In x) { return x != In(0); }
};
template <>
struct Convert<half, int> {
  static int apply(half x) { return int(float(x)); }
};
template <>
struct Convert<half, long> {
  static long apply(half x) { return long(float(x)); }
};
template <>
struct Convert<long, half> {
  static half apply(long x) { return half(float(x)); }
};
template <>
struct Convert<int, half> {
  static half apply(int x) { return half(float(x)); }
};
// bfloat converts through float to and from everything but float
#define EMBER_EW_VIA_FLOAT(In, Out)              \
  template <>                                    \
  struct Convert<In, Out> {                      \
    static Out apply(In x) { return Out(float(x)); } \
  };
EMBER_EW_VIA_FLOAT(bfloat, half)
EMBER_EW_VIA_FLOAT(bfloat, int)
EMBER_EW_VIA_FLOAT(bfloat, long)
EMBER_EW_VIA_FLOAT(half, bfloat)
EMBER_EW_VIA_FLOAT(int, bfloat)
EMBER_EW_VIA_FLOAT(long, bfloat)
EMBER_EW_VIA_FLOAT(bool, bfloat)

template <typename In, typename Out>
[[kernel]] void ew_copy(const device In* x [[buffer(0)]], device Out* out [[buffer(1)]],
                     constant ElementwiseParams& p [[buffer(2)]],
                     uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const bool contiguous = kContiguous;
  for (uint i = gid; i < p.n; i += nthreads) {
    const long o = contiguous ? long(i) : ew_offset(p, 0, i);
    const long s = contiguous ? long(i) : ew_offset(p, 1, i);
    out[o] = Convert<In, Out>::apply(x[s]);
  }
}

template <typename T>
[[kernel]] void ew_fill(device T* out [[buffer(0)]], constant T& value [[buffer(1)]],
                     constant ElementwiseParams& p [[buffer(2)]],
                     uint gid [[thread_position_in_grid]], uint nthreads [[threads_per_grid]]) {
  const bool contiguous = kContiguous;
  const T v = value;
  for (uint i = gid; i < p.n; i += nthreads) out[contiguous ? long(i) : ew_offset(p, 0, i)] = v;
}

#define EMBER_EW_FLOATING(name, fn)                  \
  EMBER_INSTANTIATE(name "_float32", fn, float)      \
  EMBER_INSTANTIATE(name "_float16", fn, half)       \
  EMBER_INSTANTIATE(name "_bfloat16", fn, bfloat)
#define EMBER_EW_NUMERIC(name, fn)                   \
  EMBER_EW_FLOATING(name, fn)                        \
  EMBER_INSTANTIATE(name "_int32", fn, int)          \
  EMBER_INSTANTIATE(name "_int64", fn, long)
#define EMBER_EW_ALL(name, fn) \
  EMBER_EW_NUMERIC(name, fn)   \
  EMBER_INSTANTIATE(name "_bool", fn, bool)

EMBER_EW_FLOATING("unary", ew_unary)
EMBER_EW_ALL("unary_pred", ew_unary_pred)
EMBER_INSTANTIATE("unary_int32", ew_unary_int, int)
EMBER_INSTANTIATE("unary_int64", ew_unary_int, long)
EMBER_EW_NUMERIC("binary", ew_binary)
EMBER_EW_ALL("comparison", ew_comparison)
EMBER_EW_ALL("where", ew_where)
EMBER_EW_ALL("fill", ew_fill)

#define EMBER_EW_COPY_FROM(in_name, In)                       \
  EMBER_INSTANTIATE("copy_" in_name "_float32", ew_copy, In, float) \
  EMBER_INSTANTIATE("copy_" in_name "_float16", ew_copy, In, half)  \
  EMBER_INSTANTIATE("copy_" in_name "_bfloat16", ew_copy, In, bfloat) \
  EMBER_INSTANTIATE("copy_" in_name "_int32", ew_copy, In, int)     \
  EMBER_INSTANTIATE("copy_" in_name "_int64", ew_copy, In, long)    \
  EMBER_INSTANTIATE("copy_" in_name "_bool", ew_copy, In, bool)
EMBER_EW_COPY_FROM("float32", float)
EMBER_EW_COPY_FROM("float16", half)
EMBER_EW_COPY_FROM("bfloat16", bfloat)
EMBER_EW_COPY_FROM("int32", int)
EMBER_EW_COPY_FROM("int64", long)
EMBER_EW_COPY_FROM("bool", bool)
