// Launch code of metal/elementwise.metal, shared by both runtimes: picks the kernel (host name by
// dtype, op as a function constant, contiguous or strided variant), packs ElementwiseParams and
// sizes the grid. Ops or dtypes without a Metal kernel are declined: the registry runs the CPU
// kernel on the same buffers and counts the fallback (per op).
#include <algorithm>
#include <cstring>
#include <string>

#include "backend/kernels.h"
#include "backend/metal/runtime.h"
#include "core/half.h"
#include "elementwise_params.h"

namespace ember::metal {
namespace {

constexpr uint32_t kThreads = 256;    // threads per threadgroup
constexpr uint32_t kMaxGroups = 1024;  // beyond this each thread loops (grid-stride)

// dtypes the elementwise kernels are instantiated for (Metal GPUs have no float64)
const char* suffix(Dtype d) {
  switch (d) {
    case Dtype::Float32: return "float32";
    case Dtype::Float16: return "float16";
    case Dtype::BFloat16: return "bfloat16";
    case Dtype::Int32: return "int32";
    case Dtype::Int64: return "int64";
    case Dtype::Bool: return "bool";
    default: return nullptr;
  }
}
bool is_float_kernel(Dtype d) {
  return d == Dtype::Float32 || d == Dtype::Float16 || d == Dtype::BFloat16;
}

// Operands (output first) as ElementwiseParams: size-1 dims dropped; false when a shape, stride
// or element count does not fit the 32-bit fields (the CPU kernel runs instead).
bool pack(ElementwiseParams& p, bool& contiguous, std::initializer_list<const Tensor*> ts) {
  const Tensor& out = **ts.begin();
  std::memset(&p, 0, sizeof p);
  if (out.numel() >= (int64_t(1) << 31)) return false;
  p.n = uint32_t(out.numel());
  contiguous = true;
  for (const Tensor* t : ts) contiguous = contiguous && t->is_contiguous();
  uint32_t nd = 0;
  for (int64_t d = 0; d < out.dim(); ++d) {
    if (out.shape()[d] == 1) continue;
    if (nd == EMBER_EW_MAX_DIMS) return false;
    p.shape[nd] = uint32_t(out.shape()[d]);
    int k = 0;
    for (const Tensor* t : ts) {
      int64_t s = t->strides()[d];
      if (s > INT32_MAX || s < INT32_MIN) return false;
      p.strides[k++][nd] = int32_t(s);
    }
    ++nd;
  }
  p.ndim = nd;
  return true;
}

void launch(const std::string& name, uint32_t op, bool contiguous, const ElementwiseParams& p,
            std::initializer_list<const Tensor*> buffers, int params_index) {
  Dispatch d(name, {Constant::uint(EMBER_EW_CONST_OP, op),
                    Constant::boolean(EMBER_EW_CONST_CONTIGUOUS, contiguous)});
  uint32_t i = 0;
  for (const Tensor* t : buffers) d.buffer(i++, t->raw_data());
  d.value(uint32_t(params_index), p);
  uint32_t groups = std::min<uint32_t>((p.n + kThreads - 1) / kThreads, kMaxGroups);
  d.threadgroups({groups}, {kThreads});
}

// ---- unary
struct Code {
  int code;  // EwUnary / EwBinary value, -1: no Metal kernel
  const char* name;
};
Code unary_code(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return {EW_NEG, "neg"};
    case UnaryOp::Abs: return {EW_ABS, "abs"};
    case UnaryOp::Sign: return {EW_SIGN, "sign"};
    case UnaryOp::Reciprocal: return {EW_RECIPROCAL, "reciprocal"};
    case UnaryOp::Exp: return {EW_EXP, "exp"};
    case UnaryOp::Exp2: return {EW_EXP2, "exp2"};
    case UnaryOp::Log: return {EW_LOG, "log"};
    case UnaryOp::Log2: return {EW_LOG2, "log2"};
    case UnaryOp::Log1p: return {EW_LOG1P, "log1p"};
    case UnaryOp::Expm1: return {EW_EXPM1, "expm1"};
    case UnaryOp::Sqrt: return {EW_SQRT, "sqrt"};
    case UnaryOp::Rsqrt: return {EW_RSQRT, "rsqrt"};
    case UnaryOp::Square: return {EW_SQUARE, "square"};
    case UnaryOp::Sin: return {EW_SIN, "sin"};
    case UnaryOp::Cos: return {EW_COS, "cos"};
    case UnaryOp::Tan: return {EW_TAN, "tan"};
    case UnaryOp::Tanh: return {EW_TANH, "tanh"};
    case UnaryOp::Sigmoid: return {EW_SIGMOID, "sigmoid"};
    case UnaryOp::Erf: return {EW_ERF, "erf"};
    case UnaryOp::Floor: return {EW_FLOOR, "floor"};
    case UnaryOp::Ceil: return {EW_CEIL, "ceil"};
    case UnaryOp::Round: return {EW_ROUND, "round"};
    case UnaryOp::Trunc: return {EW_TRUNC, "trunc"};
    case UnaryOp::Relu: return {EW_RELU, "relu"};
    case UnaryOp::Silu: return {EW_SILU, "silu"};
    case UnaryOp::Mish: return {EW_MISH, "mish"};
    case UnaryOp::GeluErf: return {EW_GELU_ERF, "gelu"};
    case UnaryOp::GeluTanh: return {EW_GELU_TANH, "gelu_tanh"};
    case UnaryOp::LeakyRelu: return {EW_LEAKY_RELU, "leaky_relu"};
    case UnaryOp::Elu: return {EW_ELU, "elu"};
    case UnaryOp::Softplus: return {EW_SOFTPLUS, "softplus"};
    case UnaryOp::Hardtanh: return {EW_CLAMP, "hardtanh"};
    case UnaryOp::ClampMin: return {EW_CLAMP_MIN, "clamp_min"};
    case UnaryOp::ClampMax: return {EW_CLAMP_MAX, "clamp_max"};
    case UnaryOp::Clamp: return {EW_CLAMP, "clamp"};
    case UnaryOp::NanToNum: return {EW_NAN_TO_NUM, "nan_to_num"};
    case UnaryOp::PowScalar: return {EW_POW_SCALAR, "pow"};
    case UnaryOp::RPowScalar: return {EW_RPOW_SCALAR, "pow"};
    case UnaryOp::LogicalNot: return {EW_LOGICAL_NOT, "logical_not"};
    case UnaryOp::BitNot: return {EW_BIT_NOT, "bitwise_not"};
    case UnaryOp::IsNan: return {EW_ISNAN, "isnan"};
    case UnaryOp::IsInf: return {EW_ISINF, "isinf"};
    case UnaryOp::IsFinite: return {EW_ISFINITE, "isfinite"};
    case UnaryOp::IsPosInf: return {EW_ISPOSINF, "isposinf"};
    case UnaryOp::IsNegInf: return {EW_ISNEGINF, "isneginf"};
  }
  return {-1, "unary"};
}
bool is_predicate(int code) { return code >= EW_ISNAN; }

// Integer ops that keep the dtype (the unary_int kernels), in integer arithmetic.
bool int_kernel_op(int code) {
  switch (code) {
    case EW_NEG: case EW_ABS: case EW_SIGN: case EW_SQUARE: case EW_RELU: case EW_FLOOR:
    case EW_CEIL: case EW_ROUND: case EW_TRUNC: case EW_BIT_NOT:
      return true;
    default: return false;  // clamps take bounds, powers of integers run as binary ops
  }
}

// Floats run every op with a code (parameters are float32, as in the CPU kernel for these
// dtypes); predicates run on any dtype; integers the ops that keep their dtype (not clamps).
const char* unary_declines(UnaryOp op, const Tensor& out, const Tensor& x, double, double, double) {
  Code c = unary_code(op);
  ElementwiseParams p;
  bool contiguous;
  const Dtype dt = x.dtype();
  bool ok = c.code >= 0 && suffix(dt) && pack(p, contiguous, {&out, &x});
  if (ok && !is_predicate(c.code)) {
    bool is_int = dt == Dtype::Int32 || dt == Dtype::Int64;
    ok = c.code == EW_BIT_NOT ? is_int : is_float_kernel(dt) || (is_int && int_kernel_op(c.code));
  }
  return ok ? nullptr : c.name;
}
void unary(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1, double p2) {
  Code c = unary_code(op);
  ElementwiseParams p;
  bool contiguous;
  pack(p, contiguous, {&out, &x});
  p.p0 = float(p0), p.p1 = float(p1), p.p2 = float(p2);
  // unary_float32 / unary_int64 (the integer kernel) / unary_pred_bool ...
  std::string name = std::string(is_predicate(c.code) ? "unary_pred_" : "unary_") + suffix(x.dtype());
  launch(name, uint32_t(c.code), contiguous, p, {&x, &out}, 2);
}

// ---- binary and comparisons
Code binary_code(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return {EW_ADD, "add"};
    case BinaryOp::Sub: return {EW_SUB, "sub"};
    case BinaryOp::Mul: return {EW_MUL, "mul"};
    case BinaryOp::Div: return {EW_DIV, "div"};
    case BinaryOp::FloorDiv: return {EW_FLOOR_DIVIDE, "floor_divide"};
    case BinaryOp::Remainder: return {EW_REMAINDER, "remainder"};
    case BinaryOp::Pow: return {EW_POW, "pow"};
    case BinaryOp::Maximum: return {EW_MAXIMUM, "maximum"};
    case BinaryOp::Minimum: return {EW_MINIMUM, "minimum"};
    case BinaryOp::Atan2: return {EW_ATAN2, "atan2"};
    case BinaryOp::Fmod: return {EW_FMOD, "fmod"};
    case BinaryOp::Fmax: return {EW_FMAX, "fmax"};
    case BinaryOp::Fmin: return {EW_FMIN, "fmin"};
    case BinaryOp::Eq: return {EW_EQ, "eq"};
    case BinaryOp::Ne: return {EW_NE, "ne"};
    case BinaryOp::Lt: return {EW_LT, "lt"};
    case BinaryOp::Le: return {EW_LE, "le"};
    case BinaryOp::Gt: return {EW_GT, "gt"};
    case BinaryOp::Ge: return {EW_GE, "ge"};
    case BinaryOp::LogicalAnd: return {EW_LOGICAL_AND, "logical_and"};
    case BinaryOp::LogicalOr: return {EW_LOGICAL_OR, "logical_or"};
    case BinaryOp::LogicalXor: return {EW_LOGICAL_XOR, "logical_xor"};
    case BinaryOp::BitAnd: return {EW_BIT_AND, "bitwise_and"};
    case BinaryOp::BitOr: return {EW_BIT_OR, "bitwise_or"};
    case BinaryOp::BitXor: return {EW_BIT_XOR, "bitwise_xor"};
  }
  return {-1, "binary"};
}
bool is_comparison(int code) { return code >= EW_EQ; }

