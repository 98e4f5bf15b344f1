// matmul (PyTorch's 1-D / 2-D / batched broadcasting rules), mm, bmm, mv, dot, and the fused
// forms addmm, baddbmm, linear.
// Every variant reduces to the 3-D kernel out[B, M, N] = a[B, M, K] @ b[B, K, N] on strided
// views: 1-D operands get a size-1 dim, broadcast batch dims become stride-0 dims, and batch
// dims are collapsed into one when their strides allow (else that operand is copied).
// Transposes (in backward formulas, linear's weight) are views: the GEMM engine absorbs strides.
#include "autograd/node.h"
#include "backend/kernels_gemm.h"
#include "ops/autocast.h"
#include "ops/ops.h"

namespace ember {
namespace {

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype())
    EMBER_TYPE_ERROR(op, ": expected both operands to have the same dtype, got ", dtype_name(a.dtype()), " and ",
                     dtype_name(b.dtype()));
  if (a.dtype() == Dtype::Bool) EMBER_TYPE_ERROR(op, ": not implemented for bool tensors");
  if (a.device() != b.device())
    EMBER_RUNTIME_ERROR(op, ": expected both operands on the same device, got ", device_name(a.device()), " and ",
                        device_name(b.device()));
}

// Collapses dims [0, nd) of a geometry into one (size, stride) when they walk memory with a
// single stride (stride-0 broadcast dims included). False when they do not.
bool collapse(const Shape& shape, const Shape& strides, size_t nd, int64_t& size, int64_t& stride) {
  size = 1;
  stride = 0;
  bool first = true;
  for (size_t i = nd; i-- > 0;) {  // innermost first
    if (shape[i] == 1) continue;
    if (first) stride = strides[i];
    else if (strides[i] != stride * size) return false;
    first = false;
    size *= shape[i];
  }
  return true;
}

// x [batch..., R, C] viewed as [B, R, C] with its batch dims broadcast to `batch` (copied when the
// broadcast batch dims cannot be collapsed into one stride).
Tensor as_batched(const Tensor& x, const Shape& batch) {
  const size_t nb = batch.size(), xb = size_t(x.dim()) - 2;
  Shape shape = batch, strides(nb, 0);
  for (size_t i = 0; i < xb; ++i)
    if (x.shape()[i] != 1) strides[nb - xb + i] = x.strides()[i];
  for (int64_t d : {x.dim() - 2, x.dim() - 1}) {
    shape.push_back(x.shape()[d]);
    strides.push_back(x.strides()[d]);
  }
  Tensor v = make_view(x, shape, strides, x.offset());
  int64_t size, stride;
  if (!collapse(shape, strides, nb, size, stride)) {
    v = contiguous(v);
    collapse(v.shape(), v.strides(), nb, size, stride);
  }
  return make_view(v, {size, shape[nb], shape[nb + 1]}, {stride, v.strides()[nb], v.strides()[nb + 1]}, v.offset());
}

