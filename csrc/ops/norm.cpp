// batch_norm (one channel-wise kernel forward, one fused kernel backward) and interpolation
// (upsample / its adjoint, each the other's backward).
#include "autograd/node.h"
#include "backend/kernels_norm.h"
#include "ops/ops.h"

namespace ember {

namespace {

// [1, C, 1, ...] for broadcasting a per-channel vector against x
Tensor channel_view(const Tensor& v, const Tensor& x) {
  Shape s(x.dim(), 1);
  s[1] = x.shape()[1];
  return reshape(v, s);
}

Dims non_channel_dims(const Tensor& x) {
  Dims d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}

// The backward as ember ops (recomputing the batch statistics from x in training), so a graph
// is recorded and double backward works.
TensorList batch_norm_backward_composite(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& mean,
                                         const Tensor& invstd, bool training, double eps,
                                         const std::vector<bool>& needs) {
  const Dims dims = non_channel_dims(x);
  Tensor inv, xhat;
  if (training) {
    Tensor xc = x - ember::mean(x, dims, true);
    inv = unary(UnaryOp::Rsqrt, ember::mean(xc * xc, dims, true) + eps);
    xhat = xc * inv;
  } else {  // running statistics: constants
    inv = channel_view(to_dtype(invstd, x.dtype()), x);
    xhat = (x - channel_view(to_dtype(mean, x.dtype()), x)) * inv;
  }
  TensorList out(3);
  Tensor gsum = sum(g, dims, true), gxhat = sum(g * xhat, dims, true);
  if (needs[0]) {
    Tensor k = w.defined() ? inv * channel_view(to_dtype(w, x.dtype()), x) : inv;
    if (training) {
      double m = 1;
      for (int64_t d : dims) m *= double(x.shape()[d]);
      out[0] = k * (g - gsum / m - xhat * (gxhat / m));
    } else {
      out[0] = g * k;
    }
  }
  const Shape c{x.shape()[1]};
  if (needs.size() > 1 && needs[1]) out[1] = to_dtype(reshape(gxhat, c), w.dtype());
  if (needs.size() > 2 && needs[2]) out[2] = reshape(gsum, c);
  return out;
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  if (!is_floating(input.dtype()))
    EMBER_TYPE_ERROR(op, ": expected a floating point input, got ", dtype_name(input.dtype()));
  if (input.dim() < 2)
    EMBER_VALUE_ERROR(op, ": expected input with at least 2 dims [N, C, *], got shape ", input.shape());
  const int64_t C = input.shape()[1];
  const Dtype acc = input.dtype() == Dtype::Float64 ? Dtype::Float64 : Dtype::Float32;
  auto check_param = [&](const Tensor& t, const char* name) {
    if (!t.defined()) return;
    if (t.dim() != 1 || t.shape()[0] != C)
      EMBER_VALUE_ERROR(op, ": ", name, " should contain ", C, " elements (one per channel of input of shape ",
                        input.shape(), "), got shape ", t.shape());
    // PyTorch's rule: same dtype as input, or float32 for float16/bfloat16 input
    if (t.dtype() != input.dtype() && !(is_reduced_float(input.dtype()) && t.dtype() == Dtype::Float32))
      EMBER_TYPE_ERROR(op, ": expected ", name, " of dtype ", dtype_name(input.dtype()), ", got ",
                       dtype_name(t.dtype()));
  };
  check_param(weight, "weight");
  check_param(bias, "bias");
  check_param(running_mean, "running_mean");
  check_param(running_var, "running_var");
  if (running_mean.defined() != running_var.defined())
    EMBER_VALUE_ERROR(op, ": running_mean and running_var must either both be None or neither be None");
  int64_t count = 1;
  for (int64_t d = 0; d < input.dim(); ++d)
    if (d != 1) count *= input.shape()[d];
  if (training && count == 1)  // (an empty batch is fine: empty output, running stats untouched)
    EMBER_VALUE_ERROR(op, ": Expected more than 1 value per channel when training, got input size ", input.shape());
  if (training && !(eps > 0))
    EMBER_VALUE_ERROR(op, ": eps must be positive during training, got ", eps);
  if (!(eps >= 0)) EMBER_VALUE_ERROR(op, ": eps must be non-negative, got ", eps);
  if (!training && !running_mean.defined())
    EMBER_VALUE_ERROR(op, ": running_mean and running_var must be given when training=False");

  // the kernel takes contiguous per-channel vectors in the accumulation dtype
  auto acc_vec = [&](const Tensor& t) { return t.defined() ? contiguous(to_dtype(detach(t), acc)) : Tensor(); };
  // training updates the running stats in place: directly when they already fit the kernel
  auto direct = [&](const Tensor& t) { return t.dtype() == acc && t.is_contiguous(); };
  auto stat_buf = [&](const Tensor& t) {
    if (!t.defined() || !training) return acc_vec(t);
    return direct(t) ? detach(t) : to_dtype(detach(t), acc, true);
  };
  Tensor x = contiguous(detach(input));
  Tensor rm = stat_buf(running_mean), rv = stat_buf(running_var);
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  Tensor mean = empty({C}, acc, x.device()), invstd = empty({C}, acc, x.device());
  if (x.numel() == 0) {  // nothing to normalize; no statistics to save or track
    mean = zeros({C}, acc, x.device());
    invstd = zeros({C}, acc, x.device());
  } else {
    kernel::batch_norm(x.device())(y, x, acc_vec(weight), acc_vec(bias), mean, invstd, rm, rv, training, momentum,
                                   eps);
  }
  if (training && x.numel() > 0) {  // running stats were updated in place (or in an f32 copy for 16-bit ones)
    for (auto [dst, src] : {std::pair{running_mean, rm}, std::pair{running_var, rv}}) {
      if (!dst.defined()) continue;
      if (!direct(dst)) copy_kernel_call(dst, src);
      dst.bump_version();
    }
  }

  if (autograd::any_requires_grad(input, weight, bias)) {
    autograd::record(
        "NativeBatchNormBackward0", {input, weight, bias}, {y}, {input, weight, mean, invstd},
        [training, eps, acc](const TensorList& g, const TensorList& s, const std::vector<bool>& needs) -> TensorList {
          const Tensor &x = s[0], &w = s[1], &mean = s[2], &invstd = s[3];
          if (autograd::GradMode::enabled())  // create_graph: differentiable formula
            return batch_norm_backward_composite(g[0], x, w, mean, invstd, training, eps, needs);
          const int64_t C = x.shape()[1];
          Tensor gx = needs[0] ? empty(x.shape(), x.dtype(), x.device()) : Tensor();
          Tensor gw = needs[1] ? empty({C}, acc, x.device()) : Tensor();
          Tensor gb = needs[2] ? empty({C}, acc, x.device()) : Tensor();
          Tensor wa = w.defined() ? contiguous(to_dtype(w, acc)) : Tensor();
          if (x.numel() == 0) {  // empty batch: zero parameter gradients
            if (gw.defined()) gw = zeros({C}, acc, x.device());
            if (gb.defined()) gb = zeros({C}, acc, x.device());
          } else {
            kernel::batch_norm_backward(x.device())(gx, gw, gb, contiguous(g[0]), contiguous(x), wa, mean, invstd,
                                                    training);
          }
          // the weight's dtype (the bias has the weight's dtype in every valid call)
          if (gw.defined()) gw = to_dtype(gw, w.dtype());
          if (gb.defined()) gb = to_dtype(gb, w.defined() ? w.dtype() : x.dtype());
          return {gx, gw, gb};
        });
  }
  return y;
}

// ---- interpolation

namespace {

InterpMode interp_mode(const std::string& mode, int64_t dim, const char* op) {
  if (mode == "nearest") return InterpMode::Nearest;
  if (mode == "nearest-exact") return InterpMode::NearestExact;
  if ((mode == "linear" && dim == 3) || (mode == "bilinear" && dim == 4)) return InterpMode::Linear;
  EMBER_VALUE_ERROR(op, ": mode '", mode, "' is not supported for ", dim, "-D input (3-D: nearest, linear, ",
                    "nearest-exact; 4-D: nearest, bilinear, nearest-exact)");
}

// x [N, C, *spatial] as planes [N*C, h, w] (1-D: h = 1)
Shape plane_shape(const Shape& full) {
  const int64_t P = full[0] * full[1];
  return full.size() == 3 ? Shape{P, 1, full[2]} : Shape{P, full[2], full[3]};
}

struct InterpArgs {
  InterpMode mode;
  double sh, sw;
};

InterpArgs check_interp(const Shape& in, const Shape& out_size, const std::string& mode, bool align_corners,
                        const std::vector<double>& scales, const char* op) {
  const int64_t dim = int64_t(in.size());
  if (dim != 3 && dim != 4)
    EMBER_VALUE_ERROR(op, ": expected a 3-D [N, C, L] or 4-D [N, C, H, W] input, got shape ", in);
  InterpMode m = interp_mode(mode, dim, op);
  if (int64_t(out_size.size()) != dim - 2 || int64_t(scales.size()) != dim - 2)
    EMBER_VALUE_ERROR(op, ": expected ", dim - 2, " output sizes and scales for input of shape ", in, ", got ",
                      out_size);
  for (int64_t d = 2; d < dim; ++d)
    if (in[d] <= 0 || out_size[d - 2] <= 0)
      EMBER_VALUE_ERROR(op, ": input and output sizes should be greater than 0, got input of shape ", in,
                        " and output size ", out_size);
  if (shape_numel(Shape(in.begin() + 1, in.end())) == 0)  // an empty batch is fine, no channels is not
    EMBER_VALUE_ERROR(op, ": non-empty ", dim, "-D data tensor expected but got a tensor with sizes ", in);
  if (align_corners && m != InterpMode::Linear)
    EMBER_VALUE_ERROR(op, ": align_corners can only be set with the interpolating modes linear and bilinear");
  return {m, dim == 4 ? scales[0] : 0.0, scales.back()};
}

Dtype interp_dtype(const Tensor& x, const char* op) {
  if (!is_floating(x.dtype()))
    EMBER_TYPE_ERROR(op, ": expected a floating point tensor, got ", dtype_name(x.dtype()));
  return x.dtype() == Dtype::Float64 ? Dtype::Float64 : Dtype::Float32;  // 16-bit floats compute in f32
}

}  // namespace

Tensor upsample(const Tensor& input, const Shape& output_size, const std::string& mode, bool align_corners,
                const std::vector<double>& scales) {
  const char* op = "interpolate";
  const Dtype cd = interp_dtype(input, op);
  const InterpArgs a = check_interp(input.shape(), output_size, mode, align_corners, scales, op);
  Shape out_shape{input.shape()[0], input.shape()[1]};
  out_shape.insert(out_shape.end(), output_size.begin(), output_size.end());
  Tensor x = reshape(contiguous(to_dtype(detach(input), cd)), plane_shape(input.shape()));
  Tensor y = empty(plane_shape(out_shape), cd, input.device());
  // PyTorch's 1-D nearest forward skips the exact-size shortcuts its backward takes
  const InterpMode m = a.mode == InterpMode::Nearest && input.dim() == 3 ? InterpMode::NearestPlain : a.mode;
  kernel::interpolate(input.device())(y, x, m, align_corners, a.sh, a.sw);
  y = to_dtype(reshape(y, out_shape), input.dtype());
  if (autograd::any_requires_grad(input)) {
    Shape in_shape = input.shape();
    autograd::record("UpsampleBackward0", {input}, {y}, {},
                     [=](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {upsample_backward(g[0], in_shape, mode, align_corners, scales)};
                     });
  }
  return y;
}

Tensor upsample_backward(const Tensor& grad_output, const Shape& input_size, const std::string& mode,
                         bool align_corners, const std::vector<double>& scales) {
  const char* op = "interpolate_backward";
  const Dtype cd = interp_dtype(grad_output, op);
  const int64_t dim = int64_t(input_size.size());
  if (grad_output.dim() != dim || dim < 3)
    EMBER_VALUE_ERROR(op, ": grad_output of shape ", grad_output.shape(), " does not match input size ", input_size);
  Shape out_size(grad_output.shape().begin() + 2, grad_output.shape().end());
  const InterpArgs a = check_interp(input_size, out_size, mode, align_corners, scales, op);
  if (grad_output.shape()[0] != input_size[0] || grad_output.shape()[1] != input_size[1])
    EMBER_VALUE_ERROR(op, ": grad_output of shape ", grad_output.shape(), " does not match input size ", input_size);
  Tensor g = reshape(contiguous(to_dtype(detach(grad_output), cd)), plane_shape(grad_output.shape()));
  Tensor gi = empty(plane_shape(input_size), cd, grad_output.device());
  kernel::interpolate_backward(grad_output.device())(gi, g, a.mode, align_corners, a.sh, a.sw);
  gi = to_dtype(reshape(gi, input_size), grad_output.dtype());
  if (autograd::any_requires_grad(grad_output)) {
    autograd::record("UpsampleBackwardBackward0", {grad_output}, {gi}, {},
                     [=](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {upsample(g[0], out_size, mode, align_corners, scales)};
                     });
  }
  return gi;
}

// ---- layer_norm / rms_norm (one fused row kernel each way)

namespace {

// The backward as ember ops (statistics recomputed from x), for create_graph.
TensorList row_norm_backward_composite(const Tensor& g, const Tensor& x, const Tensor& w, double eps, bool rms,
                                       const std::vector<bool>& needs) {
  const Dims last{-1};
  Tensor xc = rms ? x : x - ember::mean(x, last, true);
  Tensor rstd = unary(UnaryOp::Rsqrt, ember::mean(xc * xc, last, true) + eps);
  Tensor xhat = xc * rstd;
  TensorList out(3);
  if (needs[0]) {
    Tensor gh = w.defined() ? g * w : g;
    Tensor inner = gh - xhat * ember::mean(gh * xhat, last, true);
    if (!rms) inner = inner - ember::mean(gh, last, true);
    out[0] = rstd * inner;
  }
  if (needs.size() > 1 && needs[1]) out[1] = sum(g * xhat, Dims{0});
  if (needs.size() > 2 && needs[2]) out[2] = sum(g, Dims{0});
  return out;
}

}  // namespace

Tensor row_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                double eps, bool rms) {
  const char* op = rms ? "rms_norm" : "layer_norm";
  if (!is_floating(input.dtype()))
    EMBER_TYPE_ERROR(op, ": expected a floating point input, got ", dtype_name(input.dtype()));
  const int64_t k = int64_t(normalized_shape.size()), nd = input.dim();
  if (k == 0 || nd < k || !std::equal(normalized_shape.begin(), normalized_shape.end(), input.shape().end() - k))
    EMBER_VALUE_ERROR(op, ": input shape ", input.shape(), " does not end with normalized_shape ", normalized_shape);
  for (const Tensor* t : {&weight, &bias}) {
    if (!t->defined()) continue;
    if (t->shape() != normalized_shape)
      EMBER_VALUE_ERROR(op, ": ", t == &weight ? "weight" : "bias", " of shape ", t->shape(),
                        " does not match normalized_shape ", normalized_shape);
    if (!is_floating(t->dtype()))
      EMBER_TYPE_ERROR(op, ": expected a floating point ", t == &weight ? "weight" : "bias", ", got ",
                       dtype_name(t->dtype()));
  }
  if (!(eps >= 0)) EMBER_VALUE_ERROR(op, ": eps must be non-negative, got ", eps);
  const int64_t N = shape_numel(normalized_shape), R = N > 0 ? input.numel() / N : 0;
  const Dtype cd = input.dtype() == Dtype::Float64 ? Dtype::Float64 : Dtype::Float32;  // 16-bit: in f32
  auto vec = [&](const Tensor& t) { return t.defined() ? contiguous(reshape(to_dtype(detach(t), cd), {N})) : t; };
  Tensor x = contiguous(reshape(to_dtype(detach(input), cd), {R, N}));
  Tensor w = vec(weight), b = vec(bias);
  Tensor y = empty({R, N}, cd, input.device());
  Tensor mean = rms ? Tensor() : empty({R}, cd, input.device()), rstd = empty({R}, cd, input.device());
  if (y.numel() > 0) kernel::layer_norm(input.device())(y, mean, rstd, x, w, b, eps, rms);
  // the result dtype: the promotion of input and the affine parameters (like PyTorch)
  Dtype out_dt = input.dtype();
  if (weight.defined() && weight.dtype() != out_dt) out_dt = promote_types(out_dt, weight.dtype());
  Tensor out = to_dtype(reshape(y, input.shape()), out_dt);
  if (autograd::any_requires_grad(input, weight, bias)) {
    const Shape in_shape = input.shape(), nshape = normalized_shape;
    autograd::record(
        rms ? "RmsNormBackward0" : "NativeLayerNormBackward0", {input, weight, bias}, {out},
        {x, w, mean, rstd, input, weight},
        [=](const TensorList& g, const TensorList& s, const std::vector<bool>& needs) -> TensorList {
          const Dtype in_dt = s[4].dtype();
          Tensor g2 = contiguous(reshape(to_dtype(g[0], cd), {R, N}));
          TensorList r(3);
          if (autograd::GradMode::enabled()) {  // create_graph: differentiable formula
            Tensor xd = reshape(to_dtype(s[4], cd), {R, N});
            Tensor wd = s[5].defined() ? reshape(to_dtype(s[5], cd), {N}) : Tensor();
            r = row_norm_backward_composite(g2, xd, wd, eps, rms, needs);
          } else {
            const Device dev = s[0].device();
            if (needs[0]) r[0] = empty({R, N}, cd, dev);
            if (needs[1]) r[1] = empty({N}, cd, dev);
            if (needs.size() > 2 && needs[2]) r[2] = empty({N}, cd, dev);
            if (R == 0 || N == 0) {
              for (auto& t : r)
                if (t.defined()) t = zeros(t.shape(), cd, dev);
            } else {
              kernel::layer_norm_backward(s[0].device())(r[0], r[1], r[2], g2, s[0], s[1], s[2], s[3], rms);
            }
          }
          if (r[0].defined()) r[0] = to_dtype(reshape(r[0], in_shape), in_dt);
          if (r[1].defined()) r[1] = to_dtype(reshape(r[1], nshape), s[5].dtype());
          if (r[2].defined()) r[2] = to_dtype(reshape(r[2], nshape), s[5].defined() ? s[5].dtype() : in_dt);
          return r;
        });
  }
  return out;
}

}  // namespace ember
