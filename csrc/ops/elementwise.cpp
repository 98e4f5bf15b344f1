// Elementwise ops: dtype promotion (PyTorch's rules), broadcasting, in-place variants and the
// backward formula of each op, written with ember ops so higher-order grads work.
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "backend/kernels.h"
#include "backend/kernels_act.h"
#include "ops/ops.h"

namespace ember {
using autograd::any_requires_grad;
using autograd::record;

namespace {

const char* binary_name(BinaryOp op) { return op_tables::kBinaryNames[int(op)]; }
const char* unary_name(UnaryOp op) { return op_tables::kUnaryNames[int(op)]; }
bool unary_has(UnaryOp op, uint8_t flag) { return op_tables::kUnaryFlags[int(op)] & flag; }

// An activation's backward as one kernel pass (CPU, float32/64) when no graph of the backward
// is built; create_graph and other devices use the differentiable chain of ops. run(out, g, x)
// gets contiguous g and x; an undefined result means "use the chain".
template <class Run>
Tensor one_pass_backward(const Tensor& g, const Tensor& x, Run run) {
  if (autograd::GradMode::enabled() || x.device() != Device::CPU || g.device() != Device::CPU ||
      g.dtype() != x.dtype() || g.shape() != x.shape() || (x.dtype() != Dtype::Float32 && x.dtype() != Dtype::Float64))
    return Tensor();
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  run(out, contiguous(g), contiguous(x));
  return out;
}

Tensor gelu_backward_kernel(const Tensor& g, const Tensor& x, bool tanh) {
  return one_pass_backward(g, x, [tanh](const Tensor& o, const Tensor& gc, const Tensor& xc) {
    kernel::gelu_backward(Device::CPU)(o, gc, xc, tanh);
  });
}

Tensor silu_backward_kernel(const Tensor& g, const Tensor& x) {
  return one_pass_backward(g, x, [](const Tensor& o, const Tensor& gc, const Tensor& xc) {
    kernel::silu_backward(Device::CPU)(o, gc, xc);
  });
}

bool is_comparison(BinaryOp op) { return op_tables::kBinaryFlags[int(op)] & op_flags::kCompare; }
bool is_bitwise(BinaryOp op) { return op_tables::kBinaryFlags[int(op)] & op_flags::kBitwise; }

// Cast/expand without recording autograd (the op records its own node on the originals).
Tensor raw_cast(const Tensor& t, Dtype d) {
  if (t.dtype() == d) return t;
  Tensor out = empty(t.shape(), d, t.device());
  copy_kernel_call(out, t);
  return out;
}
Tensor raw_expand(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  int64_t n = int64_t(shape.size()), k = n - t.dim();
  Shape st(n, 0);
  for (int64_t i = 0; i < t.dim(); ++i) st[k + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return make_view(t, shape, st, t.offset());
}
Tensor as_float_mask(const Tensor& m, const Tensor& like) { return raw_cast(m, like.dtype()); }

// PyTorch's can_cast: no float -> integer, no non-bool -> bool.
bool can_cast(Dtype from, Dtype to) {
  if (is_floating(from) && !is_floating(to)) return false;
  if (from != Dtype::Bool && to == Dtype::Bool) return false;
  return true;
}

bool unary_needs_float(UnaryOp op) { return unary_has(op, op_flags::kFloat); }
bool unary_is_predicate(UnaryOp op) { return unary_has(op, op_flags::kPredicate); }

void record_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using autograd::BackwardFn;
  BackwardFn fn;
  TensorList saved;
  switch (op) {
    case BinaryOp::Add:
      fn = [](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList { return {g[0], g[0]}; };
      break;
    case BinaryOp::Sub:
      fn = [](const TensorList& g, const TensorList&, const std::vector<bool>& n) -> TensorList {
        return {g[0], n[1] ? -g[0] : Tensor()};
      };
      break;
    case BinaryOp::Mul:
      // save an input only when the other one needs its value (PyTorch does the same)
      saved = {autograd::needs_grad(b) ? a : Tensor(), autograd::needs_grad(a) ? b : Tensor()};
      fn = [](const TensorList& g, const TensorList& s, const std::vector<bool>& n) -> TensorList {
        return {n[0] ? g[0] * s[1] : Tensor(), n[1] ? g[0] * s[0] : Tensor()};
      };
      break;
    case BinaryOp::Div:
      saved = {autograd::needs_grad(b) ? a : Tensor(), b};
      fn = [](const TensorList& g, const TensorList& s, const std::vector<bool>& n) -> TensorList {
        Tensor ga = g[0] / s[1];
        return {n[0] ? ga : Tensor(), n[1] ? -ga * s[0] / s[1] : Tensor()};
      };
      break;
    case BinaryOp::FloorDiv:
      fn = [](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
        return {zeros_like(g[0]), zeros_like(g[0])};
      };
      break;
    case BinaryOp::Remainder:
      saved = {a, b};
      fn = [](const TensorList& g, const TensorList& s, const std::vector<bool>& n) -> TensorList {
        return {g[0], n[1] ? -g[0] * binary(BinaryOp::FloorDiv, s[0], s[1]) : Tensor()};
      };
      break;
    case BinaryOp::Pow:
      saved = {a, b, out};
      fn = [](const TensorList& g, const TensorList& s, const std::vector<bool>& n) -> TensorList {
        Tensor ga, gb;
        if (n[0]) {
          // d/da a^b = b * a^(b-1); zero where b == 0 (avoids 0 * inf)
          Tensor e = binary(BinaryOp::Pow, s[0], s[1] - 1.0);
          ga = where(binary(BinaryOp::Eq, s[1], Scalar(0.0)), zeros_like(g[0]), g[0] * s[1] * e);
        }
        if (n[1]) {
          Tensor safe = where(binary(BinaryOp::Gt, s[0], Scalar(0.0)), s[0], ones(s[0].shape(), s[0].dtype(), s[0].device()));
          Tensor lg = unary(UnaryOp::Log, safe);
          Tensor mask = binary(BinaryOp::LogicalAnd, binary(BinaryOp::Eq, s[0], Scalar(0.0)),
                               binary(BinaryOp::Ge, s[1], Scalar(0.0)));
          gb = where(mask, zeros_like(g[0]), g[0] * s[2] * lg);
        }
        return {ga, gb};
      };
      break;
    case BinaryOp::Maximum:
    case BinaryOp::Minimum: {
      saved = {a, b};
      bool is_max = op == BinaryOp::Maximum;
      fn = [is_max](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
        // ties split the gradient evenly
        Tensor half = g[0] * 0.5;
        Tensor a_wins = binary(is_max ? BinaryOp::Gt : BinaryOp::Lt, s[0], s[1]);
        Tensor tie = binary(BinaryOp::Eq, s[0], s[1]);
        Tensor z = zeros_like(g[0]);
        Tensor ga = where(tie, half, where(a_wins, g[0], z));
        Tensor gb = where(tie, half, where(a_wins, z, g[0]));
        return {ga, gb};
      };
      break;
    }
    case BinaryOp::Atan2:
      saved = {a, b};
      fn = [](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
        Tensor den = s[0] * s[0] + s[1] * s[1];
        return {g[0] * s[1] / den, -g[0] * s[0] / den};
      };
      break;
    case BinaryOp::Fmod:  // a - trunc(a / b) * b
      saved = {a, b};
      fn = [](const TensorList& g, const TensorList& s, const std::vector<bool>& n) -> TensorList {
        return {g[0], n[1] ? -g[0] * unary(UnaryOp::Trunc, s[0] / s[1]) : Tensor()};
      };
      break;
    case BinaryOp::Fmax:
    case BinaryOp::Fmin: {  // the gradient goes to the value picked (a on ties and when b is NaN)
      saved = {a, b};
      bool is_max = op == BinaryOp::Fmax;
      fn = [is_max](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
        Tensor a_wins = binary(BinaryOp::LogicalOr, binary(is_max ? BinaryOp::Ge : BinaryOp::Le, s[0], s[1]),
                               unary(UnaryOp::IsNan, s[1]));
        Tensor z = zeros_like(g[0]);
        return {where(a_wins, g[0], z), where(a_wins, z, g[0])};
      };
      break;
    }
    default: return;
  }
  static const char* node_names[] = {"AddBackward0", "SubBackward0", "MulBackward0", "DivBackward0",
                                     "FloorDivideBackward0", "RemainderBackward0", "PowBackward1", "MaximumBackward0",
                                     "MinimumBackward0", "Atan2Backward0", "FmodBackward0",
                                     "FmaxBackward0", "FminBackward0"};
  record(node_names[int(op)], {a, b}, {out}, saved, std::move(fn));
}

}  // namespace

Dtype result_type(const Tensor& a, const Tensor& b) {
  std::optional<Dtype> dimr, zero, wrapped;
  auto update = [&](const Tensor& t) {
    std::optional<Dtype>& slot = t.impl()->wrapped_number ? wrapped : (t.dim() == 0 ? zero : dimr);
    Dtype d = t.dtype();
    if (t.impl()->wrapped_number && is_floating(d)) d = default_dtype();
    slot = slot ? promote_types(*slot, d) : d;
  };
  update(a);
  update(b);
  auto combine = [](std::optional<Dtype> hi, std::optional<Dtype> lo) -> std::optional<Dtype> {
    if (!hi) return lo;
    if (!lo) return hi;
    if (is_floating(*hi)) return hi;
    if (*hi == Dtype::Bool || is_floating(*lo)) return promote_types(*hi, *lo);
    return hi;
  };
  return *combine(dimr, combine(zero, wrapped));
}

// The device of an op over a and b: a CPU 0-d operand follows the other one.
Device op_device(const Tensor& a, const Tensor& b) {
  return a.dim() == 0 && a.device() == Device::CPU ? b.device() : a.device();
}
// A CPU 0-d operand of a device op that requires grad moves there differentiably up front;
// constants (Python numbers) move after their cast, in device_operand.
Tensor grad_operand(const Tensor& t, Device dev, const char* op) {
  return t.requires_grad() ? on_device(t, dev, op) : t;
}
// An operand in the compute dtype on dev: a CPU 0-d constant is cast on the host, then moved (a
// cast on the device would need its source dtype there, e.g. a float64 Python number).
Tensor device_operand(const Tensor& t, Dtype dt, Device dev, const char* op) {
  if (t.device() != dev && t.dim() == 0 && t.device() == Device::CPU) return to_device(raw_cast(t, dt), dev);
  return raw_cast(on_device(t, dev, op), dt);
}

// Two CPU float tensors of one dtype and shape (the common case in a training loop): no
// promotion, broadcasting, casts or device moves to work out; skips their temporaries.
bool binary_trivial(BinaryOp op, const Tensor& a, const Tensor& b) {
  const TensorImpl *ia = a.impl(), *ib = b.impl();
  return ia->dtype == ib->dtype && is_floating(ia->dtype) && !is_bitwise(op) && !ia->wrapped_number &&
         !ib->wrapped_number && ia->storage->device == Device::CPU && ib->storage->device == Device::CPU &&
         ia->shape == ib->shape;
}

// A few contiguous float32 elements: the arithmetic inline, as the kernel call's set-up (device
// checks, strided iterator, thread pool test) costs more than the arithmetic itself.
bool tiny_arith(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  constexpr int64_t kTiny = 16;
  const int64_t n = out.numel();
  if (n > kTiny || compile::g_tracing || a.dtype() != Dtype::Float32 || !a.is_contiguous() || !b.is_contiguous())
    return false;
  float* o = out.data<float>();
  const float *x = a.data<float>(), *y = b.data<float>();
  switch (op) {
    case BinaryOp::Add: for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i]; return true;
    case BinaryOp::Sub: for (int64_t i = 0; i < n; ++i) o[i] = x[i] - y[i]; return true;
    case BinaryOp::Mul: for (int64_t i = 0; i < n; ++i) o[i] = x[i] * y[i]; return true;
    case BinaryOp::Div: for (int64_t i = 0; i < n; ++i) o[i] = x[i] / y[i]; return true;
    default: return false;
  }
}

Tensor binary(BinaryOp op, const Tensor& a0, const Tensor& b0) {
  if (binary_trivial(op, a0, b0)) [[likely]] {
    Tensor out = empty(a0.shape(), is_comparison(op) ? Dtype::Bool : a0.dtype(), Device::CPU);
    if (out.numel() && !tiny_arith(op, out, a0, b0)) kernel::binary(Device::CPU)(op, out, a0, b0);
    if (is_floating(out.dtype()) && any_requires_grad(a0, b0)) record_binary(op, a0, b0, out);
    return out;
  }
  const char* name = binary_name(op);
  const Device dev = op_device(a0, b0);
  const Tensor a = grad_operand(a0, dev, name), b = grad_operand(b0, dev, name);
  Dtype common = result_type(a, b);
  if (is_bitwise(op) && is_floating(common))
    EMBER_TYPE_ERROR(name, ": not supported for floating point tensors (", dtype_name(a.dtype()), ", ",
                     dtype_name(b.dtype()), ")");
  if (op == BinaryOp::Sub && common == Dtype::Bool)
    EMBER_TYPE_ERROR("sub: subtraction with two bool tensors is not supported; use logical_xor() or ~ instead");
  Dtype compute = common;
  if ((op == BinaryOp::Div || op == BinaryOp::Atan2) && !is_floating(common)) compute = default_dtype();
  Dtype out_dtype = is_comparison(op) ? Dtype::Bool : compute;
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);

