// Joining, splitting and rearranging: cat stack split chunk unbind flip roll repeat tile
// tril triu pad one_hot masked_fill.
// Ops that build a new tensor allocate it, fill it through raw (autograd-free) views with
// copy_kernel_call or a shape kernel, and record one backward node. Splitting ops return views
// (narrow/select), which carry their own autograd.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "autograd/node.h"
#include "backend/kernels.h"
#include "backend/kernels_shape.h"
#include "ops/ops.h"

namespace ember {
namespace {

// ---- raw views of a tensor (no autograd, no checks): used to write into fresh outputs
Tensor raw_narrow(const Tensor& t, int64_t d, int64_t start, int64_t len) {
  Shape shape = t.shape();
  shape[d] = len;
  return make_view(t, std::move(shape), t.strides(), t.offset() + start * t.strides()[d]);
}

Tensor raw_select(const Tensor& t, int64_t d, int64_t i) {
  Shape shape = t.shape(), strides = t.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return make_view(t, std::move(shape), std::move(strides), t.offset() + i * t.strides()[d]);
}

// `t` broadcast to `shape` (right-aligned, stride 0 along new and size-1 dims).
Tensor raw_expand(const Tensor& t, const Shape& shape) {
  const int64_t lead = int64_t(shape.size()) - t.dim();
  Shape strides(shape.size(), 0);
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] != 1) strides[lead + d] = t.strides()[d];
  return make_view(t, shape, std::move(strides), t.offset());
}

// A contiguous copy of `t` with dtype `dtype` (t itself when it already is one).
Tensor raw_contiguous(const Tensor& t, Dtype dtype) {
  if (t.is_contiguous() && t.dtype() == dtype) return t;
  Tensor c = empty(t.shape(), dtype, t.device());
  if (c.numel()) copy_kernel_call(c, t);
  return c;
}

void check_same_device(const TensorList& xs, const char* op) {
  for (const Tensor& t : xs)
    if (t.device() != xs[0].device())
      EMBER_RUNTIME_ERROR(op, ": expected all tensors on the same device, got ", device_name(xs[0].device()),
                          " and ", device_name(t.device()));
}

Dtype promote_all(const TensorList& xs) {
  Dtype d = xs[0].dtype();
  for (const Tensor& t : xs) d = promote_types(d, t.dtype());
  return d;
}

Dims wrap_dims_unique(const Dims& dims, int64_t ndim, const char* op) {
  Dims out;
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, ndim, op);
    if (std::find(out.begin(), out.end(), w) != out.end())
      EMBER_VALUE_ERROR(op, ": dim ", w, " appears multiple times in the list of dims");
    out.push_back(w);
  }
  return out;
}

void check_has_dims(const Tensor& x, const char* op) {
  if (x.dim() == 0) EMBER_INDEX_ERROR(op, ": expected a tensor with at least 1 dimension, got a 0-d tensor");
}

}  // namespace

// ------------------------------------------------------------------------------ cat / stack
Tensor cat(const TensorList& xs, int64_t dim) {
  EMBER_CHECK(!xs.empty(), "cat: expected a non-empty list of tensors");
  check_same_device(xs, "cat");
  const Dtype dtype = promote_all(xs);
  // Like PyTorch, 1-D empty tensors are skipped whatever the other shapes are (legacy behaviour).
  auto skipped = [](const Tensor& t) { return t.dim() == 1 && t.numel() == 0; };
  auto ref_it = std::find_if_not(xs.begin(), xs.end(), skipped);
  if (ref_it == xs.end()) {
    wrap_dim(dim, 1, "cat");
    return empty({0}, dtype, xs[0].device());
  }
  const Tensor& ref = *ref_it;
  for (size_t i = 0; i < xs.size(); ++i)
    if (xs[i].dim() == 0) EMBER_VALUE_ERROR("cat: zero-dimensional tensor (at position ", i, ") cannot be concatenated");
  const int64_t d = wrap_dim(dim, ref.dim(), "cat");

  Shape out_shape = ref.shape();
  out_shape[d] = 0;
  for (const Tensor& t : xs) {
    if (skipped(t)) continue;
    if (t.dim() != ref.dim())
      EMBER_VALUE_ERROR("cat: tensors must have the same number of dimensions, got ", ref.shape(), " and ", t.shape(),
                        " (dim ", d, ")");
    for (int64_t k = 0; k < t.dim(); ++k)
      if (k != d && t.shape()[k] != ref.shape()[k])
        EMBER_VALUE_ERROR("cat: expected sizes ", ref.shape(), " and ", t.shape(),
                          " to match in every dimension except dim ", d, " (mismatch in dim ", k, ")");
    out_shape[d] += t.shape()[d];
  }

  Tensor out = empty(out_shape, dtype, ref.device());
  std::vector<int64_t> sizes;  // -1: skipped input
  int64_t off = 0;
  for (const Tensor& t : xs) {
    if (skipped(t)) {
      sizes.push_back(-1);
      continue;
    }
    const int64_t n = t.shape()[d];
    if (n && t.numel()) copy_kernel_call(raw_narrow(out, d, off, n), t);
    sizes.push_back(n);
    off += n;
  }

  if (autograd::any_requires_grad_list(xs)) {
    autograd::record("CatBackward0", xs, {out}, {},
                     [d, sizes](const TensorList& g, const TensorList&, const std::vector<bool>& needs) {
                       TensorList grads(sizes.size());
                       int64_t off = 0;
                       for (size_t i = 0; i < sizes.size(); ++i) {
                         if (sizes[i] < 0) continue;
                         if (needs[i]) grads[i] = narrow(g[0], d, off, sizes[i]);
                         off += sizes[i];
                       }
                       return grads;
                     });
  }
  return out;
}

