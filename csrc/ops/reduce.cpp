// Reductions. Each op normalizes its dims into a plan: x viewed as [kept..., reduced...], the
// output shape with and without keepdim; the kernel reduces the trailing block.
#include <cmath>

#include "autograd/node.h"
#include "backend/kernels.h"
#include "ops/ops.h"

namespace ember {
using autograd::any_requires_grad;
using autograd::record;

namespace {

struct Plan {
  Shape in_shape, keep_shape, out_shape;
  Dims perm;      // kept dims, then reduced dims
  int nred = 0;
  int64_t count = 1;  // elements per output
  Dims reduced;
};

// The reduction kernels track at most this many dims (like the elementwise ones).
constexpr int64_t kMaxReduceDims = 25;

Plan make_plan(const Tensor& x, const OptDims& dims, bool keepdim, const char* op) {
  Plan p;
  int64_t nd = x.dim();
  EMBER_CHECK(nd <= kMaxReduceDims, op, ": tensors with more than ", kMaxReduceDims, " dims are not supported, got shape ",
              x.shape());
  p.in_shape = x.shape();
  std::vector<bool> red(nd, !dims || dims->empty());
  if (dims && !dims->empty()) {
    for (int64_t d : *dims) {
      int64_t w = wrap_dim(d, nd, op);
      if (nd == 0) continue;
      EMBER_CHECK(!red[w], op, ": dim ", w, " appears multiple times in the list of dims");
      red[w] = true;
    }
  }
  for (int64_t i = 0; i < nd; ++i)
    if (!red[i]) p.perm.push_back(i);
  for (int64_t i = 0; i < nd; ++i)
    if (red[i]) p.perm.push_back(i), p.reduced.push_back(i), p.nred++, p.count *= x.shape()[i];
  for (int64_t i = 0; i < nd; ++i) {
    p.keep_shape.push_back(red[i] ? 1 : x.shape()[i]);
    if (!red[i] || keepdim) p.out_shape.push_back(red[i] ? 1 : x.shape()[i]);
  }
  return p;
}

Tensor permuted_view(const Tensor& x, const Plan& p) {
  Shape shape, strides;
  for (int64_t d : p.perm) shape.push_back(x.shape()[d]), strides.push_back(x.strides()[d]);
  return make_view(x, shape, strides, x.offset());
}

Tensor cast_raw(const Tensor& t, Dtype d) {
  if (t.dtype() == d) return t;
  Tensor out = empty(t.shape(), d, t.device());
  copy_kernel_call(out, t);
  return out;
}

// out (and optionally idx) with the plan's output shape
Tensor run(ReduceOp op, const Tensor& x, const Plan& p, Dtype out_dtype, Tensor* idx = nullptr) {
  Tensor xc = cast_raw(x, out_dtype);
  Tensor out = empty(p.out_shape, out_dtype, x.device());
  Tensor ix = idx ? empty(p.out_shape, Dtype::Int64, x.device()) : Tensor();
  kernel::reduce(x.device())(op, out, ix, permuted_view(xc, p), p.nred);
  if (idx) *idx = ix;
  return out;
}

// grad of a reduced output, broadcast back over the input's shape
Tensor expand_back(const Tensor& g, const Shape& keep_shape, const Shape& in_shape) {
  return expand(reshape(g, keep_shape), in_shape);
}

void check_nonempty(const Tensor& x, const Plan& p, const char* op) {
  if (p.count == 0 && x.numel() == 0)
    EMBER_INDEX_ERROR(op, ": expected reduction dims to have non-zero size (input shape ", x.shape(), ")");
}

Dtype sum_dtype(Dtype d) { return is_floating(d) ? d : Dtype::Int64; }

}  // namespace

Tensor sum(const Tensor& x, const OptDims& dims, bool keepdim, std::optional<Dtype> dtype) {
  Plan p = make_plan(x, dims, keepdim, "sum");
  Tensor out = run(ReduceOp::Sum, x, p, dtype.value_or(sum_dtype(x.dtype())));
  if (is_floating(out.dtype()) && any_requires_grad(x))
    record(dims ? "SumBackward1" : "SumBackward0", {x}, {out}, {},
           [ks = p.keep_shape, in = p.in_shape](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
             return {expand_back(g[0], ks, in)};
           });
  return out;
}

Tensor mean(const Tensor& x, const OptDims& dims, bool keepdim, std::optional<Dtype> dtype) {
  Dtype dt = dtype.value_or(x.dtype());
  if (!is_floating(dt))
    EMBER_TYPE_ERROR("mean: could not infer output dtype; input dtype must be floating point, got ", dtype_name(dt));
  Plan p = make_plan(x, dims, keepdim, "mean");
  Tensor out;
  {
    autograd::GradModeGuard off(false);
    out = sum(x, dims, keepdim, dt) / double(p.count);
  }
  if (any_requires_grad(x))
    record(dims ? "MeanBackward1" : "MeanBackward0", {x}, {out}, {},
           [ks = p.keep_shape, in = p.in_shape, n = double(p.count)](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
             return {expand_back(g[0], ks, in) / n};
           });
  return out;
}

Tensor prod(const Tensor& x, std::optional<int64_t> dim, bool keepdim, std::optional<Dtype> dtype) {
  OptDims dims = dim ? OptDims(Dims{*dim}) : std::nullopt;
  Plan p = make_plan(x, dims, dim ? keepdim : false, "prod");
  Tensor out = run(ReduceOp::Prod, x, p, dtype.value_or(sum_dtype(x.dtype())));
  if (is_floating(out.dtype()) && any_requires_grad(x)) {
    int64_t d = dim ? wrap_dim(*dim, x.dim(), "prod") : -1;
    record("ProdBackward0", {x}, {out}, {x, out},
           [ks = p.keep_shape, in = p.in_shape, d](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
             Tensor gx = expand_back(g[0], ks, in), outx = expand_back(s[1], ks, in);
             Tensor has_zero = any(binary(BinaryOp::Eq, s[0], Scalar(0.0)));
             if (!*has_zero.data<bool>()) return {gx * outx / s[0]};
             // zeros present: product of everything but x_i = exclusive prefix * exclusive suffix
             Tensor xs = d >= 0 ? s[0] : reshape(s[0], {-1});
             int64_t dd = d >= 0 ? d : 0;
             int64_t n = xs.shape().empty() ? 1 : xs.shape()[dd];
             if (xs.dim() == 0) return {gx};
             Shape one_shape = xs.shape();
             one_shape[dd] = 1;
             Tensor one = ones(one_shape, xs.dtype(), xs.device());
             Tensor left = cumprod(cat({one, narrow(xs, dd, 0, n - 1)}, dd), dd);
             Tensor right = flip(cumprod(flip(cat({narrow(xs, dd, 1, n - 1), one}, dd), {dd}), dd), {dd});
             Tensor others = reshape(left * right, in);
             return {gx * others};
           });
  }
  return out;
}

Tensor var(const Tensor& x, const OptDims& dims, double correction, bool keepdim) {
  if (!is_floating(x.dtype()))
    EMBER_TYPE_ERROR("var: expected a floating point tensor, got ", dtype_name(x.dtype()));
  Plan p = make_plan(x, dims, keepdim, "var");
  Tensor d = x - mean(x, dims, true);
  return sum(d * d, dims, keepdim) / std::max(double(p.count) - correction, 0.0);
}

Tensor std_(const Tensor& x, const OptDims& dims, double correction, bool keepdim) {
  return unary(UnaryOp::Sqrt, var(x, dims, correction, keepdim));
}

static Tensor extreme(const Tensor& x, const OptDims& dims, bool keepdim, bool is_max) {
  const char* name = is_max ? "amax" : "amin";
  Plan p = make_plan(x, dims, keepdim, name);
  check_nonempty(x, p, name);
  EMBER_CHECK_KIND(p.count > 0 || x.numel() > 0 || p.out_shape.empty() == false, Index, name,
                   ": expected reduction dims to have non-zero size (input shape ", x.shape(), ")");
  Tensor out = run(is_max ? ReduceOp::Max : ReduceOp::Min, x, p, x.dtype());
  if (is_floating(x.dtype()) && any_requires_grad(x))
    record(is_max ? "AmaxBackward0" : "AminBackward0", {x}, {out}, {x, out},
           [ks = p.keep_shape, in = p.in_shape, red = p.reduced](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
             // ties share the gradient evenly
             Tensor mask = binary(BinaryOp::Eq, s[0], reshape(s[1], ks));
             Tensor m = to_dtype(mask, g[0].dtype());
             Tensor cnt = sum(m, red, true);
             return {expand_back(g[0], ks, in) * m / cnt};
           });
  return out;
}

Tensor amax(const Tensor& x, const OptDims& dims, bool keepdim) { return extreme(x, dims, keepdim, true); }
Tensor amin(const Tensor& x, const OptDims& dims, bool keepdim) { return extreme(x, dims, keepdim, false); }

static std::pair<Tensor, Tensor> extreme_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  Plan p = make_plan(x, Dims{dim}, keepdim, name);
  if (p.count == 0)
    EMBER_INDEX_ERROR(name, ": expected reduction dim ", dim, " to have non-zero size (input shape ", x.shape(), ")");
  Tensor idx;
  Tensor out = run(is_max ? ReduceOp::Max : ReduceOp::Min, x, p, x.dtype(), &idx);
  if (is_floating(x.dtype()) && any_requires_grad(x)) {
    int64_t d = x.dim() ? wrap_dim(dim, x.dim(), name) : 0;
    record(is_max ? "MaxBackward0" : "MinBackward0", {x}, {out}, {idx},
           [ks = p.keep_shape, in = p.in_shape, d](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
             if (in.empty()) return {reshape(g[0], in)};
             return {scatter(zeros(in, g[0].dtype(), g[0].device()), d, reshape(s[0], ks), reshape(g[0], ks))};
           });
  }
  return {out, idx};
}

