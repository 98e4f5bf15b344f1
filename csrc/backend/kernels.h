#pragma once
// Kernel signatures, shared by every backend. Ops have already checked arguments, broadcast
// inputs to the output shape (stride-0 views) and cast them to the compute dtype.
#include "backend/params.h"
#include "backend/registry.h"
#include "core/scalar.h"
#include "core/tensor.h"

namespace ember {

enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, ArgMax, ArgMin, All, Any };
enum class ScanOp : uint8_t { Sum, Prod };

namespace kernel {

// dst and src have the same shape (src may be an expanded view); dtypes may differ.
using CopyFn = void (*)(const Tensor& dst, const Tensor& src);
using FillFn = void (*)(const Tensor& dst, const Scalar& value);
// a, b: same dtype, shape of out. out: that dtype, or bool for comparisons/logical ops.
using BinaryFn = void (*)(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
using UnaryFn = void (*)(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1, double p2);
using WhereFn = void (*)(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
// x viewed as [outer..., reduced...] (the last `nreduce` dims are reduced); out (and idx for
// Arg*/Max/Min with indices) have the outer shape. idx may be undefined.
using ReduceFn = void (*)(ReduceOp op, const Tensor& out, const Tensor& idx, const Tensor& x, int nreduce);
using SoftmaxFn = void (*)(const Tensor& out, const Tensor& x, bool log);  // over the last dim, contiguous
using ScanFn = void (*)(ScanOp op, const Tensor& out, const Tensor& x, int64_t dim);
// out[b] = a[b] @ b[b] for 3-D a [B, M, K], b [B, K, N] with any strides; out contiguous [B, M, N].
using MatmulFn = void (*)(const Tensor& out, const Tensor& a, const Tensor& b);

inline KernelSlot<CopyFn> copy{"copy"};
inline KernelSlot<FillFn> fill{"fill"};
inline KernelSlot<BinaryFn> binary{"binary"};
inline KernelSlot<UnaryFn> unary{"unary"};
inline KernelSlot<WhereFn> where{"where"};
inline KernelSlot<ReduceFn> reduce{"reduce"};
inline KernelSlot<SoftmaxFn> softmax{"softmax"};
inline KernelSlot<ScanFn> scan{"scan"};
inline KernelSlot<MatmulFn> matmul{"matmul"};

}  // namespace kernel
}  // namespace ember
