// softmax / log_softmax: max-shifted, one fused kernel over the last dim; other dims are moved
// last (and back) around it.
#include "autograd/node.h"
#include "backend/kernels.h"
#include "ops/ops.h"

namespace ember {

static Tensor softmax_impl(const Tensor& x_in, int64_t dim, std::optional<Dtype> dtype, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  Tensor x = dtype ? to_dtype(x_in, *dtype) : x_in;
  if (!is_floating(x.dtype()))
    EMBER_TYPE_ERROR(name, ": expected a floating point tensor, got ", dtype_name(x.dtype()));
  int64_t nd = x.dim();
  int64_t d = wrap_dim(dim, nd, name);
  Tensor out;
  if (nd == 0 || x.numel() == 0) {
    autograd::GradModeGuard off(false);
    out = x.numel() == 0 ? empty(x.shape(), x.dtype(), x.device())
                         : full({}, Scalar(log ? 0.0 : 1.0), x.dtype(), x.device());
  } else {
    bool last = d == nd - 1;
    Tensor src = last ? detach(x) : movedim(detach(x), {d}, {-1});
    if (!src.is_contiguous()) src = clone(src);
    Tensor y = empty(src.shape(), x.dtype(), x.device());
    kernel::softmax(x.device())(y, src, log);
    out = last ? y : clone(movedim(y, {-1}, {d}));
  }
  if (autograd::any_requires_grad(x)) {
    if (log)
      autograd::record("LogSoftmaxBackward0", {x}, {out}, {out},
                       [d](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
                         return {g[0] - unary(UnaryOp::Exp, s[0]) * sum(g[0], Dims{d}, true)};
                       });
    else
      autograd::record("SoftmaxBackward0", {x}, {out}, {out},
                       [d](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
                         return {s[0] * (g[0] - sum(g[0] * s[0], Dims{d}, true))};
                       });
  }
  return out;
}

Tensor softmax(const Tensor& x, int64_t dim, std::optional<Dtype> dtype) { return softmax_impl(x, dim, dtype, false); }
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<Dtype> dtype) { return softmax_impl(x, dim, dtype, true); }

}  // namespace ember