std::pair<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim(x, dim, keepdim, true); }
std::pair<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim(x, dim, keepdim, false); }

static Tensor arg_extreme(const Tensor& x, std::optional<int64_t> dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  Tensor xx = dim ? x : reshape(detach(x), {-1});
  Plan p = make_plan(xx, Dims{dim.value_or(0)}, dim ? keepdim : false, name);
  if (p.count == 0) EMBER_INDEX_ERROR(name, ": expected reduction dim to have non-zero size (input shape ", x.shape(), ")");
  Tensor idx;
  Tensor xc = cast_raw(xx, xx.dtype() == Dtype::Bool ? Dtype::UInt8 : xx.dtype());
  Tensor out = empty(p.out_shape, Dtype::Int64, x.device());
  kernel::reduce(x.device())(is_max ? ReduceOp::ArgMax : ReduceOp::ArgMin, Tensor(), out, permuted_view(xc, p), p.nred);
  if (!dim && keepdim) out = reshape(out, Shape(x.dim(), 1));
  return out;
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(x, dim, keepdim, true); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(x, dim, keepdim, false); }

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  Tensor xf = is_floating(x.dtype()) ? x : to_dtype(x, default_dtype());
  Plan p = make_plan(xf, dims, keepdim, "logsumexp");
  if (xf.numel() == 0) return unary(UnaryOp::Log, sum(unary(UnaryOp::Exp, xf), dims, keepdim));
  // shift by the (constant) max so exp cannot overflow; infinite maxima shift by 0
  Tensor m = detach(amax(xf, dims, true));
  m = where(unary(UnaryOp::IsFinite, m), m, zeros_like(m));
  Tensor r = unary(UnaryOp::Log, sum(unary(UnaryOp::Exp, xf - m), dims, true)) + m;
  return keepdim ? r : reshape(r, p.out_shape);
}

