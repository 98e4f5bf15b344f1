// Metal launch code of softmax / log_softmax over the last dim (metal/softmax.metal): one
// threadgroup per row. The backward is composed by the op from elementwise and sum kernels.
#include "backend/kernels.h"
#include "backend/metal/family_util.h"
#include "softmax_params.h"

namespace ember::metal {
namespace {

const char* softmax_declines(const Tensor& out, const Tensor& x, bool log) {
  if (!float_suffix(x.dtype()) || out.dtype() != x.dtype() || !x.is_contiguous() ||
      !out.is_contiguous() || x.numel() >= (int64_t(1) << 31))
    return log ? "log_softmax" : "softmax";
  return nullptr;
}

void softmax_metal(const Tensor& out, const Tensor& x, bool log) {
  if (x.numel() == 0) return;
  const int64_t n = x.shape().back(), rows = x.numel() / n;
  SoftmaxParams p{uint(n), log ? 1u : 0u};
  Dispatch(std::string("softmax_rows_") + float_suffix(x.dtype()))
      .buffer(0, x.raw_data())
      .buffer(1, out.raw_data())
      .value(2, p)
      .threadgroups({uint32_t(rows), 1, 1}, {simd_threads(n), 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(softmax, Metal, softmax_metal);
EMBER_REGISTER_DECLINES(softmax, Metal, softmax_declines);

}  // namespace ember::metal
