// Metal launch code of the reduction family (metal/reduce.metal): any strides, rows, columns or
// the whole tensor; two passes when a few outputs each reduce many elements. Floating dtypes for
// sum/prod/max/min/argmax/argmin, bool for all/any; other cases fall back to the CPU kernel.
#include "backend/kernels.h"
#include "backend/metal/family_util.h"
#include "reduce_params.h"

namespace ember::metal {
namespace {

constexpr const char* kOpNames[] = {"sum", "prod", "max", "min", "argmax", "argmin", "all", "any"};
constexpr int64_t kTwoPassCount = 4096;  // elements per output above which long reductions split
constexpr int64_t kChunk = 1024;         // elements per threadgroup in the first pass

// drop size-1 dims and merge dims that are contiguous with each other; false if > max dims
bool coalesce(const Tensor& x, int begin, int end, uint* shape, int* stride, uint& nd) {
  nd = 0;
  for (int d = begin; d < end; ++d) {
    int64_t n = x.shape()[d], s = x.strides()[d];
    if (n == 1) continue;
    if (nd > 0 && int64_t(stride[nd - 1]) == s * n) {
      shape[nd - 1] *= uint(n);
      stride[nd - 1] = int(s);
      continue;
    }
    if (nd == EMBER_REDUCE_MAX_DIMS) return false;
    shape[nd] = uint(n);
    stride[nd] = int(s);
    nd++;
  }
  return true;
}

const char* suffix_for(ReduceOp op, Dtype d) {
  if (op == ReduceOp::All || op == ReduceOp::Any) return d == Dtype::Bool ? "bool" : nullptr;
  return float_suffix(d);
}

const char* reduce_declines(ReduceOp op, const Tensor& out, const Tensor& idx, const Tensor& x,
                            int nreduce) {
  const char* name = kOpNames[int(op)];
  if (!suffix_for(op, x.dtype()) || !offsets_fit_int32(x) || x.numel() >= (int64_t(1) << 31))
    return name;
  if (out.defined() && !out.is_contiguous()) return name;
  if (idx.defined() && !idx.is_contiguous()) return name;
  ReduceParams p{};
  int nd = int(x.dim());
  if (!coalesce(x, 0, nd - nreduce, p.oshape, p.ostride, p.nouter) ||
      !coalesce(x, nd - nreduce, nd, p.rshape, p.rstride, p.nred))
    return name;
  return nullptr;
}

void reduce_metal(ReduceOp op, const Tensor& out, const Tensor& idx, const Tensor& x, int nreduce) {
  const int64_t rows = out.defined() ? out.numel() : idx.numel();
  if (rows == 0) return;
  const int nd = int(x.dim());
  ReduceParams p{};
  coalesce(x, 0, nd - nreduce, p.oshape, p.ostride, p.nouter);
  coalesce(x, nd - nreduce, nd, p.rshape, p.rstride, p.nred);
  int64_t count = 1;
  for (int d = nd - nreduce; d < nd; ++d) count *= x.shape()[d];
  p.op = uint(op);
  p.rows = uint(rows);
  p.count = uint(count);
  p.nchunks = 1;
  if (count > kTwoPassCount && rows < 64)
    p.nchunks = uint(std::min<int64_t>((count + kChunk - 1) / kChunk, 256));
  p.chunk = uint(std::max<int64_t>((count + p.nchunks - 1) / p.nchunks, 1));
  p.want_out = out.defined();
  p.want_idx = idx.defined();
  const std::string sfx = suffix_for(op, x.dtype());
  const Tensor& any = out.defined() ? out : idx;
  const void* xp = count > 0 ? x.raw_data() : unused_binding(any);
  const void* op_ = out.defined() ? out.raw_data() : unused_binding(any);
  const void* ip = idx.defined() ? idx.raw_data() : unused_binding(any);
  const uint32_t threads = simd_threads(p.chunk);
  if (p.nchunks == 1) {
    Dispatch("reduce_strided_" + sfx)
        .buffer(0, xp)
        .buffer(1, op_)
        .buffer(2, ip)
        .buffer(3, ip)
        .buffer(4, ip)
        .value(5, p)
        .threadgroups({1, uint32_t(rows), 1}, {threads, 1, 1});
    return;
  }
  Scratch pv(size_t(rows) * p.nchunks * sizeof(float)),
      pi(size_t(rows) * p.nchunks * sizeof(uint32_t));
  Dispatch("reduce_strided_" + sfx)
      .buffer(0, xp)
      .buffer(1, op_)
      .buffer(2, ip)
      .buffer(3, pv.p)
      .buffer(4, pi.p)
      .value(5, p)
      .threadgroups({p.nchunks, uint32_t(rows), 1}, {threads, 1, 1});
  Dispatch("reduce_partials_" + sfx)
      .buffer(0, pv.p)
      .buffer(1, pi.p)
      .buffer(2, op_)
      .buffer(3, ip)
      .value(4, p)
      .threadgroups({uint32_t(rows), 1, 1}, {simd_threads(p.nchunks), 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(reduce, Metal, reduce_metal);
EMBER_REGISTER_DECLINES(reduce, Metal, reduce_declines);

}  // namespace ember::metal