Tensor stack(const TensorList& xs, int64_t dim) {
  EMBER_CHECK(!xs.empty(), "stack: expected a non-empty list of tensors");
  check_same_device(xs, "stack");
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i].shape() != xs[0].shape())
      EMBER_VALUE_ERROR("stack: expected each tensor to be equal size, but got ", xs[0].shape(), " at entry 0 and ",
                        xs[i].shape(), " at entry ", i);
  const int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  Shape out_shape = xs[0].shape();
  out_shape.insert(out_shape.begin() + d, int64_t(xs.size()));
  Tensor out = empty(out_shape, promote_all(xs), xs[0].device());
  if (out.numel())
    for (size_t i = 0; i < xs.size(); ++i) copy_kernel_call(raw_select(out, d, int64_t(i)), xs[i]);

  if (autograd::any_requires_grad_list(xs)) {
    autograd::record("StackBackward0", xs, {out}, {},
                     [d](const TensorList& g, const TensorList&, const std::vector<bool>& needs) {
                       TensorList grads(needs.size());
                       for (size_t i = 0; i < needs.size(); ++i)
                         if (needs[i]) grads[i] = select(g[0], d, int64_t(i));
                       return grads;
                     });
  }
  return out;
}

// ------------------------------------------------------------------------------ split family
// The pieces of x along dim d as views, with one backward node for all of them: their grads
// are concatenated once (missing ones arrive as zeros), where a node per piece filled a zero
// tensor of x's full size for each and summed them.
static TensorList split_views(const Tensor& x, int64_t d, const Dims& sizes, const char* node) {
  TensorList out;
  {
    autograd::GradModeGuard no_grad(false);
    int64_t start = 0;
    for (int64_t s : sizes) {
      out.push_back(narrow(x, d, start, s));
      start += s;
    }
  }
  if (autograd::any_requires_grad(x))
    autograd::record(node, {x}, out, {}, [d](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
      return {cat(g, d)};
    });
  return out;
}

TensorList split(const Tensor& x, int64_t split_size, int64_t dim) {
  check_has_dims(x, "split");
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.shape()[d];
  EMBER_CHECK(split_size >= 0, "split: split_size must be non-negative, got ", split_size);
  EMBER_CHECK(split_size > 0 || n == 0, "split: split_size can only be 0 if dimension size is 0, but got dimension size of ", n);
  // ceil(n / split_size) without overflow for huge split sizes
  const int64_t count = split_size == 0 ? 1 : std::max<int64_t>(n / split_size + (n % split_size != 0), 1);
  Dims sizes;
  for (int64_t i = 0; i < count; ++i) sizes.push_back(std::min(split_size, n - i * split_size));
  return split_views(x, d, sizes, "SplitBackward0");
}