// The forward computation, no autograd. a, b at least 1-D, same dtype and device.
Tensor matmul_forward(const Tensor& a0, const Tensor& b0, const char* op) {
  // 1-D operands: a [K] -> [1, K], b [K] -> [K, 1]; the added dims are dropped from the result.
  const Tensor a = a0.dim() == 1 ? make_view(a0, {1, a0.shape()[0]}, {0, a0.strides()[0]}, a0.offset()) : a0;
  const Tensor b = b0.dim() == 1 ? make_view(b0, {b0.shape()[0], 1}, {b0.strides()[0], 0}, b0.offset()) : b0;
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1];
  const int64_t K2 = b.shape()[b.dim() - 2], N = b.shape()[b.dim() - 1];
  if (K != K2)
    EMBER_VALUE_ERROR(op, ": shapes ", a0.shape(), " and ", b0.shape(), " cannot be multiplied (", K, " != ", K2, ")");

  // broadcast batch dims, right-aligned
  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch(std::max(ab.size(), bb.size()), 1);
  for (size_t i = 0; i < batch.size(); ++i) {
    const int64_t sa = i < batch.size() - ab.size() ? 1 : ab[i - (batch.size() - ab.size())];
    const int64_t sb = i < batch.size() - bb.size() ? 1 : bb[i - (batch.size() - bb.size())];
    if (sa != sb && sa != 1 && sb != 1)
      EMBER_VALUE_ERROR(op, ": batch dimensions of shapes ", a0.shape(), " and ", b0.shape(), " cannot be broadcast");
    batch[i] = sa == 1 ? sb : sa;
  }

  Shape out_shape = batch;
  if (a0.dim() > 1) out_shape.push_back(M);
  if (b0.dim() > 1) out_shape.push_back(N);
  Tensor out = empty(out_shape, a.dtype(), a.device());
  const int64_t B = shape_numel(batch);

  Tensor a3, b3, out3;
  int64_t rows, row_stride;
  if (a.dim() == 2 && b.dim() == 2) {  // the common case, without the batch machinery
    a3 = make_view(a, {1, M, K}, {0, a.strides()[0], a.strides()[1]}, a.offset());
    b3 = make_view(b, {1, K, N}, {0, b.strides()[0], b.strides()[1]}, b.offset());
    out3 = make_view(out, {1, M, N}, {0, N, 1}, out.offset());
  } else if (b.dim() == 2 && a.dim() > 2 && collapse(a.shape(), a.strides(), a.dim() - 1, rows, row_stride)) {
    // [batch..., M, K] @ [K, N]: fold the batch into M so B is packed once
    a3 = make_view(a, {1, rows, K}, {0, row_stride, a.strides().back()}, a.offset());
    b3 = make_view(b, {1, K, N}, {0, b.strides()[0], b.strides()[1]}, b.offset());
    out3 = make_view(out, {1, B * M, N}, {0, N, 1}, out.offset());
  } else {
    a3 = as_batched(a, batch);
    b3 = as_batched(b, batch);
    out3 = make_view(out, {B, M, N}, {M * N, N, 1}, out.offset());
  }
  kernel::matmul(out.device())(out3, a3, b3);
  return out;
}

// matmul with autograd: grad_a = g @ b^T, grad_b = a^T @ g (transposes are views), each summed
// back over the batch dims its operand was broadcast along.
Tensor matmul_impl(const Tensor& a, const Tensor& b, const char* op, const char* node) {
  check_operands(a, b, op);
  if (a.dim() == 0 || b.dim() == 0)
    EMBER_VALUE_ERROR(op, ": both arguments need to be at least 1-D, got shapes ", a.shape(), " and ", b.shape());
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);  // the forward views/copies record nothing
    out = matmul_forward(alias_detached(a), alias_detached(b), op);
  }
  if (autograd::any_requires_grad(a, b)) {
    autograd::record(node, {a, b}, {out}, {a, b},
                     [a1 = a.dim() == 1, b1 = b.dim() == 1, ash = a.shape(), bsh = b.shape()](
                         const TensorList& g, const TensorList& s, const std::vector<bool>& needs) -> TensorList {
                       Tensor A = s[0], Bm = s[1], G = g[0];
                       if (b1) {
                         Bm = unsqueeze(Bm, -1);
                         G = unsqueeze(G, -1);
                       }
                       if (a1) {
                         A = unsqueeze(A, 0);
                         G = unsqueeze(G, -2);
                       }
                       Tensor ga, gb;
                       if (needs[0]) ga = reshape(sum_to(matmul(G, matrix_mT(Bm)), A.shape()), ash);
                       if (needs[1]) gb = reshape(sum_to(matmul(matrix_mT(A), G), Bm.shape()), bsh);
                       return {ga, gb};
                     });
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a0, const Tensor& b0) {
  const Tensor a = autocast::arg("matmul", a0), b = autocast::arg("matmul", b0);
  const char* node = "MatmulBackward0";
  if (a.dim() == 1 && b.dim() == 1) node = "DotBackward0";
  else if (a.dim() == 2 && b.dim() == 1) node = "MvBackward0";
  else if (a.dim() == 2 && b.dim() == 2) node = "MmBackward0";
  return matmul_impl(a, b, "matmul", node);
}

Tensor mm(const Tensor& a0, const Tensor& b0) {
  const Tensor a = autocast::arg("mm", a0), b = autocast::arg("mm", b0);
  if (a.dim() != 2 || b.dim() != 2)
    EMBER_VALUE_ERROR("mm: expected 2-D tensors, got shapes ", a.shape(), " and ", b.shape());
  return matmul_impl(a, b, "mm", "MmBackward0");
}