  Tensor ca = device_operand(a, compute, dev, name), cb = device_operand(b, compute, dev, name);
  if (op == BinaryOp::Fmod && compute == Dtype::Bool)
    EMBER_TYPE_ERROR("fmod: not implemented for bool tensors (", dtype_name(a.dtype()), ", ", dtype_name(b.dtype()), ")");
  bool int_division = op == BinaryOp::FloorDiv || op == BinaryOp::Remainder || op == BinaryOp::Fmod;
  if (!is_floating(compute) && int_division && cb.numel() > 0) {
    Tensor zero_b = empty(cb.shape(), Dtype::Bool, dev);
    kernel::binary(dev)(BinaryOp::Eq, zero_b, cb, raw_expand(zeros({}, compute, dev), cb.shape()));
    Tensor anyz = empty({}, Dtype::Bool, dev);
    kernel::reduce(dev)(ReduceOp::Any, anyz, Tensor(), reshape(zero_b, {-1}), 1);
    synchronize(dev);  // the host reads the flag
    if (*anyz.data<bool>()) EMBER_RUNTIME_ERROR(name, ": ZeroDivisionError (integer division by zero)");
  }
  if (op == BinaryOp::Pow && !is_floating(compute) && compute != Dtype::Bool && cb.numel() > 0) {
    Tensor neg = empty(cb.shape(), Dtype::Bool, dev);
    kernel::binary(dev)(BinaryOp::Lt, neg, cb, raw_expand(zeros({}, compute, dev), cb.shape()));
    Tensor anyn = empty({}, Dtype::Bool, dev);
    kernel::reduce(dev)(ReduceOp::Any, anyn, Tensor(), reshape(neg, {-1}), 1);
    synchronize(dev);  // the host reads the flag
    if (*anyn.data<bool>()) EMBER_RUNTIME_ERROR("pow: integers to negative integer powers are not allowed");
  }
  Tensor out = empty(shape, out_dtype, dev);
  if (out.numel()) kernel::binary(dev)(op, out, raw_expand(ca, shape), raw_expand(cb, shape));
  if (is_floating(out_dtype) && any_requires_grad(a, b)) record_binary(op, a, b, out);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Scalar& b) {
  // x ** c on a float tensor: the scalar-exponent kernel (and PyTorch's PowBackward0)
  if (op == BinaryOp::Pow && is_floating(a.dtype())) return unary(UnaryOp::PowScalar, a, b.to_double());
  return binary(op, a, wrapped_scalar(b));
}
Tensor binary(BinaryOp op, const Scalar& a, const Tensor& b) { return binary(op, wrapped_scalar(a), b); }

