// Fused activation backwards: gelu's gradient in one kernel pass. Under create_graph (grad
// mode on inside the backward) the same formula is written with ops, so higher-order
// gradients work.
#include <cmath>

#include "autograd/grad_mode.h"
#include "backend/kernels_act.h"
#include "ops/ops.h"

namespace ember {

Tensor gelu_backward(const Tensor& grad, const Tensor& x, bool tanh_approx) {
  const bool fused = !autograd::GradMode::enabled() && grad.dtype() == x.dtype() &&
                     grad.shape() == x.shape() && is_floating(x.dtype());
  if (fused) {
    const Tensor g = contiguous(grad), xc = contiguous(x);
    Tensor gx = empty(xc.shape(), xc.dtype(), xc.device());
    if (gx.numel() > 0) kernel::gelu_backward(xc.device())(gx, g, xc, tanh_approx);
    return gx;
  }
  if (tanh_approx) {
    const double k = 0.79788456080286535588, c = 0.044715;
    Tensor x2 = x * x;
    Tensor t = unary(UnaryOp::Tanh, x * (x2 * c + 1.0) * k);
    Tensor dt = (1.0 - t * t) * ((x2 * (3.0 * c) + 1.0) * k);
    return grad * ((t + 1.0) * 0.5 + x * dt * 0.5);
  }
  Tensor cdf = (unary(UnaryOp::Erf, x * M_SQRT1_2) + 1.0) * 0.5;
  Tensor pdf = unary(UnaryOp::Exp, x * x * -0.5) * 0.39894228040143267794;
  return grad * (cdf + x * pdf);
}

}  // namespace ember