Tensor bmm(const Tensor& a0, const Tensor& b0) {
  const Tensor a = autocast::arg("bmm", a0), b = autocast::arg("bmm", b0);
  if (a.dim() != 3 || b.dim() != 3)
    EMBER_VALUE_ERROR("bmm: expected 3-D tensors, got shapes ", a.shape(), " and ", b.shape());
  if (a.shape()[0] != b.shape()[0])
    EMBER_VALUE_ERROR("bmm: expected equal batch sizes, got shapes ", a.shape(), " and ", b.shape());
  return matmul_impl(a, b, "bmm", "BmmBackward0");
}

Tensor mv(const Tensor& a, const Tensor& b) {
  if (a.dim() != 2 || b.dim() != 1)
    EMBER_VALUE_ERROR("mv: expected a 2-D matrix and a 1-D vector, got shapes ", a.shape(), " and ", b.shape());
  return matmul_impl(a, b, "mv", "MvBackward0");
}

Tensor dot(const Tensor& a, const Tensor& b) {
  if (a.dim() != 1 || b.dim() != 1)
    EMBER_VALUE_ERROR("dot: expected 1-D tensors, got shapes ", a.shape(), " and ", b.shape());
  if (a.numel() != b.numel())
    EMBER_VALUE_ERROR("dot: expected both vectors to have the same number of elements, got shapes ", a.shape(),
                      " and ", b.shape());
  return matmul_impl(a, b, "dot", "DotBackward0");
}

// ---------------------------------------------------------------------------------------------
// addmm / baddbmm / linear: one GEMM call with the epilogue fused.

namespace {

// A 3-D [1, R, C] (or the 3-D tensor itself) view of a 2-D / 3-D operand.
Tensor as3(const Tensor& x) {
  if (x.dim() == 3) return x;
  return make_view(x, {1, x.shape()[0], x.shape()[1]}, {0, x.strides()[0], x.strides()[1]}, x.offset());
}

// input broadcast to [..., M, N] is one row of N values: the GEMM adds it as a bias.
bool is_row_bias(const Tensor& input, int64_t N) {
  if (input.dim() == 0 || input.shape().back() != N) return false;
  for (int64_t d = 0; d + 1 < input.dim(); ++d)
    if (input.shape()[d] != 1) return false;
  return true;
}

// out (fresh) = act(beta * input + alpha * a3 @ b3) for floating dtypes, out3 being out viewed
// as [B, M, N]. A row-vector input becomes the bias epilogue; any other input is copied into out
// first (beta != 0).
void gemm_fused(const Tensor& out, const Tensor& out3, const Tensor& a3, const Tensor& b3, const Tensor& input,
                double beta, double alpha, GemmActivation act) {
  kernel::GemmEpilogue e;
  e.alpha = alpha;
  e.act = act;
  const int64_t N = out.shape().back();
  if (input.defined() && beta != 0) {
    if (is_row_bias(input, N)) {
      Tensor bias = reshape(input, {N});
      e.bias = beta == 1 ? bias : bias * beta;
    } else {
      copy_kernel_call(out, expand(input, out.shape()));
      e.beta = beta;
    }
  }
  kernel::gemm(out.device())(out3, a3, b3, e);
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* an, const char* bn) {
  if (a.dtype() != b.dtype())
    EMBER_TYPE_ERROR(op, ": expected ", an, " and ", bn, " to have the same dtype, got ", dtype_name(a.dtype()),
                     " and ", dtype_name(b.dtype()));
}

// beta * input + alpha * (a @ b) for 2-D a, b or 3-D a, b with equal batch sizes; input may be
// undefined (then a plain product scaled by alpha). Differentiable, also in its backward.
Tensor gemm_op(const Tensor& input, const Tensor& a, const Tensor& b, const Scalar& beta, const Scalar& alpha,
               const char* op, const char* node) {
  const bool batched = a.dim() == 3;
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1], N = b.shape()[b.dim() - 1];
  if (b.shape()[b.dim() - 2] != K || (batched && a.shape()[0] != b.shape()[0]))
    EMBER_VALUE_ERROR(op, ": shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied");
  Shape out_shape = batched ? Shape{a.shape()[0], M, N} : Shape{M, N};
  if (input.defined()) {
    if (broadcast_shapes(input.shape(), out_shape, op) != out_shape)
      EMBER_VALUE_ERROR(op, ": input of shape ", input.shape(), " cannot be broadcast to the product's shape ",
                        out_shape);
  }
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    const Tensor ad = alias_detached(a), bd = alias_detached(b);
    const Tensor id = input.defined() ? alias_detached(input) : Tensor();
    if (is_floating(a.dtype())) {
      out = empty(out_shape, a.dtype(), a.device());
      gemm_fused(out, as3(out), as3(ad), as3(bd), id, beta.to_double(), alpha.to_double(), GemmActivation::None);
    } else {  // integers: no GEMM engine, compose
      out = matmul_forward(ad, bd, op);
      if (alpha.to_double() != 1) out = binary(BinaryOp::Mul, out, alpha);
      if (id.defined() && beta.to_double() != 0) out = add(out, id, beta);
    }
  }
  if (autograd::any_requires_grad(input, a, b)) {
    autograd::record(node, {input, a, b}, {out}, {a, b},
                     [beta, alpha, batched](const TensorList& g, const TensorList& s,
                                            const std::vector<bool>& needs) -> TensorList {
                       const char* mm_op = batched ? "bmm" : "mm";
                       const char* mm_node = batched ? "BmmBackward0" : "MmBackward0";
                       Tensor gi, ga, gb;
                       if (needs[0]) gi = beta.to_double() == 1 ? g[0] : g[0] * beta.to_double();
                       if (needs[1]) ga = gemm_op(Tensor(), g[0], matrix_mT(s[1]), 0.0, alpha, mm_op, mm_node);
                       if (needs[2]) gb = gemm_op(Tensor(), matrix_mT(s[0]), g[0], 0.0, alpha, mm_op, mm_node);
                       return {gi, ga, gb};
                     });
  }
  return out;
}