Tensor& binary_(BinaryOp op, Tensor& self, const Tensor& other0) {
  const char* name = binary_name(op);
  const Tensor other = grad_operand(other0, self.device(), name);
  check_inplace(self, name);
  for (int64_t d = 0; d < self.dim(); ++d)
    if (self.strides()[d] == 0 && self.shape()[d] > 1)
      EMBER_RUNTIME_ERROR(name, "_: unsupported operation: more than one element of the written-to tensor refers to a "
                          "single memory location (expanded tensor of shape ", self.shape(), "); clone() it first");
  Dtype rt = result_type(self, other);
  if ((op == BinaryOp::Div || op == BinaryOp::Atan2) && !is_floating(rt)) rt = default_dtype();
  if (is_comparison(op)) rt = Dtype::Bool;
  if (!can_cast(rt, self.dtype()))
    EMBER_TYPE_ERROR(name, "_: result type ", dtype_name(rt), " can't be cast to the desired output type ",
                     dtype_name(self.dtype()));
  Shape shape = broadcast_shapes(self.shape(), other.shape(), name);
  EMBER_CHECK(shape == self.shape(), name, "_: output with shape ", self.shape(),
              " doesn't match the broadcast shape ", shape);
  if (any_requires_grad(self, other)) {
    Tensor r = binary(op, clone(self), other);
    copy_kernel_call(self, r);
    self.bump_version();
    if (r.requires_grad()) {
      auto& m = self.autograd_meta();
      m.requires_grad = true;
      m.grad_fn = r.grad_fn();
      m.output_nr = r.output_nr();
    }
    return self;
  }
  bool checked_int = !is_floating(rt) && (op == BinaryOp::FloorDiv || op == BinaryOp::Remainder ||
                                          op == BinaryOp::Fmod || op == BinaryOp::Pow);
  if (rt == self.dtype() && !is_comparison(op) && !checked_int && self.numel()) {
    Tensor ob = raw_expand(device_operand(other, rt, self.device(), name), shape);
    if (ob.storage() == self.storage() && !ob.same(self)) ob = clone(ob);  // overlapping views
    kernel::binary(self.device())(op, self, self, ob);
  } else if (self.numel()) {
    copy_kernel_call(self, binary(op, self, other));
  }
  self.bump_version();
  return self;
}

