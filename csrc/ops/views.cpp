// View ops: new shape/strides over the same storage. Each records a backward that maps the
// gradient back to the input's geometry.
#include <algorithm>
#include <numeric>

#include "autograd/node.h"
#include "ops/ops.h"

namespace ember {
using autograd::any_requires_grad;

namespace {

// Records a backward for a view op; `back` maps the grad of the view to the grad of the input.
template <class F>
Tensor finish_view(const char* name, const Tensor& x, Tensor out, F back) {
  if (any_requires_grad(x))
    autograd::record(name, {x}, {out}, {},
                     [back](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {back(g[0])};
                     });
  return out;
}

// Strides for viewing x with a new shape without copying, or nullopt if impossible.
std::optional<Shape> view_strides(const Tensor& x, const Shape& shape) {
  if (x.is_contiguous()) return contiguous_strides(shape);
  if (x.numel() == 0) return contiguous_strides(shape);
  // walk chunks of x's dims that are contiguous among themselves, matching them to new dims
  const Shape& os = x.shape();
  const Shape& ost = x.strides();
  Shape ns(shape.size());
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return ns;
}

Shape infer_shape(const char* op, Shape shape, int64_t numel, const Shape& from) {
  int64_t infer = -1, prod = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) EMBER_VALUE_ERROR(op, ": only one dimension can be inferred (shape ", shape, ")");
      infer = int64_t(i);
    } else if (shape[i] < 0) {
      EMBER_VALUE_ERROR(op, ": invalid shape dimension ", shape[i], " in ", shape);
    } else if (__builtin_mul_overflow(prod, shape[i], &prod)) {
      EMBER_VALUE_ERROR(op, ": shape ", shape, " is invalid for input of size ", numel, " (shape ", from, ")");
    }
  }
  if (infer >= 0) {
    if (prod == 0 || numel % prod != 0)
      EMBER_VALUE_ERROR(op, ": shape ", shape, " is invalid for input of size ", numel, " (shape ", from, ")");
    shape[infer] = numel / prod;
  } else if (prod != numel) {
    EMBER_VALUE_ERROR(op, ": shape ", shape, " is invalid for input of size ", numel, " (shape ", from, ")");
  }
  checked_numel(shape, op);  // an empty shape's nonzero sides must multiply within int64 too
  return shape;
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      EMBER_VALUE_ERROR(op, ": shapes ", a, " and ", b, " are not broadcastable (size ", da, " vs ", db, " at dim ", i, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor view(const Tensor& x, Shape shape) {
  shape = infer_shape("view", std::move(shape), x.numel(), x.shape());
  auto st = view_strides(x, shape);
  if (!st)
    EMBER_RUNTIME_ERROR("view: shape ", shape, " is not compatible with the input's size and stride (shape ", x.shape(),
                        ", strides ", x.strides(), "); use reshape() instead");
  Shape in_shape = x.shape();
  return finish_view("ViewBackward0", x, make_view(x, shape, *st, x.offset()),
                     [in_shape](const Tensor& g) { return reshape(g, in_shape); });
}

Tensor reshape(const Tensor& x, Shape shape) {
  shape = infer_shape("reshape", std::move(shape), x.numel(), x.shape());
  if (shape == x.shape()) return finish_view("ViewBackward0", x, make_view(x, shape, x.strides(), x.offset()),
                                             [](const Tensor& g) { return g; });
  if (view_strides(x, shape)) return view(x, shape);
  return view(clone(x), shape);  // clone carries the graph
}

Tensor as_strided(const Tensor& x, Shape shape, Shape strides, std::optional<int64_t> offset) {
  EMBER_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape, " and strides ", strides, " differ in length");
  int64_t off = offset.value_or(x.offset()), last = off;
  bool overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    EMBER_CHECK(shape[i] >= 0 && strides[i] >= 0, "as_strided: negative size or stride in ", shape, " / ", strides);
    int64_t extent;
    if (shape[i] > 0)
      overflow |= __builtin_mul_overflow(shape[i] - 1, strides[i], &extent) || __builtin_add_overflow(last, extent, &last);
  }
  const int64_t n = checked_numel(shape, "as_strided");
  EMBER_CHECK(off >= 0 && (n == 0 || (!overflow && last < int64_t(x.storage()->nbytes) / x.itemsize())),
              "as_strided: view of shape ", shape, " with strides ", strides, " and offset ", off,
              " is out of bounds for the storage");
  Tensor out = make_view(x, shape, strides, off);
  if (any_requires_grad(x)) {
    Shape in_shape = x.shape(), in_strides = x.strides();
    int64_t in_off = x.offset();
    // scatter the grad through the same geometry onto a zero buffer shaped like x's storage span
    autograd::record("AsStridedBackward0", {x}, {out}, {},
                     [=](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       int64_t span = off + 1;
                       for (size_t i = 0; i < shape.size(); ++i) span += std::max<int64_t>(shape[i] - 1, 0) * strides[i];
                       // the input's extent is the sum over all its dims (not the largest one)
                       int64_t in_span = in_off + 1;
                       for (size_t i = 0; i < in_shape.size(); ++i)
                         in_span += std::max<int64_t>(in_shape[i] - 1, 0) * in_strides[i];
                       span = std::max(span, in_span);
                       Tensor flat = zeros({span}, g[0].dtype(), g[0].device());
                       Tensor idx = arange(Scalar(int64_t(0)), Scalar(span), Scalar(int64_t(1)), Dtype::Int64);
                       Tensor pos = contiguous(make_view(idx, shape, strides, off));
                       flat = index_put_(flat, {reshape(pos, {-1})}, reshape(g[0], {-1}), true);
                       Tensor ipos = contiguous(make_view(idx, in_shape, in_strides, in_off));
                       return {reshape(index(flat, {reshape(ipos, {-1})}), in_shape)};
                     });
  }
  return out;
}