const char* binary_declines(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  Code c = binary_code(op);
  ElementwiseParams p;
  bool contiguous;
  const Dtype dt = a.dtype();
  bool ok = suffix(dt) && pack(p, contiguous, {&out, &a, &b});
  if (!is_comparison(c.code)) {
    bool bitwise = c.code >= EW_BIT_AND;
    ok = ok && (dt != Dtype::Bool || bitwise);  // arithmetic on bool runs on the CPU
    bool float_only = c.code == EW_DIV || c.code == EW_ATAN2;
    ok = ok && !(bitwise && is_float_kernel(dt)) && !(float_only && !is_float_kernel(dt));
  }
  return ok ? nullptr : c.name;
}
void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  Code c = binary_code(op);
  ElementwiseParams p;
  bool contiguous;
  pack(p, contiguous, {&out, &a, &b});
  if (a.dtype() == Dtype::Bool && c.code >= EW_BIT_AND && !is_comparison(c.code))  // & | ^ of bools
    c.code = c.code == EW_BIT_AND ? EW_LOGICAL_AND : c.code == EW_BIT_OR ? EW_LOGICAL_OR : EW_LOGICAL_XOR;
  std::string name = std::string(is_comparison(c.code) ? "comparison_" : "binary_") + suffix(a.dtype());
  launch(name, uint32_t(c.code), contiguous, p, {&a, &b, &out}, 3);
}