Tensor& binary_(BinaryOp op, Tensor& self, const Scalar& other) { return binary_(op, self, wrapped_scalar(other)); }

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (alpha.to_double() == 1.0) return binary(BinaryOp::Add, a, b);
  return binary(BinaryOp::Add, a, binary(BinaryOp::Mul, b, alpha));
}
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  if (alpha.to_double() == 1.0) return binary(BinaryOp::Sub, a, b);
  return binary(BinaryOp::Sub, a, binary(BinaryOp::Mul, b, alpha));
}

Tensor operator+(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor operator+(const Tensor& a, double b) { return binary(BinaryOp::Add, a, Scalar(b)); }
Tensor operator-(const Tensor& a, double b) { return binary(BinaryOp::Sub, a, Scalar(b)); }
Tensor operator*(const Tensor& a, double b) { return binary(BinaryOp::Mul, a, Scalar(b)); }
Tensor operator/(const Tensor& a, double b) { return binary(BinaryOp::Div, a, Scalar(b)); }
Tensor operator*(double a, const Tensor& b) { return binary(BinaryOp::Mul, Scalar(a), b); }
Tensor operator-(double a, const Tensor& b) { return binary(BinaryOp::Sub, Scalar(a), b); }
Tensor Tensor::operator-() const { return unary(UnaryOp::Neg, *this); }

// ---- unary

namespace {

Tensor fmask(const Tensor& m, const Tensor& like) { return as_float_mask(m, like); }

void record_unary(UnaryOp op, const Tensor& x, const Tensor& out, double p0, double p1) {
  using autograd::BackwardFn;
  using L = const TensorList&;
  using N = const std::vector<bool>&;
  BackwardFn fn;
  TensorList saved;
  const char* name = "UnaryBackward0";
  switch (op) {
    case UnaryOp::Neg: name = "NegBackward0"; fn = [](L g, L, N) -> TensorList { return {-g[0]}; }; break;
    case UnaryOp::Abs:
      name = "AbsBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * unary(UnaryOp::Sign, s[0])}; };
      break;
    case UnaryOp::Sign: case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
      name = op == UnaryOp::Sign ? "SignBackward0" : op == UnaryOp::Floor ? "FloorBackward0"
             : op == UnaryOp::Ceil ? "CeilBackward0" : op == UnaryOp::Round ? "RoundBackward0" : "TruncBackward0";
      fn = [](L g, L, N) -> TensorList { return {zeros_like(g[0])}; };
      break;
    case UnaryOp::Reciprocal:
      name = "ReciprocalBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {-g[0] * s[0] * s[0]}; };
      break;
    case UnaryOp::Exp:
      name = "ExpBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * s[0]}; };
      break;
    case UnaryOp::Exp2:
      name = "Exp2Backward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * s[0] * M_LN2}; };
      break;
    case UnaryOp::Log:
      name = "LogBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {g[0] / s[0]}; };
      break;
    case UnaryOp::Log2:
      name = "Log2Backward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {g[0] / (s[0] * M_LN2)}; };
      break;
    case UnaryOp::Log1p:
      name = "Log1PBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {g[0] / (s[0] + 1.0)}; };
      break;
    case UnaryOp::Expm1:
      name = "Expm1Backward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * (s[0] + 1.0)}; };
      break;
    case UnaryOp::Sqrt:
      name = "SqrtBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] / (s[0] * 2.0)}; };
      break;
    case UnaryOp::Rsqrt:
      name = "RsqrtBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * s[0] * s[0] * s[0] * -0.5}; };
      break;
    case UnaryOp::Square:
      name = "PowBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * s[0] * 2.0}; };
      break;
    case UnaryOp::Sin:
      name = "SinBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * unary(UnaryOp::Cos, s[0])}; };
      break;
    case UnaryOp::Cos:
      name = "CosBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {-g[0] * unary(UnaryOp::Sin, s[0])}; };
      break;
    case UnaryOp::Tan:
      name = "TanBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * (s[0] * s[0] + 1.0)}; };
      break;
    case UnaryOp::Tanh:
      name = "TanhBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * (1.0 - s[0] * s[0])}; };
      break;
    case UnaryOp::Sigmoid:
      name = "SigmoidBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * s[0] * (1.0 - s[0])}; };
      break;
    case UnaryOp::Erf:
      name = "ErfBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList {
        return {g[0] * unary(UnaryOp::Exp, -(s[0] * s[0])) * 1.12837916709551257390};
      };
      break;
    case UnaryOp::Relu:
      name = "ReluBackward0", saved = {out};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * fmask(binary(BinaryOp::Gt, s[0], Scalar(0.0)), g[0])}; };
      break;
    case UnaryOp::Silu:
      name = "SiluBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList {
        if (Tensor r = silu_backward_kernel(g[0], s[0]); r.defined()) return {r};
        Tensor sg = unary(UnaryOp::Sigmoid, s[0]);
        return {g[0] * sg * (s[0] * (1.0 - sg) + 1.0)};
      };
      break;
    case UnaryOp::Mish:
      name = "MishBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList {
        Tensor t = unary(UnaryOp::Tanh, unary(UnaryOp::Softplus, s[0], 1.0, 20.0));
        return {g[0] * (t + s[0] * unary(UnaryOp::Sigmoid, s[0]) * (1.0 - t * t))};
      };
      break;
    case UnaryOp::GeluErf:
      name = "GeluBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList {
        if (Tensor r = gelu_backward_kernel(g[0], s[0], false); r.defined()) return {r};
        Tensor cdf = (unary(UnaryOp::Erf, s[0] * M_SQRT1_2) + 1.0) * 0.5;
        Tensor pdf = unary(UnaryOp::Exp, s[0] * s[0] * -0.5) * 0.39894228040143267794;
        return {g[0] * (cdf + s[0] * pdf)};
      };
      break;
    case UnaryOp::GeluTanh:
      name = "GeluBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList {
        if (Tensor r = gelu_backward_kernel(g[0], s[0], true); r.defined()) return {r};
        const double k = 0.79788456080286535588, c = 0.044715;
        Tensor x2 = s[0] * s[0];
        Tensor t = unary(UnaryOp::Tanh, s[0] * (x2 * c + 1.0) * k);
        Tensor dt = (1.0 - t * t) * ((x2 * (3.0 * c) + 1.0) * k);
        return {g[0] * ((t + 1.0) * 0.5 + s[0] * dt * 0.5)};
      };
      break;
    case UnaryOp::LeakyRelu:
      name = "LeakyReluBackward0", saved = {x};
      fn = [p0](L g, L s, N) -> TensorList {
        return {where(binary(BinaryOp::Gt, s[0], Scalar(0.0)), g[0], g[0] * p0)};
      };
      break;
    case UnaryOp::Elu:
      name = "EluBackward0", saved = {x, out};
      fn = [p0](L g, L s, N) -> TensorList {
        return {where(binary(BinaryOp::Gt, s[0], Scalar(0.0)), g[0], g[0] * (s[1] + p0))};
      };
      break;
    case UnaryOp::Softplus:
      name = "SoftplusBackward0", saved = {x};
      fn = [p0, p1](L g, L s, N) -> TensorList {
        Tensor bx = s[0] * p0;
        return {where(binary(BinaryOp::Gt, bx, Scalar(p1)), g[0], g[0] * unary(UnaryOp::Sigmoid, bx))};
      };
      break;
    case UnaryOp::Hardtanh:
      name = "HardtanhBackward0", saved = {x};
      fn = [p0, p1](L g, L s, N) -> TensorList {
        Tensor in = binary(BinaryOp::LogicalAnd, binary(BinaryOp::Gt, s[0], Scalar(p0)), binary(BinaryOp::Lt, s[0], Scalar(p1)));
        return {g[0] * fmask(in, g[0])};
      };
      break;
    case UnaryOp::Clamp: case UnaryOp::ClampMin: case UnaryOp::ClampMax:
      name = op == UnaryOp::Clamp ? "ClampBackward1" : op == UnaryOp::ClampMin ? "ClampMinBackward0" : "ClampMaxBackward0";
      saved = {x};
      fn = [op, p0, p1](L g, L s, N) -> TensorList {
        Tensor in;
        if (op == UnaryOp::ClampMin) in = binary(BinaryOp::Ge, s[0], Scalar(p0));
        else if (op == UnaryOp::ClampMax) in = binary(BinaryOp::Le, s[0], Scalar(p0));
        else in = binary(BinaryOp::LogicalAnd, binary(BinaryOp::Ge, s[0], Scalar(p0)), binary(BinaryOp::Le, s[0], Scalar(p1)));
        return {g[0] * fmask(in, g[0])};
      };
      break;
    case UnaryOp::NanToNum:
      name = "NanToNumBackward0", saved = {x};
      fn = [](L g, L s, N) -> TensorList { return {g[0] * fmask(unary(UnaryOp::IsFinite, s[0]), g[0])}; };
      break;
    case UnaryOp::PowScalar:
      name = "PowBackward0", saved = {x};
      fn = [p0](L g, L s, N) -> TensorList {
        if (p0 == 0) return {zeros_like(g[0])};
        return {g[0] * unary(UnaryOp::PowScalar, s[0], p0 - 1) * p0};
      };
      break;
    case UnaryOp::RPowScalar:
      name = "PowBackward2", saved = {out};
      fn = [p0](L g, L s, N) -> TensorList { return {g[0] * s[0] * std::log(p0)}; };
      break;
    default: return;
  }
  record(name, {x}, {out}, saved, std::move(fn));
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x, double p0, double p1, double p2) {
  const char* name = unary_name(op);
  Dtype dt = x.dtype();
  if (op == UnaryOp::Neg && dt == Dtype::Bool)
    EMBER_TYPE_ERROR("neg: negation, the `-` operator, on a bool tensor is not supported; use `~` or logical_not()");
  if (op == UnaryOp::BitNot && is_floating(dt))
    EMBER_TYPE_ERROR("bitwise_not: not supported for floating point tensors (", dtype_name(dt), ")");
  if (unary_has(op, op_flags::kActivation) && !is_floating(dt))
    EMBER_TYPE_ERROR(name, ": expected a floating point tensor, got ", dtype_name(dt));
  Dtype compute = unary_needs_float(op) && !is_floating(dt) ? default_dtype() : dt;
  if (op == UnaryOp::Square && dt == Dtype::Bool) compute = Dtype::Int64;  // PyTorch: bool * bool promotes
  if (op == UnaryOp::Relu && dt == Dtype::Bool) EMBER_TYPE_ERROR("relu: boolean inputs not supported");
  if (op == UnaryOp::PowScalar || op == UnaryOp::RPowScalar) {
    if (!is_floating(dt) && (p0 != std::floor(p0))) compute = default_dtype();
    if (!is_floating(compute) && op == UnaryOp::PowScalar && p0 < 0)
      EMBER_RUNTIME_ERROR("pow: integers to negative integer powers are not allowed");
  }
  Dtype out_dtype = unary_is_predicate(op) ? Dtype::Bool : compute;
  if (op == UnaryOp::NanToNum && !is_floating(dt)) return clone(x);
  Tensor cx = raw_cast(x, compute);
  Tensor out = empty(x.shape(), out_dtype, x.device());
  if (out.numel()) kernel::unary(x.device())(op, out, cx, p0, p1, p2);
  if (is_floating(out_dtype) && any_requires_grad(x)) record_unary(op, x, out, p0, p1);
  return out;
}