Tensor permute(const Tensor& x, Dims dims) {
  int64_t n = x.dim();
  EMBER_CHECK(int64_t(dims.size()) == n, "permute: number of dims ", dims.size(), " does not match the tensor's ", n,
              " (shape ", x.shape(), ")");
  std::vector<bool> seen(n, false);
  Shape shape(n), strides(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    EMBER_CHECK(!seen[d], "permute: repeated dim ", dims[i], " in ", dims);
    seen[d] = true;
    dims[i] = d;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  Dims inv(n);
  for (int64_t i = 0; i < n; ++i) inv[dims[i]] = i;
  return finish_view("PermuteBackward0", x, make_view(x, shape, strides, x.offset()),
                     [inv](const Tensor& g) { return permute(g, inv); });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  int64_t n = x.dim();
  if (n == 0) {
    wrap_dim(d0, n, "transpose");
    wrap_dim(d1, n, "transpose");
    return finish_view("TransposeBackward0", x, make_view(x, {}, {}, x.offset()), [](const Tensor& g) { return g; });
  }
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  Shape shape = x.shape(), strides = x.strides();
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  return finish_view("TransposeBackward0", x, make_view(x, shape, strides, x.offset()),
                     [d0, d1](const Tensor& g) { return transpose(g, d0, d1); });
}

Tensor matrix_t(const Tensor& x) {
  Dims d(x.dim());
  std::iota(d.rbegin(), d.rend(), 0);
  return permute(x, d);
}

Tensor matrix_mT(const Tensor& x) {
  EMBER_CHECK(x.dim() >= 2, "mT: expected a tensor with at least 2 dims, got shape ", x.shape());
  return transpose(x, -2, -1);
}

Tensor movedim(const Tensor& x, Dims src, Dims dst) {
  int64_t n = x.dim();
  EMBER_CHECK(src.size() == dst.size(), "movedim: source ", src, " and destination ", dst, " differ in length");
  if (n == 0) {  // a 0-d tensor accepts dims 0 / -1 and is returned as a view
    for (size_t i = 0; i < src.size(); ++i) wrap_dim(src[i], n, "movedim"), wrap_dim(dst[i], n, "movedim");
    return permute(x, {});
  }
  Dims order(n, -1);
  std::vector<bool> used(n, false);
  for (size_t i = 0; i < src.size(); ++i) {
    int64_t s = wrap_dim(src[i], n, "movedim"), d = wrap_dim(dst[i], n, "movedim");
    EMBER_CHECK(order[d] == -1 && !used[s], "movedim: repeated dim in source ", src, " or destination ", dst);
    order[d] = s;
    used[s] = true;
  }
  int64_t next = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (order[i] != -1) continue;
    while (used[next]) next++;
    order[i] = next++;
  }
  return permute(x, order);
}