void check_operands3(const Tensor& input, const Tensor& a, const Tensor& b, const char* op) {
  check_operands(a, b, op);
  check_same_dtype(input, a, op, "input", "the matrices");
  if (input.device() != a.device())
    EMBER_RUNTIME_ERROR(op, ": expected all tensors on the same device, got ", device_name(input.device()), " and ",
                        device_name(a.device()));
}

GemmActivation parse_act(const std::string& act) {
  if (act == "none" || act.empty()) return GemmActivation::None;
  if (act == "relu") return GemmActivation::Relu;
  if (act == "gelu") return GemmActivation::Gelu;
  if (act == "gelu_tanh" || act == "tanh") return GemmActivation::GeluTanh;
  EMBER_VALUE_ERROR("linear: unknown activation '", act, "' (expected none, relu, gelu or gelu_tanh)");
}

Tensor apply_act(const Tensor& x, GemmActivation act) {
  switch (act) {
    case GemmActivation::Relu: return unary(UnaryOp::Relu, x);
    case GemmActivation::Gelu: return unary(UnaryOp::GeluErf, x);
    case GemmActivation::GeluTanh: return unary(UnaryOp::GeluTanh, x);
    default: return x;
  }
}

Tensor linear_impl(const Tensor& input, const Tensor& weight, const Tensor& bias, GemmActivation act) {
  const char* op = "linear";
  check_operands(input, weight, op);
  if (bias.defined()) {
    check_same_dtype(input, bias, op, "input", "bias");
    if (bias.device() != input.device())
      EMBER_RUNTIME_ERROR(op, ": expected all tensors on the same device, got ", device_name(input.device()), " and ",
                          device_name(bias.device()));
  }
  if (input.dim() == 0 || weight.dim() == 0 || weight.dim() > 2)
    EMBER_VALUE_ERROR(op, ": expected input of at least 1 dim and a 1-D or 2-D weight, got shapes ", input.shape(),
                      " and ", weight.shape());
  if (weight.dim() == 1) {  // a dot along the last dim
    Tensor r = matmul(input, weight);
    return apply_act(bias.defined() ? r + bias : r, act);
  }
  const int64_t in = weight.shape()[1], outf = weight.shape()[0];
  if (input.shape().back() != in)
    EMBER_VALUE_ERROR(op, ": input of shape ", input.shape(), " and weight of shape ", weight.shape(),
                      " cannot be multiplied (", input.shape().back(), " != ", in, ")");
  if (bias.defined() && (bias.dim() > 1 || (bias.numel() != outf && bias.numel() != 1)))
    EMBER_VALUE_ERROR(op, ": bias of shape ", bias.shape(), " does not match ", outf, " output features");
  // gelu's backward needs the pre-activation: when a graph is recorded, keep it unfused
  const bool grad = autograd::any_requires_grad(input, weight, bias);
  if (act != GemmActivation::None && act != GemmActivation::Relu && grad)
    return apply_act(linear_impl(input, weight, bias, GemmActivation::None), act);

  Shape out_shape(input.shape().begin(), input.shape().end() - 1);
  const int64_t rows = shape_numel(out_shape);
  out_shape.push_back(outf);
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    const Tensor x2 = reshape(alias_detached(input), {rows, in});
    const Tensor w = alias_detached(weight);
    const Tensor wt = make_view(w, {1, in, outf}, {0, w.strides()[1], w.strides()[0]}, w.offset());
    const Tensor bd = bias.defined() ? expand(reshape(alias_detached(bias), {-1}), {outf}) : Tensor();
    if (is_floating(input.dtype())) {
      out = empty(out_shape, input.dtype(), input.device());
      const Tensor out3 = make_view(out, {1, rows, outf}, {0, outf, 1}, out.offset());
      gemm_fused(out, out3, as3(x2), wt, bd, 1.0, 1.0, act);
    } else {
      out = reshape(matmul_forward(x2, matrix_mT(w), op), out_shape);
      if (bd.defined()) out = out + bd;
      out = apply_act(out, act);
    }
  }
  if (grad) {
    autograd::record(bias.defined() ? "AddmmBackward0" : "MmBackward0", {input, weight, bias}, {out},
                     {input, weight, act == GemmActivation::Relu ? out : Tensor()},
                     [rows, in, outf, ishape = input.shape()](const TensorList& g, const TensorList& s,
                                                             const std::vector<bool>& needs) -> TensorList {
                       Tensor G = g[0];
                       if (s[2].defined()) G = where(binary(BinaryOp::Gt, s[2], Scalar(0.0)), G, zeros_like(G));
                       const Tensor G2 = reshape(G, {rows, outf});
                       Tensor gx, gw, gb;
                       if (needs[0])
                         gx = reshape(gemm_op(Tensor(), G2, s[1], 0.0, 1.0, "mm", "MmBackward0"), ishape);
                       if (needs[1])
                         gw = gemm_op(Tensor(), matrix_mT(G2), reshape(s[0], {rows, in}), 0.0, 1.0, "mm", "MmBackward0");
                       if (needs[2]) gb = sum(G2, Dims{0});
                       return {gx, gw, gb};
                     });
  }
  return out;
}

}  // namespace

