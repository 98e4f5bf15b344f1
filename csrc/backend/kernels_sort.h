#pragma once
// Kernel slots of the sorting family (sort, argsort, topk, unique).
#include <tuple>

#include "backend/registry.h"
#include "core/tensor.h"

namespace ember::kernel {

// Sorts every row of x along its LAST dim (any strides) and writes the first k entries of the
// sorted order to values / indices (int64), whose last dim has size k <= n. NaN sorts as the
// largest value; ties keep their original order (the sort is stable).
using SortFn = void (*)(const Tensor& values, const Tensor& indices, const Tensor& x, bool descending);

// Unique rows of a contiguous 2-D x [n, m], in lexicographic order. Returns (values [u, m],
// inverse [n] int64 or undefined, counts [u] int64 or undefined).
using UniqueFn = std::tuple<Tensor, Tensor, Tensor> (*)(const Tensor& x, bool return_inverse,
                                                       bool return_counts);

inline KernelSlot<SortFn> sort{"sort"};
inline KernelSlot<UniqueFn> unique{"unique"};

}  // namespace ember::kernel
