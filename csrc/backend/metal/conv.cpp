// Metal launch code of conv2d (metal/conv.metal): forward and weight gradient as implicit GEMMs,
// the input gradient as a direct gather; float32 (float64 falls back to the CPU).
#include "backend/kernels_conv.h"
#include "backend/metal/family_util.h"
#include "conv_params.h"

namespace ember::metal {
namespace {

bool conv_supported(const Tensor& t, const ConvGeom& g) {
  const int64_t big = int64_t(1) << 31;
  return t.dtype() == Dtype::Float32 && g.N * g.C * g.H * g.W < big &&
         g.N * g.K * g.Ho * g.Wo < big && g.K * g.C * g.kh * g.kw < big && g.N * g.groups < 65536;
}

ConvParams params(const ConvGeom& g, bool bias) {
  ConvParams p{};
  p.N = uint(g.N), p.C = uint(g.C), p.H = uint(g.H), p.W = uint(g.W);
  p.K = uint(g.K), p.kh = uint(g.kh), p.kw = uint(g.kw);
  p.sh = uint(g.sh), p.sw = uint(g.sw), p.ph = uint(g.ph), p.pw = uint(g.pw), p.dh = uint(g.dh),
  p.dw = uint(g.dw);
  p.groups = uint(g.groups), p.Ho = uint(g.Ho), p.Wo = uint(g.Wo), p.has_bias = bias;
  return p;
}

const char* fwd_declines(const Tensor& y, const Tensor&, const Tensor&, const Tensor&,
                         const ConvGeom& g) {
  return conv_supported(y, g) ? nullptr : "conv2d";
}
void fwd_metal(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
               const ConvGeom& g) {
  if (y.numel() == 0) return;
  ConvParams p = params(g, bias.defined());
  const int64_t Kg = g.K / g.groups, P = g.Ho * g.Wo;
  const void* xp = x.numel() ? x.raw_data() : unused_binding(y);
  const void* wp = w.numel() ? w.raw_data() : unused_binding(y);
  Dispatch("conv_forward_float32")
      .buffer(0, xp)
      .buffer(1, wp)
      .buffer(2, y.raw_data())
      .buffer(3, bias.defined() ? bias.raw_data() : unused_binding(y))
      .value(4, p)
      .threadgroups({uint32_t((P + 31) / 32), uint32_t((Kg + 31) / 32), uint32_t(g.N * g.groups)},
                    {128, 1, 1});
}

const char* gi_declines(const Tensor& dx, const Tensor&, const Tensor&, const ConvGeom& g) {
  return conv_supported(dx, g) ? nullptr : "conv2d_grad_input";
}
void gi_metal(const Tensor& dx, const Tensor& dy, const Tensor& w, const ConvGeom& g) {
  if (dx.numel() == 0) return;
  ConvParams p = params(g, false);
  const uint32_t n = uint32_t(dx.numel());
  const void* dyp = dy.numel() ? dy.raw_data() : unused_binding(dx);
  const void* wp = w.numel() ? w.raw_data() : unused_binding(dx);
  Dispatch("conv_grad_input")
      .buffer(0, dyp)
      .buffer(1, wp)
      .buffer(2, dx.raw_data())
      .value(3, p)
      .threadgroups({(n + 255) / 256, 1, 1}, {256, 1, 1});
}

const char* gw_declines(const Tensor& dw, const Tensor&, const Tensor&, const ConvGeom& g) {
  return conv_supported(dw, g) ? nullptr : "conv2d_grad_weight";
}
void gw_metal(const Tensor& dw, const Tensor& x, const Tensor& dy, const ConvGeom& g) {
  if (dw.numel() == 0) return;
  ConvParams p = params(g, false);
  const int64_t Kg = g.K / g.groups, R = (g.C / g.groups) * g.kh * g.kw;
  const void* xp = x.numel() ? x.raw_data() : unused_binding(dw);
  const void* dyp = dy.numel() ? dy.raw_data() : unused_binding(dw);
  Dispatch("conv_grad_weight_float32")
      .buffer(0, xp)
      .buffer(1, dyp)
      .buffer(2, dw.raw_data())
      .buffer(3, unused_binding(dw))
      .value(4, p)
      .threadgroups({uint32_t((R + 31) / 32), uint32_t((Kg + 31) / 32), uint32_t(g.groups)},
                    {128, 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(conv_forward, Metal, fwd_metal);
EMBER_REGISTER_DECLINES(conv_forward, Metal, fwd_declines);
EMBER_REGISTER_KERNEL(conv_grad_input, Metal, gi_metal);
EMBER_REGISTER_DECLINES(conv_grad_input, Metal, gi_declines);
EMBER_REGISTER_KERNEL(conv_grad_weight, Metal, gw_metal);
EMBER_REGISTER_DECLINES(conv_grad_weight, Metal, gw_declines);

}  // namespace ember::metal
