// Metal launch code of sort / argsort / topk (metal/sort.metal): one threadgroup per row, a
// bitonic sort in threadgroup memory. Rows longer than EMBER_SORT_MAX_ROW, and dtypes without a
// kernel, are declined (the CPU kernel runs, counted as a fallback).
#include "backend/kernels_sort.h"
#include "backend/metal/family_util.h"
#include "sort_params.h"

namespace ember::metal {
namespace {

const char* sort_suffix(Dtype d) {
  if (const char* s = float_suffix(d)) return s;
  return d == Dtype::Int32 ? "int32" : d == Dtype::Int64 ? "int64" : nullptr;
}

const char* sort_declines(const Tensor& values, const Tensor& indices, const Tensor& x, bool) {
  const int64_t n = x.shape().back();
  if (!sort_suffix(x.dtype()) || values.dtype() != x.dtype() || n > EMBER_SORT_MAX_ROW ||
      x.dim() - 1 > EMBER_SORT_MAX_DIMS ||
      values.numel() / std::max<int64_t>(values.shape().back(), 1) >= (int64_t(1) << 31))
    return "sort";
  for (const Tensor* t : {&values, &indices, &x})
    if (!offsets_fit_int32(*t)) return "sort";
  return nullptr;
}

void sort_metal(const Tensor& values, const Tensor& indices, const Tensor& x, bool descending) {
  if (values.numel() == 0) return;
  const int64_t n = x.shape().back(), rows = x.numel() / n;
  SortParams p{};
  p.n = uint(n);
  p.k = uint(values.shape().back());
  p.pow2 = 1;
  while (p.pow2 < p.n) p.pow2 <<= 1;
  p.desc = descending ? 1u : 0u;
  p.nouter = uint(x.dim() - 1);
  for (int64_t d = 0; d + 1 < x.dim(); ++d) {
    p.shape[d] = uint(x.shape()[d]);
    p.xs[d] = int(x.strides()[d]);
    p.vs[d] = int(values.strides()[d]);
    p.is[d] = int(indices.strides()[d]);
  }
  p.x_last = int(x.strides().back());
  p.v_last = int(values.strides().back());
  p.i_last = int(indices.strides().back());
  Dispatch(std::string("sort_") + sort_suffix(x.dtype()))
      .buffer(0, x.raw_data())
      .buffer(1, values.raw_data())
      .buffer(2, indices.raw_data())
      .value(3, p)
      .threadgroups({uint32_t(rows), 1, 1}, {simd_threads(p.pow2 / 2, 256), 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(sort, Metal, sort_metal);
EMBER_REGISTER_DECLINES(sort, Metal, sort_declines);

}  // namespace ember::metal