TensorList split_with_sizes(const Tensor& x, const Dims& sizes, int64_t dim) {
  check_has_dims(x, "split_with_sizes");
  const int64_t d = wrap_dim(dim, x.dim(), "split_with_sizes");
  const int64_t n = x.shape()[d];
  int64_t total = 0;
  bool overflow = false;
  for (int64_t s : sizes) {
    EMBER_CHECK(s >= 0, "split_with_sizes: split sizes must be non-negative, got ", Shape(sizes));
    overflow |= __builtin_add_overflow(total, s, &total);
  }
  EMBER_CHECK(!overflow && total == n, "split_with_sizes: expects split_sizes to sum exactly to ", n,
              " (input tensor's size at dimension ", d, "), but got split_sizes=", Shape(sizes));
  return split_views(x, d, sizes, "SplitWithSizesBackward0");
}

TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  EMBER_CHECK(chunks > 0, "chunk: number of chunks must be greater than 0, got ", chunks);
  check_has_dims(x, "chunk");
  const int64_t d = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.shape()[d];
  const int64_t split_size = n / chunks + (n % chunks != 0);  // ceil, without overflow
  // An empty dim still yields `chunks` (empty) pieces, as in PyTorch.
  if (n == 0) return split_with_sizes(x, Dims(size_t(chunks), 0), d);
  return split(x, split_size, d);
}

TensorList unbind(const Tensor& x, int64_t dim) {
  check_has_dims(x, "unbind");
  const int64_t d = wrap_dim(dim, x.dim(), "unbind");
  TensorList out;
  for (int64_t i = 0; i < x.shape()[d]; ++i) out.push_back(select(x, d, i));
  return out;
}

// ------------------------------------------------------------------------------ flip / roll
Tensor flip(const Tensor& x, const Dims& dims) {
  const Dims wd = wrap_dims_unique(dims, x.dim(), "flip");
  std::vector<bool> flips(size_t(x.dim()), false);
  for (int64_t d : wd)
    if (x.dim()) flips[d] = true;
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (out.numel()) kernel::flip(x.device())(out, x, flips);
  if (autograd::any_requires_grad(x)) {
    autograd::record("FlipBackward0", {x}, {out}, {},
                     [wd](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {flip(g[0], wd)};
                     });
  }
  return out;
}

namespace {
// dst = src rolled by `shift` along dim d (two strided copies).
void roll_into(const Tensor& dst, const Tensor& src, int64_t d, int64_t shift) {
  const int64_t n = src.shape()[d];
  if (src.numel() == 0) return;
  const int64_t s = ((shift % n) + n) % n;
  if (s == 0) return copy_kernel_call(dst, src);
  copy_kernel_call(raw_narrow(dst, d, s, n - s), raw_narrow(src, d, 0, n - s));
  copy_kernel_call(raw_narrow(dst, d, 0, s), raw_narrow(src, d, n - s, s));
}
}  // namespace

Tensor roll(const Tensor& x, const Dims& shifts, const Dims& dims) {
  EMBER_CHECK(!shifts.empty(), "roll: expected at least one shift");
  if (dims.empty())
    EMBER_CHECK(shifts.size() == 1, "roll: with no dims, expected a single shift, got ", shifts.size(), " shifts");
  else
    EMBER_CHECK(shifts.size() == dims.size(), "roll: shifts and dimensions must align, got ", shifts.size(),
                " shifts and ", dims.size(), " dims");
  Dims wd;
  for (int64_t d : dims) wd.push_back(wrap_dim(d, x.dim(), "roll"));

  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (dims.empty() || x.dim() == 0) {
    // Roll the flattened tensor, then view it with the original shape.
    const Tensor flat = raw_contiguous(x, x.dtype());
    const Shape n{x.numel()};
    roll_into(make_view(out, n, {1}, 0), make_view(flat, n, {1}, flat.offset()), 0, dims.empty() ? shifts[0] : 0);
  } else {
    Tensor cur = x;
    for (size_t i = 0; i < wd.size(); ++i) {
      Tensor next = i + 1 == wd.size() ? out : empty(x.shape(), x.dtype(), x.device());
      roll_into(next, cur, wd[i], shifts[i]);
      cur = next;
    }
  }

  if (autograd::any_requires_grad(x)) {
    Dims back(shifts.size());
    std::transform(shifts.begin(), shifts.end(), back.begin(), [](int64_t s) { return -s; });
    autograd::record("RollBackward0", {x}, {out}, {},
                     [back, wd](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {roll(g[0], back, wd)};
                     });
  }
  return out;
}

