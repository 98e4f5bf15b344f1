#pragma once
// Kernel slots of the indexing family (ops/index.cpp). Every gather-like op (gather,
// index_select, advanced indexing) and every scatter-like op (scatter, scatter_add, index_add,
// index_put_) is lowered by the op to one elementwise form over the output / update shape:
//   gather:  out[p] = src[p + index[p] * stride]
//   scatter: dst[p + index[p] * stride] (= | +=) alpha * src[p]
// where src / dst are strided views of the tensor (stride 0 along the indexed dims) and index is
// an int64 view of the same shape (stride 0 where it is broadcast). Ops validate indices first.
#include "backend/kernels.h"

namespace ember::kernel {

// Throws IndexError (naming op, the value and the size) unless every value of the int64
// `index` lies in [0, size). Reads only.
using IndexCheckFn = void (*)(const Tensor& index, int64_t size, const char* op, int64_t dim);
// offs (int64, same shape as index) = (add ? offs : 0) + wrap(index) * stride, where negative
// values count from the end (Python rule); throws IndexError outside [-size, size).
using IndexOffsetsFn = void (*)(const Tensor& offs, const Tensor& index, int64_t size, int64_t stride,
                                bool add, const char* op, int64_t dim);
// out, src, index: same shape; out and src same dtype; stride in elements.
using IndexGatherFn = void (*)(const Tensor& out, const Tensor& src, const Tensor& index, int64_t stride);
// dst, src, index: same shape; dst and src same dtype. Writes that hit the same element land in
// iteration order (last wins / all accumulate), so results are deterministic.
using IndexScatterFn = void (*)(const Tensor& dst, const Tensor& src, const Tensor& index, int64_t stride,
                                bool accumulate, const Scalar& alpha);
// Coordinates of the non-zero elements of a contiguous x: a fresh [n, x.dim()] int64 tensor
// (allocated by the kernel, since n depends on the data).
using NonzeroFn = Tensor (*)(const Tensor& x);

inline KernelSlot<IndexCheckFn> index_check{"index_check"};
inline KernelSlot<IndexOffsetsFn> index_offsets{"index_offsets"};
inline KernelSlot<IndexGatherFn> index_gather{"index_gather"};
inline KernelSlot<IndexScatterFn> index_scatter{"index_scatter"};
inline KernelSlot<NonzeroFn> nonzero{"nonzero"};

}  // namespace ember::kernel
