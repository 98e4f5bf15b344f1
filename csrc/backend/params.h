#pragma once
// Kernel parameter types shared by the op layer and every backend (CPU, Metal): op enums,
// convolution geometry, GEMM input/activation kinds. Plain data, enums and macros only: per-ISA
// kernel translation units (built with different target flags) include it, so it must not
// define functions. A backend includes this, never the op layer or another backend.
#include <cstdint>

namespace ember {

// ---- elementwise ops: each list is the one place an op is declared. X(Enum, "name", flags);
// the enum, the names in error messages and the flag tables are generated from it, in order.
// Adding a unary op: a line here, its kernel (cpu/elementwise_impl.h), its gradient
// (ops/elementwise.cpp record_unary), its Python function (see backend/cpu/README.md).
namespace op_flags {
enum : uint8_t {
  kFloat = 1,       // integer/bool inputs compute in the default float dtype
  kActivation = 2,  // integer/bool inputs are a TypeError (float-only activations)
  kPredicate = 4,   // the output is bool
  kBind = 8,        // bound as _C.<name>(x), plus <name>_ in place unless kNoInplace
  kNoInplace = 16,
  kCompare = 32,    // binary: a comparison or logical op (bool output)
  kBitwise = 64,    // binary: integer/bool only
};
}  // namespace op_flags

// p0..p2 are the scalar parameters unary kernels receive (unary(op, x, p0, p1, p2)).
#define EMBER_UNARY_OPS(X)                                                                      \
  X(Neg, "neg", kBind)                                                                          \
  X(Abs, "abs", kBind)                                                                          \
  X(Sign, "sign", kBind)                                                                        \
  X(Reciprocal, "reciprocal", kFloat | kBind)                                                   \
  X(Exp, "exp", kFloat | kBind)                                                                 \
  X(Exp2, "exp2", kFloat | kBind)                                                               \
  X(Log, "log", kFloat | kBind)                                                                 \
  X(Log2, "log2", kFloat | kBind)                                                               \
  X(Log1p, "log1p", kFloat | kBind)                                                             \
  X(Expm1, "expm1", kFloat | kBind)                                                             \
  X(Sqrt, "sqrt", kFloat | kBind)                                                               \
  X(Rsqrt, "rsqrt", kFloat | kBind)                                                             \
  X(Square, "square", kBind)                                                                    \
  X(Sin, "sin", kFloat | kBind)                                                                 \
  X(Cos, "cos", kFloat | kBind)                                                                 \
  X(Tan, "tan", kFloat | kBind)                                                                 \
  X(Tanh, "tanh", kFloat | kBind)                                                               \
  X(Sigmoid, "sigmoid", kFloat | kBind)                                                         \
  X(Erf, "erf", kFloat | kBind)                                                                 \
  X(Floor, "floor", kBind)                                                                      \
  X(Ceil, "ceil", kBind)                                                                        \
  X(Round, "round", 0)                                                                          \
  X(Trunc, "trunc", kBind)                                                                      \
  X(Relu, "relu", kBind)                                                                        \
  X(Silu, "silu", kFloat | kActivation | kBind | kNoInplace)                                    \
  X(Mish, "mish", kFloat | kActivation | kBind | kNoInplace)                                    \
  X(GeluErf, "gelu", kFloat | kActivation)                                                      \
  X(GeluTanh, "gelu", kFloat | kActivation)                                                     \
  X(LeakyRelu, "leaky_relu", kFloat | kActivation) /* p0 slope */                               \
  X(Elu, "elu", kFloat | kActivation)              /* p0 alpha */                               \
  X(Softplus, "softplus", kFloat | kActivation)    /* p0 beta, p1 threshold */                  \
  X(Hardtanh, "hardtanh", 0)                       /* p0 lo, p1 hi */                           \
  X(ClampMin, "clamp_min", 0)                      /* p0 */                                     \
  X(ClampMax, "clamp_max", 0)                      /* p0 */                                     \
  X(Clamp, "clamp", 0)                             /* p0 lo, p1 hi */                           \
  X(NanToNum, "nan_to_num", 0)                     /* p0 nan, p1 posinf, p2 neginf */           \
  X(PowScalar, "pow", 0)                           /* x ** p0 */                                \
  X(RPowScalar, "pow", 0)                          /* p0 ** x */                                \
  X(LogicalNot, "logical_not", kPredicate | kBind)                                              \
  X(BitNot, "bitwise_not", kBind)                                                               \
  X(IsNan, "isnan", kPredicate | kBind | kNoInplace)                                            \
  X(IsInf, "isinf", kPredicate | kBind | kNoInplace)                                            \
  X(IsFinite, "isfinite", kPredicate | kBind | kNoInplace)                                      \
  X(IsPosInf, "isposinf", kPredicate | kBind | kNoInplace)                                      \
  X(IsNegInf, "isneginf", kPredicate | kBind | kNoInplace)

#define EMBER_BINARY_OPS(X)                      \
  X(Add, "add", 0)                               \
  X(Sub, "sub", 0)                               \
  X(Mul, "mul", kBind)                           \
  X(Div, "div", 0)                               \
  X(FloorDiv, "floor_divide", kBind)             \
  X(Remainder, "remainder", kBind)               \
  X(Pow, "pow", kBind)                           \
  X(Maximum, "maximum", kBind | kNoInplace)      \
  X(Minimum, "minimum", kBind | kNoInplace)      \
  X(Atan2, "atan2", kBind)                       \
  X(Fmod, "fmod", kBind)                         \
  X(Fmax, "fmax", kBind | kNoInplace)            \
  X(Fmin, "fmin", kBind | kNoInplace)            \
  X(Eq, "eq", kCompare | kBind)                  \
  X(Ne, "ne", kCompare | kBind)                  \
  X(Lt, "lt", kCompare | kBind)                  \
  X(Le, "le", kCompare | kBind)                  \
  X(Gt, "gt", kCompare | kBind)                  \
  X(Ge, "ge", kCompare | kBind)                  \
  X(LogicalAnd, "logical_and", kCompare | kBind) \
  X(LogicalOr, "logical_or", kCompare | kBind)   \
  X(LogicalXor, "logical_xor", kCompare | kBind) \
  X(BitAnd, "bitwise_and", kBitwise | kBind)     \
  X(BitOr, "bitwise_or", kBitwise | kBind)       \
  X(BitXor, "bitwise_xor", kBitwise | kBind)

#define EMBER_OP_ENUM_(e, name, flags) e,
#define EMBER_OP_NAME_(e, name, flags) name,
#define EMBER_OP_FLAGS_(e, name, flags) uint8_t(flags),

enum class UnaryOp : uint8_t { EMBER_UNARY_OPS(EMBER_OP_ENUM_) };
enum class BinaryOp : uint8_t { EMBER_BINARY_OPS(EMBER_OP_ENUM_) };

// Indexed by the enum: the op's name (in error messages and bindings) and its op_flags.
namespace op_tables {
using namespace op_flags;
inline constexpr const char* kUnaryNames[] = {EMBER_UNARY_OPS(EMBER_OP_NAME_)};
inline constexpr uint8_t kUnaryFlags[] = {EMBER_UNARY_OPS(EMBER_OP_FLAGS_)};
inline constexpr const char* kBinaryNames[] = {EMBER_BINARY_OPS(EMBER_OP_NAME_)};
inline constexpr uint8_t kBinaryFlags[] = {EMBER_BINARY_OPS(EMBER_OP_FLAGS_)};
}  // namespace op_tables

// ---- convolution (kernels_conv.h): a grouped 2-D convolution
//   y[n, k, oh, ow] = sum_{c, i, j} w[k, c, i, j] * x[n, g*Cg + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
// (zero outside x, g = k / (K / groups), Cg = C / groups). Ho/Wo are explicit: "same" padding with
// an even kernel (extra padding at the bottom/right) and conv_transpose's output_padding only
// change them, so the kernels never need the bottom/right padding.
struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;                      // input
  int64_t K = 0, kh = 1, kw = 1;                           // output channels, kernel size
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;  // stride, top/left padding, dilation
  int64_t groups = 1;
  int64_t Ho = 0, Wo = 0;  // output size
};

// ---- GEMM engines: the input type (C is double for F64, float otherwise) and the activation
// applied to finished output tiles.
enum class GemmIn : uint8_t { F32, F64, F16, BF16 };
enum class GemmAct : uint8_t { None, Relu, Gelu, GeluTanh };

}  // namespace ember