// ------------------------------------------------------------------------------ repeat / tile
Tensor repeat(const Tensor& x, const Dims& repeats) {
  const int64_t k = int64_t(repeats.size()), m = x.dim(), lead = k - m;
  EMBER_CHECK(k >= m, "repeat: number of repeat dims (", k, ") can not be smaller than number of tensor dims (", m,
              "), got repeats ", Shape(repeats), " for shape ", x.shape());
  // out viewed as [r0, s0, r1, s1, ...] is x broadcast along the r dims.
  Shape inter, src_strides, out_shape;
  for (int64_t i = 0; i < k; ++i) {
    EMBER_CHECK(repeats[i] >= 0, "repeat: repeats must be non-negative, got ", Shape(repeats));
    const int64_t s = i < lead ? 1 : x.shape()[i - lead];
    inter.insert(inter.end(), {repeats[i], s});
    src_strides.insert(src_strides.end(), {0, i < lead ? 0 : x.strides()[i - lead]});
    out_shape.push_back(0);
    EMBER_CHECK(!__builtin_mul_overflow(repeats[i], s, &out_shape.back()), "repeat: repeats ", Shape(repeats),
                " are too large for shape ", x.shape());
  }
  checked_numel(out_shape, "repeat", x.itemsize());
  Tensor out = empty(out_shape, x.dtype(), x.device());
  if (out.numel())
    copy_kernel_call(make_view(out, inter, contiguous_strides(inter), 0), make_view(x, inter, src_strides, x.offset()));

  if (autograd::any_requires_grad(x)) {
    autograd::record("RepeatBackward0", {x}, {out}, {},
                     [inter, xshape = x.shape(), k](const TensorList& g, const TensorList&,
                                                    const std::vector<bool>&) -> TensorList {
                       if (k == 0) return {g[0]};
                       Dims rdims;
                       for (int64_t i = 0; i < k; ++i) rdims.push_back(2 * i);
                       return {reshape(sum(reshape(g[0], inter), rdims), xshape)};
                     });
  }
  return out;
}

Tensor tile(const Tensor& x, const Dims& reps) {
  Dims r = reps;
  if (int64_t(r.size()) < x.dim()) r.insert(r.begin(), size_t(x.dim() - int64_t(r.size())), 1);
  return repeat(x, r);
}

// ------------------------------------------------------------------------------ tril / triu
namespace {
Tensor tri(const Tensor& x, int64_t k, bool lower) {
  const char* op = lower ? "tril" : "triu";
  EMBER_CHECK(x.dim() >= 2, op, ": input tensor must have at least 2 dimensions, got shape ", x.shape());
  // Beyond [-rows, cols] every diagonal keeps all or nothing; clamping keeps the kernel's i + k
  // from overflowing for huge k.
  const int64_t rows = x.shape()[x.dim() - 2], cols = x.shape()[x.dim() - 1];
  k = std::clamp(k, -rows, cols);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (out.numel()) kernel::tri(x.device())(out, x, k, lower);
  if (autograd::any_requires_grad(x)) {
    autograd::record(lower ? "TrilBackward0" : "TriuBackward0", {x}, {out}, {},
                     [k, lower](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {lower ? tril(g[0], k) : triu(g[0], k)};
                     });
  }
  return out;
}
}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return tri(x, diagonal, true); }
Tensor triu(const Tensor& x, int64_t diagonal) { return tri(x, diagonal, false); }