Tensor norm(const Tensor& x, double p, const OptDims& dims, bool keepdim) {
  if (!is_floating(x.dtype()))
    EMBER_TYPE_ERROR("norm: expected a floating point tensor, got ", dtype_name(x.dtype()));
  Tensor a = unary(UnaryOp::Abs, x);
  if (std::isinf(p)) return p > 0 ? amax(a, dims, keepdim) : amin(a, dims, keepdim);
  if (p == 1) return sum(a, dims, keepdim);
  if (p == 0) return sum(to_dtype(binary(BinaryOp::Ne, x, Scalar(0.0)), x.dtype()), dims, keepdim);
  if (p == 2) {
    // custom backward: x / norm, with 0 where the norm is 0 (sqrt's grad would be inf there)
    Plan pl = make_plan(x, dims, keepdim, "norm");
    Tensor out;
    {
      autograd::GradModeGuard off(false);
      out = unary(UnaryOp::Sqrt, sum(x * x, dims, keepdim));
    }
    if (any_requires_grad(x))
      record("NormBackward1", {x}, {out}, {x, out},
             [ks = pl.keep_shape, in = pl.in_shape](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
               Tensor n = reshape(s[1], ks);
               Tensor safe = where(binary(BinaryOp::Eq, n, Scalar(0.0)), ones(n.shape(), n.dtype(), n.device()), n);
               Tensor gx = expand_back(g[0], ks, in) * s[0] / safe;
               return {where(binary(BinaryOp::Eq, n, Scalar(0.0)), zeros_like(gx), gx)};
             });
    return out;
  }
  return unary(UnaryOp::PowScalar, sum(unary(UnaryOp::PowScalar, a, p), dims, keepdim), 1.0 / p);
}

static Tensor logical_reduce(const Tensor& x, const OptDims& dims, bool keepdim, bool is_all) {
  Plan p = make_plan(x, dims, keepdim, is_all ? "all" : "any");
  Tensor xb = x.dtype() == Dtype::Bool ? x : binary(BinaryOp::Ne, detach(x), Scalar(int64_t(0)));
  Tensor r = run(is_all ? ReduceOp::All : ReduceOp::Any, xb, p, Dtype::Bool);
  return x.dtype() == Dtype::UInt8 ? to_dtype(r, Dtype::UInt8) : r;  // PyTorch keeps uint8 for uint8 input
}

Tensor all(const Tensor& x, const OptDims& dims, bool keepdim) { return logical_reduce(x, dims, keepdim, true); }
Tensor any(const Tensor& x, const OptDims& dims, bool keepdim) { return logical_reduce(x, dims, keepdim, false); }

}  // namespace ember