Tensor squeeze(const Tensor& x, const OptDims& dims) {
  int64_t n = x.dim();
  std::vector<bool> drop(n, false);
  if (!dims) {
    for (int64_t i = 0; i < n; ++i) drop[i] = x.shape()[i] == 1;
  } else {
    for (int64_t d : *dims) {
      d = wrap_dim(d, n, "squeeze");
      if (n > 0 && x.shape()[d] == 1) drop[d] = true;
    }
  }
  Shape shape, strides;
  for (int64_t i = 0; i < n; ++i)
    if (!drop[i]) shape.push_back(x.shape()[i]), strides.push_back(x.strides()[i]);
  Shape in_shape = x.shape();
  return finish_view("SqueezeBackward0", x, make_view(x, shape, strides, x.offset()),
                     [in_shape](const Tensor& g) { return reshape(g, in_shape); });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  int64_t n = x.dim();
  dim = wrap_dim(dim, n + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  int64_t st = dim < n ? shape[dim] * strides[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, st);
  return finish_view("UnsqueezeBackward0", x, make_view(x, shape, strides, x.offset()),
                     [dim](const Tensor& g) { return squeeze(g, Dims{dim}); });
}

Tensor expand(const Tensor& x, Shape shape) {
  int64_t n = int64_t(shape.size()), xd = x.dim();
  if (n < xd)
    EMBER_VALUE_ERROR("expand: the number of sizes provided (", n, ") must be greater or equal to the number of dims (",
                      xd, ") of the tensor of shape ", x.shape());
  Shape strides(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    int64_t j = i - (n - xd);
    if (j >= 0) {
      int64_t have = x.shape()[j];
      if (shape[i] == -1) shape[i] = have;
      if (have == shape[i]) strides[i] = x.strides()[j];
      else if (have == 1) strides[i] = 0;
      else
        EMBER_VALUE_ERROR("expand: the expanded size ", shape[i], " must match the existing size ", have,
                          " at dim ", i, " (shape ", x.shape(), " to ", shape, ")");
    } else {
      EMBER_CHECK(shape[i] >= 0, "expand: -1 is not allowed for a new leading dim (", shape, ")");
      strides[i] = 0;
    }
    EMBER_CHECK(shape[i] >= 0, "expand: invalid size ", shape[i], " in ", shape);
  }
  checked_numel(shape, "expand");
  if (shape == x.shape())
    return finish_view("ExpandBackward0", x, make_view(x, shape, x.strides(), x.offset()), [](const Tensor& g) { return g; });
  Shape in_shape = x.shape();
  return finish_view("ExpandBackward0", x, make_view(x, shape, strides, x.offset()),
                     [in_shape](const Tensor& g) { return sum_to(g, in_shape); });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  int64_t n = x.dim();
  start_dim = wrap_dim(start_dim, n, "flatten");
  end_dim = wrap_dim(end_dim, n, "flatten");
  if (n == 0) return reshape(x, {1});
  EMBER_CHECK(start_dim <= end_dim, "flatten: start_dim ", start_dim, " cannot come after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + start_dim);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= x.shape()[i];
  shape.push_back(m);
  shape.insert(shape.end(), x.shape().begin() + end_dim + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor unflatten(const Tensor& x, int64_t dim, Shape sizes) {
  EMBER_CHECK_KIND(x.dim() > 0, Index, "unflatten: cannot unflatten a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "unflatten");
  EMBER_CHECK(!sizes.empty(), "unflatten: sizes must be non-empty");
  sizes = infer_shape("unflatten", sizes, x.shape()[dim], {x.shape()[dim]});
  Shape shape(x.shape().begin(), x.shape().begin() + dim);
  shape.insert(shape.end(), sizes.begin(), sizes.end());
  shape.insert(shape.end(), x.shape().begin() + dim + 1, x.shape().end());
  return view(x, shape);
}

Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  dim = wrap_dim(dim, x.dim(), "slice");
  EMBER_CHECK(step > 0, "slice: step must be greater than zero, got ", step);
  EMBER_CHECK(x.dim() > 0, "slice: cannot slice a 0-d tensor");
  int64_t size = x.shape()[dim];
  int64_t s = start.value_or(0), e = end.value_or(size);
  if (s < 0) s += size;
  if (e < 0) e += size;
  s = std::clamp<int64_t>(s, 0, size);
  e = std::clamp<int64_t>(e, s, size);
  Shape shape = x.shape(), strides = x.strides();
  shape[dim] = e == s ? 0 : (e - s - 1) / step + 1;  // ceil((e - s) / step) without overflow
  if (shape[dim] > 1) strides[dim] *= step;
  Shape in_shape = x.shape();
  Tensor out = make_view(x, shape, strides, x.offset() + s * x.strides()[dim]);
  if (any_requires_grad(x))
    autograd::record("SliceBackward0", {x}, {out}, {},
                     [in_shape, dim, s, e, step](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       if (!autograd::GradMode::enabled()) {
                         Tensor z = zeros(in_shape, g[0].dtype(), g[0].device());
                         Tensor v = slice(z, dim, s, e, step);
                         copy_kernel_call(v, g[0]);
                         return {z};
                       }
                       // create_graph: build the scatter from differentiable ops
                       int64_t n = e == s ? 0 : (e - s - 1) / step + 1;
                       Tensor idx = arange(Scalar(s), Scalar(n ? s + (n - 1) * step + 1 : s), Scalar(step), Dtype::Int64);
                       return {index_add(zeros(in_shape, g[0].dtype(), g[0].device()), dim, idx, g[0])};
                     });
  return out;
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  EMBER_CHECK_KIND(x.dim() > 0, Index, "select: cannot index a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "select");
  int64_t size = x.shape()[dim];
  if (index < -size || index >= size)
    EMBER_INDEX_ERROR("select: index ", index, " is out of bounds for dimension ", dim, " with size ", size);
  if (index < 0) index += size;
  return squeeze(slice(x, dim, index, index + 1, 1), Dims{dim});
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  EMBER_CHECK_KIND(x.dim() > 0, Index, "narrow: cannot narrow a 0-d tensor");
  dim = wrap_dim(dim, x.dim(), "narrow");
  int64_t size = x.shape()[dim];
  if (start < 0) start += size;
  EMBER_CHECK_KIND(start >= 0 && start <= size, Index, "narrow: start ", start, " out of range for dim ", dim, " of size ", size);
  EMBER_CHECK(length >= 0 && length <= size - start, "narrow: start (", start, ") + length (", length,
              ") exceeds dimension size (", size, ")");
  return slice(x, dim, start, start + length, 1);
}

Tensor diagonal(const Tensor& x, int64_t offset, int64_t dim1, int64_t dim2) {
  int64_t n = x.dim();
  EMBER_CHECK(n >= 2, "diagonal: expected a tensor with at least 2 dims, got shape ", x.shape());
  dim1 = wrap_dim(dim1, n, "diagonal");
  dim2 = wrap_dim(dim2, n, "diagonal");
  EMBER_CHECK(dim1 != dim2, "diagonal: dim1 and dim2 cannot be equal (", dim1, ")");
  int64_t len = offset >= 0 ? std::min(x.shape()[dim1], x.shape()[dim2] - offset)
                            : std::min(x.shape()[dim1] + offset, x.shape()[dim2]);
  len = std::max<int64_t>(len, 0);
  int64_t off = x.offset();
  if (len > 0) off += offset >= 0 ? offset * x.strides()[dim2] : -offset * x.strides()[dim1];
  Shape shape, strides;
  for (int64_t i = 0; i < n; ++i)
    if (i != dim1 && i != dim2) shape.push_back(x.shape()[i]), strides.push_back(x.strides()[i]);
  shape.push_back(len);
  strides.push_back(x.strides()[dim1] + x.strides()[dim2]);
  return as_strided(x, shape, strides, off);
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - int64_t(shape.size());
  EMBER_CHECK(lead >= 0, "sum_to: cannot reduce shape ", g.shape(), " to ", shape);
  Dims dims;
  for (int64_t i = 0; i < g.dim(); ++i) {
    if (i < lead) dims.push_back(i);
    else if (shape[i - lead] == 1 && g.shape()[i] != 1) dims.push_back(i);
  }
  Tensor r = dims.empty() ? g : sum(g, dims, true);
  if (lead > 0) r = reshape(r, shape);
  else if (r.shape() != shape) r = reshape(r, shape);
  return r;
}

}  // namespace ember