// ------------------------------------------------------------------------------ pad
namespace {
// Constant padding; negative amounts crop. Backward is the opposite padding of the grad.
Tensor pad_constant(const Tensor& x, const Dims& p, double value) {
  const int64_t nd = x.dim(), npairs = int64_t(p.size()) / 2;
  Shape out_shape = x.shape();
  Tensor src = x, dst;
  std::vector<int64_t> src_start(nd, 0), dst_start(nd, 0), len = x.shape();
  for (int64_t i = 0; i < npairs; ++i) {
    const int64_t d = nd - 1 - i, l = p[2 * i], r = p[2 * i + 1], n = x.shape()[d];
    const int64_t crop = std::max<int64_t>(-l, 0) + std::max<int64_t>(-r, 0);
    EMBER_CHECK(crop <= n, "pad: negative padding (", l, ", ", r, ") crops more than the size ", n, " of dim ", d,
                " of input of shape ", x.shape());
    EMBER_CHECK(!__builtin_add_overflow(n, l, &out_shape[d]) && !__builtin_add_overflow(out_shape[d], r, &out_shape[d]),
                "pad: padding (", l, ", ", r, ") of dim ", d, " is too large for input of shape ", x.shape());
    src_start[d] = std::max<int64_t>(-l, 0);
    dst_start[d] = std::max<int64_t>(l, 0);
    len[d] = n - crop;
  }
  Tensor out = empty(out_shape, x.dtype(), x.device());
  if (out.numel()) {
    kernel::fill(x.device())(out, Scalar(value));
    if (shape_numel(len) > 0) {
      for (int64_t d = 0; d < nd; ++d) {
        src = raw_narrow(src, d, src_start[d], len[d]);
        dst = raw_narrow(d == 0 ? out : dst, d, dst_start[d], len[d]);
      }
      copy_kernel_call(nd ? dst : out, src);
    }
  }
  if (autograd::any_requires_grad(x)) {
    Dims back(p.size());
    std::transform(p.begin(), p.end(), back.begin(), [](int64_t v) { return -v; });
    autograd::record("ConstantPadNdBackward0", {x}, {out}, {},
                     [back](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {pad(g[0], back, "constant", 0.0)};
                     });
  }
  return out;
}

// reflect / replicate / circular: one dim at a time, as cat of (views of) border slices, so
// the backward (border grads accumulated into the input) comes from cat/flip/narrow/expand.
Tensor pad_border(const Tensor& x, const Dims& p, const std::string& mode) {
  const int64_t nd = x.dim(), npairs = int64_t(p.size()) / 2;
  Tensor cur = x;
  bool changed = false;
  for (int64_t i = 0; i < npairs; ++i) {
    const int64_t d = nd - 1 - i, l = p[2 * i], r = p[2 * i + 1], n = x.shape()[d];
    EMBER_CHECK(l >= 0 && r >= 0, "pad: negative padding (", l, ", ", r, ") is only supported in constant mode, got mode '",
                mode, "'");
    if (l == 0 && r == 0) continue;
    TensorList parts;
    if (mode == "reflect") {
      EMBER_CHECK(l < n && r < n, "pad: padding size should be less than the corresponding input dimension, but got padding (",
                  l, ", ", r, ") at dim ", d, " of input of shape ", x.shape());
      if (l) parts.push_back(flip(narrow(cur, d, 1, l), {d}));
      parts.push_back(cur);
      if (r) parts.push_back(flip(narrow(cur, d, n - 1 - r, r), {d}));
    } else if (mode == "replicate") {
      EMBER_CHECK(n > 0, "pad: replicate padding needs a non-empty dim ", d, ", got input of shape ", x.shape());
      auto edge = [&](int64_t at, int64_t count) {
        Shape s = cur.shape();
        s[d] = count;
        return expand(narrow(cur, d, at, 1), s);
      };
      if (l) parts.push_back(edge(0, l));
      parts.push_back(cur);
      if (r) parts.push_back(edge(n - 1, r));
    } else {  // circular
      EMBER_CHECK(l <= n && r <= n, "pad: padding (", l, ", ", r, ") of dim ", d, " must not exceed its size for circular mode, input shape ",
                  x.shape());
      if (l) parts.push_back(narrow(cur, d, n - l, l));
      parts.push_back(cur);
      if (r) parts.push_back(narrow(cur, d, 0, r));
    }
    cur = cat(parts, d);
    changed = true;
  }
  return changed ? cur : clone(x);
}
}  // namespace

Tensor pad(const Tensor& x, const Dims& p, const std::string& mode, double value) {
  EMBER_CHECK(p.size() % 2 == 0, "pad: padding length must be divisible by 2, got ", p.size(), " values ", Shape(p));
  EMBER_CHECK(int64_t(p.size()) / 2 <= x.dim(), "pad: padding length ", p.size(), " is too large for input of shape ",
              x.shape(), " (at most 2 values per dim)");
  if (mode == "constant") return pad_constant(x, p, value);
  if (mode == "reflect" || mode == "replicate" || mode == "circular") {
    EMBER_CHECK(value == 0, "pad: padding mode '", mode, "' doesn't take in value argument");
    return pad_border(x, p, mode);
  }
  EMBER_VALUE_ERROR("pad: unsupported padding mode '", mode, "' (expected 'constant', 'reflect', 'replicate' or 'circular')");
}

