// Metal launch code of the fused cross entropy (metal/cross_entropy.metal), float32 logits.
#include "backend/kernels_loss.h"
#include "backend/metal/family_util.h"
#include "cross_entropy_params.h"

namespace ember::metal {
namespace {

CrossEntropyParams make_params(const Tensor& z, const Tensor& w, int64_t ignore_index, double ls) {
  CrossEntropyParams p{};
  p.rows = uint(z.shape()[0]), p.V = uint(z.shape()[1]);
  p.ignore_lo = int(uint32_t(uint64_t(ignore_index)));
  p.ignore_hi = int(ignore_index >> 32);
  p.ls = float(ls);
  p.has_weight = w.defined();
  double ws = double(p.V);
  if (w.defined()) {  // the weights are a small [V] vector: summed here in the CPU kernel's order
    synchronize();
    ws = 0;
    const float* wp = w.data<float>();
    for (int64_t c = 0; c < w.numel(); ++c) ws += wp[c * w.strides()[0]];
  }
  p.wsum = float(ws);
  return p;
}

bool ce_supported(const Tensor& z, const Tensor& w) {
  return z.dtype() == Dtype::Float32 && z.is_contiguous() && (!w.defined() || w.is_contiguous()) &&
         z.numel() < (int64_t(1) << 31);
}

const char* ce_declines(const Tensor&, const Tensor&, const Tensor& z, const Tensor&,
                        const Tensor& w, int64_t, double) {
  return ce_supported(z, w) ? nullptr : "cross_entropy";
}

void ce_metal(const Tensor& loss, const Tensor& lse, const Tensor& z, const Tensor& target,
              const Tensor& w, int64_t ignore_index, double ls) {
  CrossEntropyParams p = make_params(z, w, ignore_index, ls);
  Dispatch("cross_entropy_fwd")
      .buffer(0, z.raw_data())
      .buffer(1, target.raw_data())
      .buffer(2, w.defined() ? w.raw_data() : z.raw_data())
      .buffer(3, loss.raw_data())
      .buffer(4, lse.raw_data())
      .value(5, p)
      .threadgroups({p.rows, 1, 1}, {simd_threads(p.V), 1, 1});
}

const char* ce_bwd_declines(const Tensor&, const Tensor&, const Tensor& z, const Tensor&,
                            const Tensor& w, const Tensor&, int64_t, double) {
  return ce_supported(z, w) ? nullptr : "cross_entropy_backward";
}

void ce_bwd_metal(const Tensor& grad, const Tensor& gs, const Tensor& z, const Tensor& target,
                  const Tensor& w, const Tensor& lse, int64_t ignore_index, double ls) {
  CrossEntropyParams p = make_params(z, w, ignore_index, ls);
  Dispatch("cross_entropy_bwd")
      .buffer(0, z.raw_data())
      .buffer(1, target.raw_data())
      .buffer(2, w.defined() ? w.raw_data() : z.raw_data())
      .buffer(3, lse.raw_data())
      .buffer(4, gs.raw_data())
      .buffer(5, grad.raw_data())
      .value(6, p)
      .threadgroups({(p.V + 63) / 64, p.rows, 1}, {64, 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(cross_entropy, Metal, ce_metal);
EMBER_REGISTER_DECLINES(cross_entropy, Metal, ce_declines);
EMBER_REGISTER_KERNEL(cross_entropy_backward, Metal, ce_bwd_metal);
EMBER_REGISTER_DECLINES(cross_entropy_backward, Metal, ce_bwd_declines);

}  // namespace ember::metal
