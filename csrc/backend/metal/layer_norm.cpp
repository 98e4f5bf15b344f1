// Metal launch code of layer_norm / rms_norm forward and backward (metal/layer_norm.metal),
// float32 rows (the op upcasts reduced floats); float64 falls back to the CPU.
#include "backend/kernels_norm.h"
#include "backend/metal/family_util.h"
#include "layer_norm_params.h"

namespace ember::metal {
namespace {

const char* ln_declines(const Tensor& y, const Tensor&, const Tensor&, const Tensor& x,
                        const Tensor&, const Tensor&, double, bool rms) {
  if (x.dtype() != Dtype::Float32 || y.numel() >= (int64_t(1) << 31))
    return rms ? "rms_norm" : "layer_norm";
  return nullptr;
}

void ln_metal(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
              const Tensor& w, const Tensor& b, double eps, bool rms) {
  const int64_t n = x.shape()[1], rows = x.shape()[0];
  if (rows == 0) return;
  LayerNormParams p{};
  p.rows = uint(rows), p.n = uint(n), p.eps = float(eps), p.rms = rms;
  p.has_weight = w.defined(), p.has_bias = b.defined();
  const void* dummy = unused_binding(rstd);
  Dispatch("layer_norm_fwd")
      .buffer(0, x.raw_data())
      .buffer(1, w.defined() ? w.raw_data() : dummy)
      .buffer(2, b.defined() ? b.raw_data() : dummy)
      .buffer(3, y.raw_data())
      .buffer(4, mean.defined() ? mean.raw_data() : dummy)
      .buffer(5, rstd.raw_data())
      .value(6, p)
      .threadgroups({uint32_t(rows), 1, 1}, {simd_threads(n), 1, 1});
}

const char* ln_bwd_declines(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                            const Tensor& x, const Tensor&, const Tensor&, const Tensor&,
                            bool rms) {
  if (x.dtype() != Dtype::Float32 || x.numel() >= (int64_t(1) << 31))
    return rms ? "rms_norm_backward" : "layer_norm_backward";
  return nullptr;
}

void ln_bwd_metal(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                  const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                  bool rms) {
  const int64_t rows = x.shape()[0], n = x.shape()[1];
  LayerNormParams p{};
  p.rows = uint(rows), p.n = uint(n), p.rms = rms, p.has_weight = w.defined();
  p.want_gx = gx.defined(), p.want_gw = gw.defined(), p.want_gb = gb.defined();
  const Tensor& some = gx.defined() ? gx : (gw.defined() ? gw : gb);
  if (!some.defined() || n == 0) return;
  const void* dummy = unused_binding(some);
  const void* mp = mean.defined() ? mean.raw_data() : dummy;
  const void* xp = rows > 0 ? x.raw_data() : dummy;
  const void* gp = rows > 0 ? g.raw_data() : dummy;
  const void* rp = rows > 0 ? rstd.raw_data() : dummy;
  if (gx.defined() && rows > 0)
    Dispatch("layer_norm_bwd_rows")
        .buffer(0, gp)
        .buffer(1, xp)
        .buffer(2, w.defined() ? w.raw_data() : dummy)
        .buffer(3, mp)
        .buffer(4, rp)
        .buffer(5, gx.raw_data())
        .value(6, p)
        .threadgroups({uint32_t(rows), 1, 1}, {simd_threads(n), 1, 1});
  if (gw.defined() || gb.defined())
    Dispatch("layer_norm_bwd_cols")
        .buffer(0, gp)
        .buffer(1, xp)
        .buffer(2, mp)
        .buffer(3, rp)
        .buffer(4, gw.defined() ? gw.raw_data() : dummy)
        .buffer(5, gb.defined() ? gb.raw_data() : dummy)
        .value(6, p)
        .threadgroups({uint32_t((n + 63) / 64), 1, 1}, {64, 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(layer_norm, Metal, ln_metal);
EMBER_REGISTER_DECLINES(layer_norm, Metal, ln_declines);
EMBER_REGISTER_KERNEL(layer_norm_backward, Metal, ln_bwd_metal);
EMBER_REGISTER_DECLINES(layer_norm_backward, Metal, ln_bwd_declines);

}  // namespace ember::metal