Tensor& unary_(UnaryOp op, Tensor& x, double p0, double p1, double p2) {
  const char* name = unary_name(op);
  check_inplace(x, name);
  if (any_requires_grad(x)) {
    Tensor r = unary(op, clone(x), p0, p1, p2);
    EMBER_CHECK_KIND(r.dtype() == x.dtype(), Type, name, "_: result type ", dtype_name(r.dtype()),
                     " can't be cast to the desired output type ", dtype_name(x.dtype()));
    copy_kernel_call(x, r);
    x.bump_version();
    auto& m = x.autograd_meta();
    m.grad_fn = r.grad_fn();
    m.output_nr = r.output_nr();
    return x;
  }
  Tensor r = unary(op, x, p0, p1, p2);
  if (!can_cast(r.dtype(), x.dtype()))
    EMBER_TYPE_ERROR(name, "_: result type ", dtype_name(r.dtype()), " can't be cast to the desired output type ",
                     dtype_name(x.dtype()));
  copy_kernel_call(x, r);
  x.bump_version();
  return x;
}

Tensor where(const Tensor& cond0, const Tensor& a0, const Tensor& b0) {
  const Device dev = a0.dim() == 0 && a0.device() == Device::CPU ? op_device(b0, cond0) : a0.device();
  const Tensor cond = on_device(cond0, dev, "where"), a = grad_operand(a0, dev, "where"),
               b = grad_operand(b0, dev, "where");
  // PyTorch still accepts a uint8 condition (deprecated); other dtypes are a RuntimeError there too
  if (cond.dtype() != Dtype::Bool && cond.dtype() != Dtype::UInt8)
    EMBER_RUNTIME_ERROR("where: expected condition to be a boolean tensor, but got a tensor with dtype ",
                        dtype_name(cond.dtype()));
  if (cond.dtype() == Dtype::UInt8) return where(raw_cast(cond, Dtype::Bool), a, b);
  Dtype dt = result_type(a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, dt, dev);
  if (out.numel())
    kernel::where(dev)(out, raw_expand(cond, shape), raw_expand(device_operand(a, dt, dev, "where"), shape),
                       raw_expand(device_operand(b, dt, dev, "where"), shape));
  if (is_floating(dt) && any_requires_grad(a, b))
    record("WhereBackward0", {a, b}, {out}, {cond},
           [](const TensorList& g, const TensorList& s, const std::vector<bool>& n) -> TensorList {
             Tensor z = zeros_like(g[0]);
             return {n[0] ? where(s[0], g[0], z) : Tensor(), n[1] ? where(s[0], z, g[0]) : Tensor()};
           });
  return out;
}

Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  if (!lo && !hi) EMBER_VALUE_ERROR("clamp: at least one of 'min' or 'max' must not be None");
  // an integer tensor clamped by float bounds becomes float, like PyTorch
  Tensor in = x;
  if (!is_floating(x.dtype()) && ((lo && lo->is_float()) || (hi && hi->is_float()))) in = to_dtype(x, default_dtype());
  else if (x.dtype() == Dtype::Bool) {  // integer bounds promote bool to int64; bool bounds are not supported
    if ((lo && lo->kind == Scalar::Bool) || (hi && hi->kind == Scalar::Bool))
      EMBER_TYPE_ERROR("clamp: not implemented for bool tensors with bool bounds");
    in = to_dtype(x, Dtype::Int64);
  }
  for (const auto& bound : {lo, hi})
    if (bound) check_scalar_fits(*bound, in.dtype(), "clamp");
  if (is_integral(in.dtype(), false)) {  // exact: the kernel takes its bounds as doubles (inexact past 2^53)
    Tensor r = in;
    if (lo) r = binary(BinaryOp::Maximum, r, scalar_tensor(*lo, in.dtype()));
    if (hi) r = binary(BinaryOp::Minimum, r, scalar_tensor(*hi, in.dtype()));
    return r;
  }
  if (lo && hi) return unary(UnaryOp::Clamp, in, lo->to_double(), hi->to_double());
  if (lo) return unary(UnaryOp::ClampMin, in, lo->to_double());
  return unary(UnaryOp::ClampMax, in, hi->to_double());
}

Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi) {
  if (!lo.defined() && !hi.defined()) EMBER_VALUE_ERROR("clamp: at least one of 'min' or 'max' must not be None");
  Tensor r = x;
  if (lo.defined()) r = binary(BinaryOp::Maximum, r, lo);
  if (hi.defined()) r = binary(BinaryOp::Minimum, r, hi);
  return r;
}

Tensor nan_to_num(const Tensor& x, std::optional<double> nan, std::optional<double> posinf,
                  std::optional<double> neginf) {
  if (!is_floating(x.dtype())) return clone(x);
  double big = 0;
  switch (x.dtype()) {
    case Dtype::Float16: big = 65504.0; break;
    case Dtype::BFloat16: big = 3.3895313892515355e38; break;
    case Dtype::Float32: big = std::numeric_limits<float>::max(); break;
    default: big = std::numeric_limits<double>::max();
  }
  return unary(UnaryOp::NanToNum, x, nan.value_or(0.0), posinf.value_or(big), neginf.value_or(-big));
}

}  // namespace ember