// ------------------------------------------------------------------------------ one_hot
Tensor one_hot(const Tensor& x, int64_t num_classes) {
  if (!is_integral(x.dtype(), false))
    EMBER_TYPE_ERROR("one_hot: expected an integer (int64) index tensor, got ", dtype_name(x.dtype()));
  EMBER_CHECK(num_classes >= -1, "one_hot: num_classes must be -1 (infer) or non-negative, got ", num_classes);
  const Tensor idx = raw_contiguous(x, Dtype::Int64);
  const int64_t* id = idx.data<int64_t>();
  const int64_t n = idx.numel();
  if (n == 0)
    EMBER_CHECK(num_classes >= 0, "one_hot: can not infer the total number of classes from an empty tensor");
  // Validate every class before writing anything.
  int64_t lo = 0, hi = -1;
  if (n) {
    lo = *std::min_element(id, id + n);
    hi = *std::max_element(id, id + n);
  }
  if (lo < 0) EMBER_INDEX_ERROR("one_hot: class values must be non-negative, got ", lo);
  if (num_classes == -1) num_classes = hi + 1;
  if (hi >= num_classes)
    EMBER_INDEX_ERROR("one_hot: class value ", hi, " is out of range for num_classes=", num_classes);
  Shape out_shape = x.shape();
  out_shape.push_back(num_classes);
  checked_numel(out_shape, "one_hot", itemsize(Dtype::Int64));
  Tensor out = empty(out_shape, Dtype::Int64, x.device());
  if (out.numel()) kernel::one_hot(x.device())(out, idx, num_classes);
  return out;
}

// ------------------------------------------------------------------------------ masked_fill
namespace {
// value: 0-d tensor of x's dtype. value_input: the user's tensor value (for its grad), or undefined.
Tensor masked_fill_impl(const Tensor& x, const Tensor& mask0, const Tensor& value0, const Tensor& value_input) {
  if (mask0.dtype() != Dtype::Bool)
    EMBER_TYPE_ERROR("masked_fill: expected a bool mask, got ", dtype_name(mask0.dtype()));
  // the fill value (and a 0-d CPU mask) join x's device as scalars, as in PyTorch
  const Tensor mask = on_device(mask0, x.device(), "masked_fill");
  const Tensor value = on_device(value0, x.device(), "masked_fill");
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  Tensor out = empty(shape, x.dtype(), x.device());
  if (out.numel())
    kernel::where(x.device())(out, raw_expand(mask, shape), raw_expand(value, shape), raw_expand(x, shape));

  const bool value_grad = value_input.defined() && autograd::any_requires_grad(value_input);
  if (autograd::any_requires_grad(x) || value_grad) {
    TensorList inputs{x};
    if (value_input.defined()) inputs.push_back(value_input);
    // grad_x: g where the mask is false; grad_value: the sum of g where it is true.
    autograd::record("MaskedFillBackward0", inputs, {out}, {mask},
                     [](const TensorList& g, const TensorList& s, const std::vector<bool>& needs) {
                       TensorList grads(needs.size());
                       if (needs[0]) grads[0] = masked_fill(g[0], s[0], Scalar(0.0));
                       if (needs.size() > 1 && needs[1])
                         grads[1] = sum(masked_fill(g[0], unary(UnaryOp::LogicalNot, s[0]), Scalar(0.0)));
                       return grads;
                     });
  }
  return out;
}

void check_fill_value(const Tensor& x, const Scalar& v) {
  if (v.is_float() && is_integral(x.dtype(), true) && !std::isfinite(v.d))
    EMBER_VALUE_ERROR("masked_fill: value ", v.d, " cannot be converted to ", dtype_name(x.dtype()));
  check_scalar_fits(v, x.dtype(), "masked_fill");
}
}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value) {
  check_fill_value(x, value);
  return masked_fill_impl(x, mask, scalar_tensor(value, x.dtype()), Tensor());
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value) {
  EMBER_CHECK(value.dim() == 0, "masked_fill: only supports a 0-dimensional value tensor, but got a tensor of shape ",
              value.shape());
  const Scalar v = value.item();
  check_fill_value(x, v);
  return masked_fill_impl(x, mask, scalar_tensor(v, x.dtype()), value);
}

}  // namespace ember
