// conv1d / conv2d, conv_transpose1d / conv_transpose2d, unfold (im2col) and fold (col2im).
// Everything is a 2-D grouped convolution (a 1-D one has a unit height) described by one
// ConvGeom. Three differentiable ops are each other's gradients, so any order of backward works:
//   conv      y  = conv(x, w)        dx = conv_input(dy, w)   dw = conv_weight(x, dy)
//   conv_input (= conv_transpose)    d(dy) = conv(g, w)       dw = conv_weight(g, dy)
//   conv_weight                      dx = conv_input(dy, g)   d(dy) = conv(x, g)
// and im2col / col2im are each other's adjoints. Kernels see contiguous f32/f64 tensors; f16 and
// bf16 are computed in f32 and converted back.
#include <string>

#include "autograd/node.h"
#include "backend/kernels_conv.h"
#include "ops/autocast.h"
#include "ops/ops.h"

namespace ember {
namespace {

Dtype compute_dtype(Dtype t) { return t == Dtype::Float64 ? Dtype::Float64 : Dtype::Float32; }
// The CPU conv kernels also take 16-bit floats (bf16 / f16, accumulated in f32 by the GEMM).
Dtype conv_dtype(const Tensor& t) {
  const bool half = t.dtype() == Dtype::BFloat16 || t.dtype() == Dtype::Float16;
  return half && t.device() == Device::CPU ? t.dtype() : compute_dtype(t.dtype());
}

// A detached, contiguous copy (or alias) of t in dtype dt (default: the compute dtype), with shape s.
Tensor prep(const Tensor& t, const Shape& s, Dtype dt) {
  return reshape(contiguous(to_dtype(alias_detached(t), dt)), s);
}
Tensor prep(const Tensor& t, const Shape& s) { return prep(t, s, compute_dtype(t.dtype())); }
Tensor finish(const Tensor& r, Dtype dt, const Shape& s) { return reshape(r.dtype() == dt ? r : to_dtype(r, dt), s); }

Shape x_shape(const ConvGeom& g) { return {g.N, g.C, g.H, g.W}; }
Shape y_shape(const ConvGeom& g) { return {g.N, g.K, g.Ho, g.Wo}; }
Shape w_shape(const ConvGeom& g) { return {g.K, g.C / g.groups, g.kh, g.kw}; }

Tensor conv_op(const Tensor& x, const Tensor& w, const Tensor& b, const ConvGeom& g, const Shape& yshape);
Tensor conv_input_op(const Tensor& dy, const Tensor& w, const ConvGeom& g, const Shape& xshape);
Tensor conv_weight_op(const Tensor& x, const Tensor& dy, const ConvGeom& g, const Shape& wshape);

// y = conv(x, w) + b; x, w, b of any rank with the geometry's element counts, one float dtype.
Tensor conv_op(const Tensor& x, const Tensor& w, const Tensor& b, const ConvGeom& g, const Shape& yshape) {
  Tensor out;
  {
    autograd::GradModeGuard off(false);
    const Dtype dt = conv_dtype(x);
    const Tensor xc = prep(x, x_shape(g), dt), wc = prep(w, w_shape(g), dt);
    const Tensor bc = b.defined() ? prep(b, {g.K}, dt) : Tensor();
    Tensor y = empty(y_shape(g), xc.dtype(), x.device());
    kernel::conv_forward(x.device())(y, xc, wc, bc, g);
    out = finish(y, x.dtype(), yshape);
  }
  if (autograd::any_requires_grad(x, w, b)) {
    autograd::record("ConvolutionBackward0", {x, w, b}, {out}, {x, w},
                     [g, xs = x.shape(), ws = w.shape(), ys = yshape](
                         const TensorList& gr, const TensorList& s, const std::vector<bool>& needs) -> TensorList {
                       Tensor gx, gw, gb;
                       if (needs[0]) gx = conv_input_op(gr[0], s[1], g, xs);
                       if (needs[1]) gw = conv_weight_op(s[0], gr[0], g, ws);
                       if (needs[2]) gb = sum(reshape(gr[0], {g.N, g.K, g.Ho * g.Wo}), Dims{0, 2});
                       return {gx, gw, gb};
                     });
  }
  return out;
}

// dx = the adjoint of conv(., w) applied to dy (conv_transpose).
Tensor conv_input_op(const Tensor& dy, const Tensor& w, const ConvGeom& g, const Shape& xshape) {
  Tensor out;
  {
    autograd::GradModeGuard off(false);
    const Dtype dt = conv_dtype(dy);
    const Tensor dyc = prep(dy, y_shape(g), dt), wc = prep(w, w_shape(g), dt);
    Tensor dx = empty(x_shape(g), dyc.dtype(), dy.device());
    kernel::conv_grad_input(dy.device())(dx, dyc, wc, g);
    out = finish(dx, dy.dtype(), xshape);
  }
  if (autograd::any_requires_grad(dy, w)) {
    autograd::record("ConvolutionBackward0", {dy, w}, {out}, {dy, w},
                     [g, ds = dy.shape(), ws = w.shape()](const TensorList& gr, const TensorList& s,
                                                         const std::vector<bool>& needs) -> TensorList {
                       Tensor gdy, gw;
                       if (needs[0]) gdy = conv_op(gr[0], s[1], Tensor(), g, ds);
                       if (needs[1]) gw = conv_weight_op(gr[0], s[0], g, ws);
                       return {gdy, gw};
                     });
  }
  return out;
}

// dw = the gradient of <dy, conv(x, w)> with respect to w.
Tensor conv_weight_op(const Tensor& x, const Tensor& dy, const ConvGeom& g, const Shape& wshape) {
  Tensor out;
  {
    autograd::GradModeGuard off(false);
    const Dtype dt = conv_dtype(x);
    const Tensor xc = prep(x, x_shape(g), dt), dyc = prep(dy, y_shape(g), dt);
    Tensor dw = empty(w_shape(g), xc.dtype(), x.device());
    kernel::conv_grad_weight(x.device())(dw, xc, dyc, g);
    out = finish(dw, x.dtype(), wshape);
  }
  if (autograd::any_requires_grad(x, dy)) {
    autograd::record("ConvolutionBackwardBackward0", {x, dy}, {out}, {x, dy},
                     [g, xs = x.shape(), ds = dy.shape()](const TensorList& gr, const TensorList& s,
                                                         const std::vector<bool>& needs) -> TensorList {
                       Tensor gx, gdy;
                       if (needs[0]) gx = conv_input_op(s[1], gr[0], g, xs);
                       if (needs[1]) gdy = conv_op(s[0], gr[0], Tensor(), g, ds);
                       return {gx, gdy};
                     });
  }
  return out;
}

// col [N, C*kh*kw, Ho*Wo] = im2col(x) and its adjoint.
Tensor col2im_op(const Tensor& col, const ConvGeom& g, const Shape& xshape);
Tensor im2col_op(const Tensor& x, const ConvGeom& g, const Shape& cshape) {
  Tensor out;
  {
    autograd::GradModeGuard off(false);
    const Tensor xc = prep(x, x_shape(g));
    Tensor col = empty({g.N, g.C * g.kh * g.kw, g.Ho * g.Wo}, xc.dtype(), x.device());
    kernel::im2col(x.device())(col, xc, g);
    out = finish(col, x.dtype(), cshape);
  }
  if (autograd::any_requires_grad(x))
    autograd::record("Im2ColBackward0", {x}, {out}, {},
                     [g, xs = x.shape()](const TensorList& gr, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {col2im_op(gr[0], g, xs)};
                     });
  return out;
}

Tensor col2im_op(const Tensor& col, const ConvGeom& g, const Shape& xshape) {
  Tensor out;
  {
    autograd::GradModeGuard off(false);
    const Tensor cc = prep(col, {g.N, g.C * g.kh * g.kw, g.Ho * g.Wo});
    Tensor x = empty(x_shape(g), cc.dtype(), col.device());
    kernel::col2im(col.device())(x, cc, g);
    out = finish(x, col.dtype(), xshape);
  }
  if (autograd::any_requires_grad(col))
    autograd::record("Col2ImBackward0", {col}, {out}, {},
                     [g, cs = col.shape()](const TensorList& gr, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {im2col_op(gr[0], g, cs)};
                     });
  return out;
}

// ------------------------------------------------------------------------- argument checking

// Geometry arithmetic runs in 128 bits: huge strides / paddings / dilations must give an error,
// not an int64 wrap-around (a silently wrong size or an out-of-bounds kernel). Every size the
// kernels see stays below 2^61, so their index arithmetic (sums of a few such terms) cannot overflow.
using Wide = __int128;
constexpr Wide kMaxExtent = Wide(1) << 61;

template <class... Ctx>
int64_t narrow(Wide v, const char* op, const char* what, const Ctx&... ctx) {
  if (v > kMaxExtent || v < -kMaxExtent) EMBER_VALUE_ERROR(op, ": ", what, " is too large (", ctx..., ")");
  return int64_t(v);
}

// An int-or-tuple argument expanded to one value per spatial dim.
Dims expand_arg(const Dims& v, size_t nsp, const char* op, const char* name) {
  if (v.size() == nsp) return v;
  if (v.size() == 1) return Dims(nsp, v[0]);
  EMBER_VALUE_ERROR(op, ": expected ", name, " to be a single int or a tuple of ", nsp, " ints, got ", v);
}

void check_min(const Dims& v, int64_t lo, const char* op, const char* name, const char* what) {
  for (int64_t e : v)
    if (e < lo) EMBER_VALUE_ERROR(op, ": ", name, " must be ", what, ", got ", v);
}

void check_tensors(const char* op, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (!is_floating(x.dtype()))
    EMBER_TYPE_ERROR(op, ": expected a floating point input, got ", dtype_name(x.dtype()));
  if (w.dtype() != x.dtype())
    EMBER_TYPE_ERROR(op, ": expected input and weight to have the same dtype, got ", dtype_name(x.dtype()), " and ",
                     dtype_name(w.dtype()));
  if (b.defined() && b.dtype() != x.dtype())
    EMBER_TYPE_ERROR(op, ": expected input and bias to have the same dtype, got ", dtype_name(x.dtype()), " and ",
                     dtype_name(b.dtype()));
  if (w.device() != x.device() || (b.defined() && b.device() != x.device()))
    EMBER_RUNTIME_ERROR(op, ": expected input, weight and bias on the same device");
}

// Input [N, C, *sp] (or unbatched [C, *sp]) -> (batched, N, C, H, W) with H = 1 for 1-D.
void input_dims(const char* op, const Tensor& x, size_t nsp, bool& batched, ConvGeom& g) {
  const int64_t nd = x.dim();
  if (nd != int64_t(nsp) + 1 && nd != int64_t(nsp) + 2)
    EMBER_VALUE_ERROR(op, ": expected a ", nsp + 1, "-D (unbatched) or ", nsp + 2, "-D (batched) input, got shape ",
                      x.shape());
  batched = nd == int64_t(nsp) + 2;
  const Shape& s = x.shape();
  const int64_t o = batched ? 1 : 0;
  g.N = batched ? s[0] : 1;
  g.C = s[o];
  g.H = nsp == 2 ? s[o + 1] : 1;
  g.W = s[o + nsp];
}

// Spatial parameters into the geometry (1-D: only the width ones are given).
void set_spatial(ConvGeom& g, size_t nsp, const Shape& ksize, const Dims& st, const Dims& pad, const Dims& dil) {
  g.kh = nsp == 2 ? ksize[0] : 1;
  g.kw = ksize[nsp - 1];
  g.sh = nsp == 2 ? st[0] : 1;
  g.sw = st[nsp - 1];
  g.ph = nsp == 2 ? pad[0] : 0;
  g.pw = pad[nsp - 1];
  g.dh = nsp == 2 ? dil[0] : 1;
  g.dw = dil[nsp - 1];
}

Shape out_shape(bool batched, int64_t N, int64_t Ch, size_t nsp, int64_t Ho, int64_t Wo) {
  Shape s;
  if (batched) s.push_back(N);
  s.push_back(Ch);
  if (nsp == 2) s.push_back(Ho);
  s.push_back(Wo);
  return s;
}

Shape spatial(const Shape& s, size_t nsp) { return Shape(s.end() - nsp, s.end()); }

Tensor conv_nd(const char* op, size_t nsp, const Tensor& input0, const Tensor& weight0, const Tensor& bias0,
               const Dims& stride_, const Dims& pad_lo_, const Dims& pad_hi_, const Dims& dilation_, int64_t groups) {
  const Tensor input = autocast::arg(op, input0), weight = autocast::arg(op, weight0), bias = autocast::arg(op, bias0);
  check_tensors(op, input, weight, bias);
  const Dims stride = expand_arg(stride_, nsp, op, "stride"), dilation = expand_arg(dilation_, nsp, op, "dilation");
  const Dims pad_lo = expand_arg(pad_lo_, nsp, op, "padding"), pad_hi = expand_arg(pad_hi_, nsp, op, "padding");
  check_min(stride, 1, op, "stride", "positive");
  check_min(pad_lo, 0, op, "padding", "non-negative");
  check_min(pad_hi, 0, op, "padding", "non-negative");
  check_min(dilation, 1, op, "dilation", "positive");
  if (groups < 1) EMBER_VALUE_ERROR(op, ": groups must be positive, got ", groups);
  ConvGeom g;
  bool batched;
  input_dims(op, input, nsp, batched, g);
  if (weight.dim() != int64_t(nsp) + 2)
    EMBER_VALUE_ERROR(op, ": expected a ", nsp + 2, "-D weight, got shape ", weight.shape());
  const Shape ks = spatial(weight.shape(), nsp);
  check_min(ks, 1, op, "kernel size", "positive");
  g.K = weight.shape()[0];
  g.groups = groups;
  if (g.K % groups != 0)
    EMBER_VALUE_ERROR(op, ": out_channels (weight of shape ", weight.shape(), ") must be divisible by groups=", groups);
  if (g.C % groups != 0)
    EMBER_VALUE_ERROR(op, ": in_channels (input of shape ", input.shape(), ") must be divisible by groups=", groups);
  if (g.K == 0)  // (PyTorch's rule: no zero-channel output)
    EMBER_VALUE_ERROR(op, ": given groups=", groups, ", expected weight to have at least ", groups,
                      " output channels (dim 0), got weight of shape ", weight.shape());
  if (weight.shape()[1] * groups != g.C)
    EMBER_VALUE_ERROR(op, ": given groups=", groups, ", weight of shape ", weight.shape(), " expects input of shape ",
                      input.shape(), " to have ", weight.shape()[1] * groups, " channels, but it has ", g.C);
  if (bias.defined() && (bias.dim() != 1 || bias.shape()[0] != g.K))
    EMBER_VALUE_ERROR(op, ": expected bias of shape [", g.K, "], got ", bias.shape());
  set_spatial(g, nsp, ks, stride, pad_lo, dilation);
  const Shape in_sp = spatial(input.shape(), nsp);
  if (g.N > 0 && g.C > 0 && shape_numel(in_sp) == 0)  // PyTorch refuses these too
    EMBER_VALUE_ERROR(op, ": only a zero batch or zero channel input may have an empty spatial size, got input of "
                      "shape ", input.shape());
  Shape out_sp(nsp);
  for (size_t d = 0; d < nsp; ++d) {
    const int64_t padded = narrow(Wide(in_sp[d]) + pad_lo[d] + pad_hi[d], op, "the padded input size", "input of shape ",
                                  input.shape(), ", padding ", pad_lo);
    if (Wide(dilation[d]) * (ks[d] - 1) + 1 > padded)
      EMBER_VALUE_ERROR(op, ": input of shape ", input.shape(), " padded to spatial size ", padded,
                        " is smaller than the (dilated) kernel (weight of shape ", weight.shape(), ", dilation ",
                        dilation, ")");
    out_sp[d] = (padded - dilation[d] * (ks[d] - 1) - 1) / stride[d] + 1;
  }
  g.Ho = nsp == 2 ? out_sp[0] : 1;
  g.Wo = out_sp[nsp - 1];
  return conv_op(input, weight, bias, g, out_shape(batched, g.N, g.K, nsp, g.Ho, g.Wo));
}

Tensor conv_nd_str(const char* op, size_t nsp, const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const Dims& stride, const std::string& padding, const Dims& dilation_, int64_t groups) {
  if (padding == "valid") return conv_nd(op, nsp, input, weight, bias, stride, {0}, {0}, dilation_, groups);
  if (padding != "same")
    EMBER_VALUE_ERROR(op, ": invalid padding string '", padding, "', expected 'same' or 'valid'");
  for (int64_t s : stride)
    if (s != 1) EMBER_VALUE_ERROR(op, ": padding='same' is not supported for strided convolutions, got stride ", stride);
  const Dims dilation = expand_arg(dilation_, nsp, op, "dilation");
  check_min(dilation, 1, op, "dilation", "positive");
  if (weight.dim() != int64_t(nsp) + 2)
    EMBER_VALUE_ERROR(op, ": expected a ", nsp + 2, "-D weight, got shape ", weight.shape());
  // total padding d*(k-1) per dim; an odd total puts the extra element at the end, like PyTorch
  Dims lo(nsp), hi(nsp);
  for (size_t d = 0; d < nsp; ++d) {
    const int64_t total =
        narrow(Wide(dilation[d]) * (spatial(weight.shape(), nsp)[d] - 1), op, "padding='same'",
               "weight of shape ", weight.shape(), ", dilation ", dilation);
    lo[d] = total / 2;
    hi[d] = total - lo[d];
  }
  return conv_nd(op, nsp, input, weight, bias, stride, lo, hi, dilation, groups);
}

Tensor conv_transpose_nd(const char* op, size_t nsp, const Tensor& input0, const Tensor& weight0, const Tensor& bias0,
                         const Dims& stride_, const Dims& padding_, const Dims& output_padding_, int64_t groups,
                         const Dims& dilation_) {
  const Tensor input = autocast::arg(op, input0), weight = autocast::arg(op, weight0), bias = autocast::arg(op, bias0);
  check_tensors(op, input, weight, bias);
  const Dims stride = expand_arg(stride_, nsp, op, "stride"), dilation = expand_arg(dilation_, nsp, op, "dilation");
  const Dims padding = expand_arg(padding_, nsp, op, "padding");
  const Dims opad = expand_arg(output_padding_, nsp, op, "output_padding");
  check_min(stride, 1, op, "stride", "positive");
  check_min(padding, 0, op, "padding", "non-negative");
  check_min(opad, 0, op, "output_padding", "non-negative");
  check_min(dilation, 1, op, "dilation", "positive");
  if (groups < 1) EMBER_VALUE_ERROR(op, ": groups must be positive, got ", groups);
  for (size_t d = 0; d < nsp; ++d)
    if (opad[d] >= stride[d] && opad[d] >= dilation[d])
      EMBER_VALUE_ERROR(op, ": output_padding must be smaller than either stride or dilation, got output_padding ",
                        opad, ", stride ", stride, " and dilation ", dilation);
  // the convolution whose input gradient this is: its input has C_out channels, its output C_in
  ConvGeom g;
  bool batched;
  input_dims(op, input, nsp, batched, g);
  const int64_t cin = g.C;
  if (weight.dim() != int64_t(nsp) + 2)
    EMBER_VALUE_ERROR(op, ": expected a ", nsp + 2, "-D weight, got shape ", weight.shape());
  const Shape ks = spatial(weight.shape(), nsp);
  check_min(ks, 1, op, "kernel size", "positive");
  if (weight.shape()[0] != cin)
    EMBER_VALUE_ERROR(op, ": weight of shape ", weight.shape(), " expects input of shape ", input.shape(), " to have ",
                      weight.shape()[0], " channels, but it has ", cin);
  if (cin % groups != 0)
    EMBER_VALUE_ERROR(op, ": in_channels (input of shape ", input.shape(), ") must be divisible by groups=", groups);
  if (cin == 0)  // (PyTorch's rule: the weight needs at least `groups` rows)
    EMBER_VALUE_ERROR(op, ": given groups=", groups, ", expected weight to have at least ", groups,
                      " input channels (dim 0), got weight of shape ", weight.shape());
  const int64_t cout = narrow(Wide(weight.shape()[1]) * groups, op, "the number of output channels", "groups ", groups);
  if (cout == 0)
    EMBER_VALUE_ERROR(op, ": expected a weight with at least one output channel (dim 1), got shape ", weight.shape());
  if (bias.defined() && (bias.dim() != 1 || bias.shape()[0] != cout))
    EMBER_VALUE_ERROR(op, ": expected bias of shape [", cout, "], got ", bias.shape());
  const Shape in_sp = spatial(input.shape(), nsp);
  if (g.N > 0 && cin > 0 && shape_numel(in_sp) == 0)  // PyTorch refuses these too
    EMBER_VALUE_ERROR(op, ": only a zero batch or zero channel input may have an empty spatial size, got input of "
                      "shape ", input.shape());
  Shape out_sp(nsp);
  for (size_t d = 0; d < nsp; ++d) {
    // PyTorch allows an empty output on some of its paths only; ember always refuses it
    const Wide o = (Wide(in_sp[d]) - 1) * stride[d] - 2 * Wide(padding[d]) + Wide(dilation[d]) * (ks[d] - 1) +
                   opad[d] + 1;
    if (o < 1)
      EMBER_VALUE_ERROR(op, ": input of shape ", input.shape(), " with weight of shape ", weight.shape(), ", stride ",
                        stride, ", padding ", padding, " and dilation ", dilation, " gives a non-positive output size");
    out_sp[d] = narrow(o, op, "the output size", "input of shape ", input.shape(), ", weight of shape ",
                       weight.shape(), ", stride ", stride, ", dilation ", dilation);
    narrow(Wide(padding[d]) + Wide(dilation[d]) * (ks[d] - 1), op, "padding + dilated kernel", "padding ",
           padding, ", dilation ", dilation);
  }
  g.K = cin;
  g.C = cout;
  g.groups = groups;
  set_spatial(g, nsp, ks, stride, padding, dilation);
  g.Ho = nsp == 2 ? in_sp[0] : 1;
  g.Wo = in_sp[nsp - 1];
  g.H = nsp == 2 ? out_sp[0] : 1;
  g.W = out_sp[nsp - 1];
  Tensor y = conv_input_op(input, weight, g, out_shape(batched, g.N, cout, nsp, g.H, g.W));
  if (!bias.defined()) return y;
  Shape bs{cout};
  bs.insert(bs.end(), nsp, 1);
  return y + reshape(bias, bs);
}

// unfold / fold geometry: kernel_size, dilation, padding, stride as 2-ints each.
void fold_params(const char* op, const Dims& ks_, const Dims& dil_, const Dims& pad_, const Dims& st_, ConvGeom& g) {
  const Dims ks = expand_arg(ks_, 2, op, "kernel_size"), dil = expand_arg(dil_, 2, op, "dilation");
  const Dims pad = expand_arg(pad_, 2, op, "padding"), st = expand_arg(st_, 2, op, "stride");
  check_min(ks, 1, op, "kernel_size", "positive");
  check_min(dil, 1, op, "dilation", "positive");
  check_min(pad, 0, op, "padding", "non-negative");
  check_min(st, 1, op, "stride", "positive");
  set_spatial(g, 2, ks, st, pad, dil);
  const int64_t padded_h = narrow(Wide(g.H) + 2 * Wide(g.ph), op, "the padded size", "padding ", pad);
  const int64_t padded_w = narrow(Wide(g.W) + 2 * Wide(g.pw), op, "the padded size", "padding ", pad);
  if (Wide(g.dh) * (g.kh - 1) + 1 > padded_h || Wide(g.dw) * (g.kw - 1) + 1 > padded_w)
    EMBER_VALUE_ERROR(op, ": spatial size [", g.H, ", ", g.W, "] with padding ", pad,
                      " is smaller than the (dilated) kernel of size ", ks, " and dilation ", dil);
  g.Ho = (padded_h - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.Wo = (padded_w - g.dw * (g.kw - 1) - 1) / g.sw + 1;
}

}  // namespace

Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride, const Dims& padding,
              const Dims& dilation, int64_t groups) {
  return conv_nd("conv1d", 1, input, weight, bias, stride, padding, padding, dilation, groups);
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride, const Dims& padding,
              const Dims& dilation, int64_t groups) {
  return conv_nd("conv2d", 2, input, weight, bias, stride, padding, padding, dilation, groups);
}
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
              const std::string& padding, const Dims& dilation, int64_t groups) {
  return conv_nd_str("conv1d", 1, input, weight, bias, stride, padding, dilation, groups);
}
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
              const std::string& padding, const Dims& dilation, int64_t groups) {
  return conv_nd_str("conv2d", 2, input, weight, bias, stride, padding, dilation, groups);
}

