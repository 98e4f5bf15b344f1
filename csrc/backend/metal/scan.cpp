// Metal launch code of cumsum / cumprod (one threadgroup per scanned line) and flip
// (metal/scan.metal).
#include "backend/kernels.h"
#include "backend/kernels_shape.h"
#include "backend/metal/family_util.h"
#include "scan_params.h"

namespace ember::metal {
namespace {

const char* scan_suffix(Dtype d) {
  if (const char* s = float_suffix(d)) return s;
  return d == Dtype::Int32 ? "int32" : d == Dtype::Int64 ? "int64" : nullptr;
}

const char* scan_declines(ScanOp op, const Tensor& out, const Tensor& x, int64_t) {
  if (!scan_suffix(x.dtype()) || out.dtype() != x.dtype() || !x.is_contiguous() ||
      !out.is_contiguous() || x.numel() >= (int64_t(1) << 31))
    return op == ScanOp::Sum ? "cumsum" : "cumprod";
  return nullptr;
}

void scan_metal(ScanOp op, const Tensor& out, const Tensor& x, int64_t dim) {
  if (x.numel() == 0) return;
  int64_t n = x.dim() ? x.shape()[dim] : 1, inner = 1;
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  const int64_t lines = x.numel() / n;
  ScanParams p{op == ScanOp::Sum ? 0u : 1u, uint(n), uint(inner)};
  Dispatch(std::string("scan_") + scan_suffix(x.dtype()))
      .buffer(0, x.raw_data())
      .buffer(1, out.raw_data())
      .value(2, p)
      .threadgroups({uint32_t(lines), 1, 1}, {simd_threads(n, 256), 1, 1});
}

const char* flip_declines(const Tensor& out, const Tensor& x, const std::vector<bool>&) {
  const int64_t es = x.itemsize();
  if ((es != 1 && es != 2 && es != 4 && es != 8) || x.dim() > EMBER_FLIP_MAX_DIMS ||
      !out.is_contiguous() || out.dtype() != x.dtype() || x.numel() >= (int64_t(1) << 31) ||
      !offsets_fit_int32(x))
    return "flip";
  return nullptr;
}

void flip_metal(const Tensor& out, const Tensor& x, const std::vector<bool>& flips) {
  if (out.numel() == 0) return;
  FlipParams p{};
  p.n = uint(out.numel());
  p.ndim = uint(x.dim());
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t s = x.strides()[d], len = x.shape()[d];
    p.shape[d] = uint(len);
    p.strides[d] = int(flips[size_t(d)] ? -s : s);
    if (flips[size_t(d)]) p.base += int((len - 1) * s);  // out's index 0 reads x's last element
  }
  Dispatch("flip_" + std::to_string(x.itemsize()))
      .buffer(0, x.raw_data())
      .buffer(1, out.raw_data())
      .value(2, p)
      .threadgroups({uint32_t((out.numel() + 255) / 256), 1, 1}, {256, 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(scan, Metal, scan_metal);
EMBER_REGISTER_DECLINES(scan, Metal, scan_declines);
EMBER_REGISTER_KERNEL(flip, Metal, flip_metal);
EMBER_REGISTER_DECLINES(flip, Metal, flip_declines);

}  // namespace ember::metal