Tensor addmm(const Tensor& input0, const Tensor& mat10, const Tensor& mat20, const Scalar& beta, const Scalar& alpha) {
  const Tensor input = autocast::arg("addmm", input0), mat1 = autocast::arg("addmm", mat10),
               mat2 = autocast::arg("addmm", mat20);
  check_operands3(input, mat1, mat2, "addmm");
  if (mat1.dim() != 2 || mat2.dim() != 2)
    EMBER_VALUE_ERROR("addmm: expected 2-D matrices, got shapes ", mat1.shape(), " and ", mat2.shape());
  return gemm_op(input, mat1, mat2, beta, alpha, "addmm", "AddmmBackward0");
}

Tensor baddbmm(const Tensor& input0, const Tensor& batch10, const Tensor& batch20, const Scalar& beta,
               const Scalar& alpha) {
  const Tensor input = autocast::arg("baddbmm", input0), batch1 = autocast::arg("baddbmm", batch10),
               batch2 = autocast::arg("baddbmm", batch20);
  check_operands3(input, batch1, batch2, "baddbmm");
  if (batch1.dim() != 3 || batch2.dim() != 3)
    EMBER_VALUE_ERROR("baddbmm: expected 3-D tensors, got shapes ", batch1.shape(), " and ", batch2.shape());
  return gemm_op(input, batch1, batch2, beta, alpha, "baddbmm", "BaddbmmBackward0");
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  return linear_act(input, weight, bias, "none");
}

Tensor linear_act(const Tensor& input, const Tensor& weight, const Tensor& bias, const std::string& act) {
  return linear_impl(autocast::arg("linear", input), autocast::arg("linear", weight), autocast::arg("linear", bias),
                     parse_act(act));
}

}  // namespace ember
