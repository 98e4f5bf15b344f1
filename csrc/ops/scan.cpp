// cumsum / cumprod. Integer and bool inputs accumulate in int64 like PyTorch; the kernel sees a
// contiguous input already cast to the output dtype.
#include "autograd/node.h"
#include "backend/kernels.h"
#include "ops/ops.h"

namespace ember {
namespace {

Tensor scan_forward(ScanOp op, const char* name, const Tensor& x, int64_t dim, std::optional<Dtype> dtype) {
  const int64_t d = wrap_dim(dim, x.dim(), name);
  const Dtype out_dtype = dtype ? *dtype : is_integral(x.dtype(), true) ? Dtype::Int64 : x.dtype();
  Tensor src = x;
  if (!x.is_contiguous() || x.dtype() != out_dtype) {
    src = empty(x.shape(), out_dtype, x.device());
    if (src.numel()) copy_kernel_call(src, x);
  }
  Tensor out = empty(x.shape(), out_dtype, x.device());
  if (out.numel()) kernel::scan(x.device())(op, out, src, d);
  return out;
}

// sum_{k >= i} t_k along d
Tensor reverse_cumsum(const Tensor& t, int64_t d) { return flip(cumsum(flip(t, {d}), d), {d}); }

// grad_j = sum_{k >= j} g_k prod_{i <= k, i != j} x_i, built as a [..., n(j), n(k)] table: row j
// is the cumprod of x with x_j := 1. O(n^2), but every term stays a product of x, so its own
// derivative is right at zeros too (the O(n) form below is not, for double backward).
Tensor cumprod_backward_quadratic(const Tensor& g, const Tensor& x, int64_t d) {
  const Tensor xt = movedim(x, {d}, {-1}), gt = movedim(g, {d}, {-1});
  const int64_t n = xt.shape().back();
  const Tensor upper = triu(ones({n, n}, Dtype::Bool, x.device()));  // k >= j
  const Tensor diag = tril(upper);
  Shape table_shape = xt.shape();
  table_shape.insert(table_shape.end() - 1, n);
  const Tensor table = cumprod(masked_fill(expand(unsqueeze(xt, -2), table_shape), diag, Scalar(1.0)), -1);
  const Tensor terms = masked_fill(table * unsqueeze(gt, -2), unary(UnaryOp::LogicalNot, upper), Scalar(0.0));
  return movedim(sum(terms, Dims{-1}), {-1}, {d});
}

// d out_k / d x_j = prod_{i <= k, i != j} x_i for k >= j. Without zeros that is out_k / x_j; with
// zeros only the positions up to the first zero z of each slice get a grad: before z the
// quotient form still holds (out is 0 from z on), and at z it is the cumprod of x with x_z := 1.
Tensor cumprod_backward(const Tensor& g, const Tensor& x, const Tensor& out, int64_t d) {
  if (x.numel() == 0 || x.dim() == 0) return g;  // a 0-d cumprod is the identity
  const Tensor is_zero = binary(BinaryOp::Eq, x, Scalar(0.0));
  if (!any(is_zero).item().to<bool>()) return reverse_cumsum(g * out, d) / x;
  // Differentiating this grad w.r.t. x (create_graph): the O(n) form pins grads after the first
  // zero to a constant 0, whose derivative w.r.t. that zero is not 0.
  if (autograd::GradMode::enabled() && x.requires_grad()) return cumprod_backward_quadratic(g, x, d);
  const Tensor zeros_seen = cumsum(is_zero, d);  // inclusive count of zeros so far
  const Tensor before = binary(BinaryOp::Eq, zeros_seen, Scalar(int64_t(0)));
  const Tensor first = binary(BinaryOp::LogicalAnd, is_zero, binary(BinaryOp::Eq, zeros_seen, Scalar(int64_t(1))));
  const Tensor grad_before = reverse_cumsum(g * out, d) / masked_fill(x, unary(UnaryOp::LogicalNot, before), Scalar(1.0));
  const Tensor grad_first = reverse_cumsum(g * cumprod(masked_fill(x, first, Scalar(1.0)), d), d);
  return where(before, grad_before, masked_fill(grad_first, unary(UnaryOp::LogicalNot, first), Scalar(0.0)));
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<Dtype> dtype) {
  Tensor out = scan_forward(ScanOp::Sum, "cumsum", x, dim, dtype);
  if (autograd::any_requires_grad(x)) {
    const int64_t d = wrap_dim(dim, x.dim(), "cumsum");
    autograd::record("CumsumBackward0", {x}, {out}, {},
                     [d](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {reverse_cumsum(g[0], d)};
                     });
  }
  return out;
}

Tensor cumprod(const Tensor& x, int64_t dim, std::optional<Dtype> dtype) {
  Tensor out = scan_forward(ScanOp::Prod, "cumprod", x, dim, dtype);
  if (autograd::any_requires_grad(x)) {
    const int64_t d = wrap_dim(dim, x.dim(), "cumprod");
    autograd::record("CumprodBackward0", {x}, {out}, {x, out},
                     [d](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
                       return {cumprod_backward(g[0], s[0], s[1], d)};
                     });
  }
  return out;
}

}  // namespace ember
