// matmul (PyTorch's 1-D / 2-D / batched broadcasting rules), mm, bmm, mv, dot.
// Every variant reduces to the 3-D kernel out[B, M, N] = a[B, M, K] @ b[B, K, N] on strided
// views: 1-D operands get a size-1 dim, broadcast batch dims become stride-0 dims, and batch
// dims are collapsed into one when their strides allow (else that operand is copied).
#include "autograd/node.h"
#include "backend/kernels.h"
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
  if (b.dim() == 2 && a.dim() > 2 && collapse(a.shape(), a.strides(), a.dim() - 1, rows, row_stride)) {
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

Tensor matmul(const Tensor& a, const Tensor& b) {
  const char* node = "MatmulBackward0";
  if (a.dim() == 1 && b.dim() == 1) node = "DotBackward0";
  else if (a.dim() == 2 && b.dim() == 1) node = "MvBackward0";
  else if (a.dim() == 2 && b.dim() == 2) node = "MmBackward0";
  return matmul_impl(a, b, "matmul", node);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  if (a.dim() != 2 || b.dim() != 2)
    EMBER_VALUE_ERROR("mm: expected 2-D tensors, got shapes ", a.shape(), " and ", b.shape());
  return matmul_impl(a, b, "mm", "MmBackward0");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
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

}  // namespace ember