Tensor conv_transpose1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
                        const Dims& padding, const Dims& output_padding, int64_t groups, const Dims& dilation) {
  return conv_transpose_nd("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation);
}
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
                        const Dims& padding, const Dims& output_padding, int64_t groups, const Dims& dilation) {
  return conv_transpose_nd("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation);
}

Tensor im2col(const Tensor& input, const Dims& kernel_size, const Dims& dilation, const Dims& padding,
              const Dims& stride) {
  const char* op = "unfold";
  if (!is_floating(input.dtype()))
    EMBER_TYPE_ERROR(op, ": expected a floating point input, got ", dtype_name(input.dtype()));
  if (input.dim() != 3 && input.dim() != 4)
    EMBER_VALUE_ERROR(op, ": expected a 3-D (unbatched) or 4-D (batched) input, got shape ", input.shape());
  ConvGeom g;
  bool batched;
  input_dims(op, input, 2, batched, g);
  if (g.C == 0 || g.H == 0 || g.W == 0)  // (as PyTorch: only the batch may be empty)
    EMBER_VALUE_ERROR(op, ": expected an input with non-zero channel and spatial sizes (the batch may be empty), "
                      "got shape ", input.shape());
  fold_params(op, kernel_size, dilation, padding, stride, g);
  g.K = narrow(Wide(g.C) * g.kh * g.kw, op, "the number of output rows", "kernel_size ", kernel_size);
  Shape cs{g.K, narrow(Wide(g.Ho) * g.Wo, op, "the number of blocks", "input of shape ", input.shape(), ", padding ",
                                padding)};
  if (batched) cs.insert(cs.begin(), g.N);
  return im2col_op(input, g, cs);
}

Tensor col2im(const Tensor& input, const Dims& output_size, const Dims& kernel_size, const Dims& dilation,
              const Dims& padding, const Dims& stride) {
  const char* op = "fold";
  if (!is_floating(input.dtype()))
    EMBER_TYPE_ERROR(op, ": expected a floating point input, got ", dtype_name(input.dtype()));
  if (input.dim() != 2 && input.dim() != 3)
    EMBER_VALUE_ERROR(op, ": expected a 2-D (unbatched) or 3-D (batched) input, got shape ", input.shape());
  const Dims os = expand_arg(output_size, 2, op, "output_size");
  check_min(os, 1, op, "output_size", "positive");
  const bool batched = input.dim() == 3;
  ConvGeom g;
  g.N = batched ? input.shape()[0] : 1;
  g.H = os[0];
  g.W = os[1];
  fold_params(op, kernel_size, dilation, padding, stride, g);
  const int64_t rows = input.shape()[batched ? 1 : 0], L = input.shape()[batched ? 2 : 1];
  if (rows == 0 || L == 0)
    EMBER_VALUE_ERROR(op, ": expected an input with non-zero sizes except the batch, got shape ", input.shape());
  if (Wide(g.kh) * g.kw > rows || rows % (g.kh * g.kw) != 0)
    EMBER_VALUE_ERROR(op, ": expected dimension 1 of input of shape ", input.shape(),
                      " to be divisible by the product of kernel_size ", g.kh * g.kw);
  if (Wide(L) != Wide(g.Ho) * g.Wo)
    EMBER_VALUE_ERROR(op, ": input of shape ", input.shape(), " has ", L, " blocks, but output_size ", os,
                      " with kernel_size [", g.kh, ", ", g.kw, "] gives ", g.Ho, " x ", g.Wo, " blocks");
  g.C = rows / (g.kh * g.kw);
  g.K = rows;
  Shape xs{g.C, g.H, g.W};
  if (batched) xs.insert(xs.begin(), g.N);
  return col2im_op(input, g, xs);
}

}  // namespace ember