// ---- where, copy / cast, fill
const char* where_declines(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  ElementwiseParams p;
  bool contiguous;
  return suffix(out.dtype()) && pack(p, contiguous, {&out, &cond, &a, &b}) ? nullptr : dtype_name(out.dtype());
}
void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  ElementwiseParams p;
  bool contiguous;
  pack(p, contiguous, {&out, &cond, &a, &b});
  launch(std::string("where_") + suffix(out.dtype()), 0, contiguous, p, {&cond, &a, &b, &out}, 4);
}

const char* copy_declines(const Tensor& dst, const Tensor& src) {
  ElementwiseParams p;
  bool contiguous;
  if (!suffix(src.dtype())) return dtype_name(src.dtype());
  if (!suffix(dst.dtype())) return dtype_name(dst.dtype());
  return pack(p, contiguous, {&dst, &src}) ? nullptr : "strides";
}
void copy(const Tensor& dst, const Tensor& src) {
  ElementwiseParams p;
  bool contiguous;
  pack(p, contiguous, {&dst, &src});
  launch(std::string("copy_") + suffix(src.dtype()) + "_" + suffix(dst.dtype()), 0, contiguous, p, {&src, &dst}, 2);
}

const char* fill_declines(const Tensor& dst, const Scalar&) {
  ElementwiseParams p;
  bool contiguous;
  return suffix(dst.dtype()) && pack(p, contiguous, {&dst}) ? nullptr : dtype_name(dst.dtype());
}
void fill(const Tensor& dst, const Scalar& value) {
  ElementwiseParams p;
  bool contiguous;
  pack(p, contiguous, {&dst});
  Dispatch d(std::string("fill_") + suffix(dst.dtype()),
             {Constant::uint(EMBER_EW_CONST_OP, 0), Constant::boolean(EMBER_EW_CONST_CONTIGUOUS, contiguous)});
  d.buffer(0, dst.raw_data());
  switch (dst.dtype()) {  // the value in the element type, as the kernel reads `constant T&`
    case Dtype::Float32: d.value(1, value.to<float>()); break;
    case Dtype::Float16: d.value(1, float_to_half_bits(value.to<float>())); break;
    case Dtype::BFloat16: d.value(1, BFloat16(value.to<float>()).x); break;
    case Dtype::Int32: d.value(1, value.to<int32_t>()); break;
    case Dtype::Int64: d.value(1, value.to<int64_t>()); break;
    default: d.value(1, value.to<bool>()); break;
  }
  d.value(2, p);
  d.threadgroups({std::min<uint32_t>((p.n + kThreads - 1) / kThreads, kMaxGroups)}, {kThreads});
}

}  // namespace
}  // namespace ember::metal

namespace ember {
EMBER_REGISTER_KERNEL(unary, Metal, metal::unary);
EMBER_REGISTER_DECLINES(unary, Metal, metal::unary_declines);
EMBER_REGISTER_KERNEL(binary, Metal, metal::binary);
EMBER_REGISTER_DECLINES(binary, Metal, metal::binary_declines);
EMBER_REGISTER_KERNEL(where, Metal, metal::where);
EMBER_REGISTER_DECLINES(where, Metal, metal::where_declines);
EMBER_REGISTER_KERNEL(copy, Metal, metal::copy);
EMBER_REGISTER_DECLINES(copy, Metal, metal::copy_declines);
EMBER_REGISTER_KERNEL(fill, Metal, metal::fill);
EMBER_REGISTER_DECLINES(fill, Metal, metal::fill_declines);
}  // namespace ember
