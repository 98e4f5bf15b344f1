// sort, argsort, topk, unique. The kernels sort along the last dim of strided views, so the ops
// hand them views with `dim` rotated to the end (no copies).
#include <algorithm>

#include "autograd/node.h"
#include "backend/kernels_sort.h"
#include "ops/ops.h"

namespace ember {
namespace {

// View of t with dim d moved to the end (0-d tensors become [1]); shares storage, no autograd.
Tensor dim_last(const Tensor& t, int64_t d) {
  if (t.dim() == 0) return make_view(t, {1}, {1}, t.offset());
  Shape shape = t.shape(), strides = t.strides();
  std::rotate(shape.begin() + d, shape.begin() + d + 1, shape.end());
  std::rotate(strides.begin() + d, strides.begin() + d + 1, strides.end());
  return make_view(t, std::move(shape), std::move(strides), t.offset());
}

// View of t with dim d moved to the front.
Tensor dim_first(const Tensor& t, int64_t d) {
  Shape shape = t.shape(), strides = t.strides();
  std::rotate(shape.begin(), shape.begin() + d, shape.begin() + d + 1);
  std::rotate(strides.begin(), strides.begin() + d, strides.begin() + d + 1);
  return make_view(t, std::move(shape), std::move(strides), t.offset());
}

// The first k entries of the sorted order along dim. Backward scatters the grads of the kept
// values back to where they came from.
std::pair<Tensor, Tensor> sort_k(const Tensor& x, int64_t dim, bool descending, int64_t k, const char* node,
                                 bool record_grad) {
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[dim] = k;
  Tensor values = empty(out_shape, x.dtype(), x.device());
  Tensor indices = empty(out_shape, Dtype::Int64, x.device());
  if (values.numel() > 0)
    kernel::sort(x.device())(dim_last(values, dim), dim_last(indices, dim), dim_last(x, dim), descending);
  if (record_grad && autograd::any_requires_grad(x)) {
    autograd::record(node, {x}, {values}, {indices},
                     [dim, shape = x.shape()](const TensorList& g, const TensorList& s,
                                              const std::vector<bool>&) -> TensorList {
                       if (shape.empty()) return {g[0]};
                       return {scatter(zeros(shape, g[0].dtype(), g[0].device()), dim, s[0], g[0])};
                     });
  }
  return {values, indices};
}

}  // namespace

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending, bool /*stable*/) {
  // The kernel always breaks ties by index, so every sort is stable.
  const int64_t d = wrap_dim(dim, x.dim(), "sort");
  return sort_k(x, d, descending, x.dim() ? x.size(d) : 1, "SortBackward0", true);
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending, bool /*stable*/) {
  const int64_t d = wrap_dim(dim, x.dim(), "argsort");
  return sort_k(x, d, descending, x.dim() ? x.size(d) : 1, "SortBackward0", false).second;
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool /*sorted*/) {
  const int64_t d = wrap_dim(dim, x.dim(), "topk");
  const int64_t n = x.dim() ? x.size(d) : 1;
  if (k < 0 || k > n)
    EMBER_INDEX_ERROR("topk: selected index k out of range (k=", k, ", but dim ", dim, " of input with shape ",
                      x.shape(), " has size ", n, ")");
  // always returned in sorted order, which sorted=False allows
  return sort_k(x, d, largest, k, "TopkBackward0", true);
}

std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& x, bool /*sorted*/, bool return_inverse, bool return_counts,
                                          std::optional<int64_t> dim) {
  // The kernel always sorts (sorted=False leaves the order unspecified). No autograd.
  Tensor src = alias_detached(x);
  if (!dim || x.dim() == 0) {
    Tensor flat = contiguous(src);
    auto [vals, inv, counts] =
        kernel::unique(x.device())(make_view(flat, {flat.numel(), 1}, {1, 1}, flat.offset()), return_inverse,
                                   return_counts);
    Tensor values = make_view(vals, {vals.shape()[0]}, {1}, vals.offset());
    if (inv.defined()) inv = make_view(inv, x.shape(), contiguous_strides(x.shape()), inv.offset());
    return {values, inv, counts};
  }
  const int64_t d = wrap_dim(*dim, x.dim(), "unique");
  Tensor front = contiguous(dim_first(src, d));  // [n, rest...]
  const int64_t n = x.size(d);
  const int64_t m = shape_numel(Shape(front.shape().begin() + 1, front.shape().end()));
  auto [vals, inv, counts] =
      kernel::unique(x.device())(make_view(front, {n, m}, {m, 1}, front.offset()), return_inverse, return_counts);
  // values [u, m] -> [u, rest...] -> dim u moved back to d
  Shape vshape = front.shape();
  vshape[0] = vals.shape()[0];
  Tensor v = make_view(vals, vshape, contiguous_strides(vshape), vals.offset());
  Shape shape = vshape, strides = v.strides();
  std::rotate(shape.begin(), shape.begin() + 1, shape.begin() + d + 1);
  std::rotate(strides.begin(), strides.begin() + 1, strides.begin() + d + 1);
  Tensor values = contiguous(make_view(v, shape, strides, v.offset()));
  return {values, inv, counts};
}

}  // namespace ember
