// Indexing: x[...] / x[...] = v (getitem / setitem), advanced indexing (index, index_put_),
// gather / scatter / scatter_add, index_select / index_add, take_along_dim, nonzero and
// masked_select. Forward passes build raw strided views (no autograd) and lower every op to the
// gather / scatter kernels of backend/kernels_index.h; each op then records its own backward.
#include <algorithm>

#include "autograd/node.h"
#include "backend/kernels_index.h"
#include "ops/ops.h"

namespace ember {
namespace {

using autograd::GradModeGuard;

// ---------------------------------------------------------------- raw view helpers

// `t` viewed with a shape it broadcasts to (new leading dims and size-1 dims get stride 0).
Tensor broadcast_view(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  int64_t lead = int64_t(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d) st[lead + d] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  return make_view(t, shape, st, t.offset());
}

// 0-d tensors take part in gather & co as 1-element vectors (PyTorch does the same).
Tensor atleast_1d_raw(const Tensor& t) { return t.dim() ? t : make_view(t, {1}, {1}, t.offset()); }

// Drops leading size-1 dims while `t` has more than `ndim` dims: x[0] = v accepts v of shape
// [1, n] for an [n] target, like PyTorch.
Shape strip_leading_ones(Shape s, int64_t ndim) {
  while (int64_t(s.size()) > ndim && s.front() == 1) s.erase(s.begin());
  return s;
}

bool broadcastable_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t lead = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d)
    if (from[d] != 1 && from[d] != to[lead + d]) return false;
  return true;
}

// `values` (already in the destination dtype) as a view of exactly `shape`.
Tensor fit_values(const Tensor& values, const Shape& shape, const char* op) {
  Shape s = strip_leading_ones(values.shape(), int64_t(shape.size()));
  if (!broadcastable_to(s, shape))
    EMBER_VALUE_ERROR(op, ": shape mismatch: value tensor of shape ", values.shape(),
                      " cannot be broadcast to indexing result of shape ", shape);
  Shape st(values.strides().end() - s.size(), values.strides().end());
  return broadcast_view(make_view(values, s, st, values.offset()), shape);
}

// Sums a gradient of the indexed shape back to a value's shape (which may carry extra leading 1s).
Tensor reduce_to(const Tensor& g, const Shape& shape) {
  Shape core = strip_leading_ones(shape, g.dim());
  Tensor r = g.shape() == core ? g : sum_to(g, core);
  return core.size() == shape.size() ? r : reshape(r, shape);
}

// Pads g (shape of the index) with zeros up to `shape` (the source, which may be larger).
Tensor pad_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  Dims p;
  for (int64_t d = g.dim() - 1; d >= 0; --d) {
    p.push_back(0);
    p.push_back(shape[d] - g.shape()[d]);
  }
  return pad(g, p);
}

// ---------------------------------------------------------------- index validation

// Index tensor for gather & co: int64 (int32 is widened), anything else is a TypeError.
Tensor int64_index(const Tensor& index, const char* op) {
  if (index.dtype() == Dtype::Int64) return index;
  if (index.dtype() == Dtype::Int32) return to_dtype(index, Dtype::Int64);
  EMBER_TYPE_ERROR(op, ": expected index to be an int64 tensor, got ", dtype_name(index.dtype()));
}

void check_range(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  if (index.numel() > 0) kernel::index_check(index.device())(index, size, op, dim);
}

bool is_mask(const Tensor& t) { return t.dtype() == Dtype::Bool || t.dtype() == Dtype::UInt8; }

// The int64 index tensors (one per dim) selecting the true elements of a mask.
TensorList mask_indices(const Tensor& mask) {
  Tensor nz = nonzero(mask);
  int64_t n = nz.shape()[0], k = mask.dim();
  TensorList cols;
  for (int64_t j = 0; j < k; ++j) cols.push_back(make_view(nz, {n}, {k}, nz.offset() + j));
  return cols;
}

[[noreturn]] void bad_index_dtype(const char* op, const Tensor& t) {
  EMBER_TYPE_ERROR(op, ": tensors used as indices must be long, int, byte or bool tensors, got ",
                   dtype_name(t.dtype()));
}

// index()/index_put_() arguments -> one int64 tensor (or undefined = ':') per leading dim of x:
// masks expand into one index per dim they cover, int32 is widened, floats are rejected.
TensorList expand_indices(const Tensor& x, const TensorList& in, const char* op) {
  TensorList out;
  int64_t d = 0;
  for (const Tensor& t : in) {
    if (!t.defined()) {
      out.emplace_back();
      d++;
    } else if (is_mask(t)) {
      if (t.dim() == 0) EMBER_INDEX_ERROR(op, ": a 0-dim boolean index is only supported in x[...]");
      if (d + t.dim() > x.dim())
        EMBER_INDEX_ERROR(op, ": too many indices for tensor of dimension ", x.dim());
      for (int64_t j = 0; j < t.dim(); ++j)
        if (t.shape()[j] != x.shape()[d + j])
          EMBER_INDEX_ERROR(op, ": the shape of the mask ", t.shape(), " at index ", j,
                            " does not match the shape of the indexed tensor ", x.shape(), " at index ", d + j);
      for (Tensor& c : mask_indices(t)) out.push_back(std::move(c));
      d += t.dim();
    } else if (is_integral(t.dtype(), false)) {
      out.push_back(int64_index(t, op));
      d++;
    } else {
      bad_index_dtype(op, t);
    }
  }
  if (d > x.dim()) EMBER_INDEX_ERROR(op, ": too many indices for tensor of dimension ", x.dim(), " (got ", d, ")");
  while (!out.empty() && !out.back().defined()) out.pop_back();
  return out;
}

// ---------------------------------------------------------------- advanced indexing plan

// x[indices] as an elementwise gather: `src` is x viewed with the result shape (stride 0 over the
// broadcast index dims) and `offs` the element offset each result element adds to it.
struct Advanced {
  Shape shape;
  Tensor src, offs;
};

Advanced plan_advanced(const Tensor& x, const TensorList& idx, const char* op) {
  Dims pos;
  for (int64_t d = 0; d < int64_t(idx.size()); ++d)
    if (idx[d].defined()) pos.push_back(d);

  Shape b;  // the index tensors broadcast together
  for (int64_t d : pos) {
    const Shape& s = idx[d].shape();
    Shape r(std::max(b.size(), s.size()), 1);
    for (size_t i = 0; i < r.size(); ++i) {
      int64_t u = i + b.size() >= r.size() ? b[i + b.size() - r.size()] : 1;
      int64_t v = i + s.size() >= r.size() ? s[i + s.size() - r.size()] : 1;
      if (u != v && u != 1 && v != 1) {
        std::string shapes;
        for (int64_t e : pos) shapes += (shapes.empty() ? "" : ", ") + shape_str(idx[e].shape());
        EMBER_INDEX_ERROR(op, ": shape mismatch: indexing tensors could not be broadcast together with shapes ",
                          shapes);
      }
      r[i] = u == 1 ? v : u;
    }
    b = std::move(r);
  }

  Tensor offs = empty(b, Dtype::Int64, x.device());
  for (size_t k = 0; k < pos.size(); ++k) {
    int64_t d = pos[k];
    kernel::index_offsets(x.device())(offs, broadcast_view(idx[d], b), x.shape()[d], x.strides()[d], k > 0, op, d);
  }

  // Adjacent index tensors put the broadcast dims where they stand; separated ones put them first.
  Advanced a;
  Shape xs, os, bst = contiguous_strides(b);
  auto put = [&](int64_t size, int64_t x_stride, int64_t offs_stride) {
    a.shape.push_back(size);
    xs.push_back(x_stride);
    os.push_back(offs_stride);
  };
  auto put_b = [&] {
    for (size_t j = 0; j < b.size(); ++j) put(b[j], 0, bst[j]);
  };
  auto put_x = [&](int64_t d) { put(x.shape()[d], x.strides()[d], 0); };
  bool adjacent = pos.back() - pos.front() + 1 == int64_t(pos.size());
  if (adjacent) {
    for (int64_t d = 0; d < pos.front(); ++d) put_x(d);
    put_b();
    for (int64_t d = pos.back() + 1; d < x.dim(); ++d) put_x(d);
  } else {
    put_b();
    for (int64_t d = 0; d < x.dim(); ++d)
      if (d >= int64_t(idx.size()) || !idx[d].defined()) put_x(d);
  }
  a.src = make_view(x, a.shape, xs, x.offset());
  a.offs = make_view(offs, a.shape, os, 0);
  return a;
}

// The forward of index(): no autograd.
Tensor index_raw(const Tensor& x, const TensorList& idx) {
  Advanced a = plan_advanced(x, idx, "index");
  Tensor out = empty(a.shape, x.dtype(), x.device());
  if (out.numel() > 0) kernel::index_gather(x.device())(out, a.src, a.offs, 1);
  return out;
}

// The forward of index_put_() on expanded indices: no autograd, no version bump.
void index_put_raw(const Tensor& x, const TensorList& idx, const Tensor& values, bool accumulate, const char* op) {
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.strides()[d] == 0 && x.shape()[d] > 1)
      EMBER_RUNTIME_ERROR(op, ": unsupported operation: more than one element of the written-to tensor refers to a "
                          "single memory location (an expanded tensor of shape ", x.shape(), "); clone() it first");
  GradModeGuard no_grad(false);
  Tensor v = values.dtype() == x.dtype() ? values : to_dtype(values, x.dtype());
  if (v.storage() == x.storage()) v = clone(v);  // the writes must not feed back into the values
  if (idx.empty()) {  // nothing indexed: the whole tensor
    Tensor dst = x;
    if (accumulate) binary_(BinaryOp::Add, dst, fit_values(v, x.shape(), op));
    else copy_(dst, fit_values(v, x.shape(), op));
    return;
  }
  Advanced a = plan_advanced(x, idx, op);
  Tensor vv = fit_values(v, a.shape, op);
  if (shape_numel(a.shape) > 0)
    kernel::index_scatter(x.device())(a.src, vv, a.offs, 1, accumulate, Scalar(int64_t(1)));
}

// ---------------------------------------------------------------- x[...] parsing

// The basic items applied as views, and the advanced ones (int64 index tensors, one per dim of
// `view`, undefined = ':') left for index() / index_put_().
struct Parsed {
  Tensor view;
  TensorList adv;
};

int64_t consumed_dims(const TensorIndex& it) {
  switch (it.kind) {
    case TensorIndex::Int:
    case TensorIndex::Slice: return 1;
    case TensorIndex::Tensor: return is_mask(it.t) ? it.t.dim() : 1;
    default: return 0;
  }
}

// An index tensor standing for a Python bool: True selects the new size-1 dim, False nothing.
Tensor bool_index(bool v) {
  Tensor t = empty({v ? 1 : 0}, Dtype::Int64);
  if (v) *t.data<int64_t>() = 0;
  return t;
}

Parsed parse_index(const Tensor& x, const std::vector<TensorIndex>& items, const char* op) {
  int64_t consumed = 0, ellipses = 0;
  for (const auto& it : items) {
    if (it.kind == TensorIndex::Tensor && !it.t.defined()) EMBER_TYPE_ERROR(op, ": undefined index tensor");
    consumed += consumed_dims(it);
    ellipses += it.kind == TensorIndex::Ellipsis;
  }
  if (ellipses > 1) EMBER_INDEX_ERROR(op, ": an index can only have a single ellipsis ('...')");
  if (consumed > x.dim()) EMBER_INDEX_ERROR(op, ": too many indices for tensor of dimension ", x.dim());

  Parsed p{x, {}};
  Tensor& r = p.view;
  int64_t d = 0, real = 0;  // dim in r, dim in x (for messages)
  auto put_adv = [&](int64_t dim, Tensor t) {
    if (int64_t(p.adv.size()) <= dim) p.adv.resize(dim + 1);
    p.adv[dim] = std::move(t);
  };
  auto select_at = [&](int64_t i) {
    int64_t size = r.shape()[d];
    if (i < -size || i >= size)
      EMBER_INDEX_ERROR(op, ": index ", i, " is out of bounds for dimension ", real, " with size ", size);
    r = select(r, d, i < 0 ? i + size : i);
    real++;
  };
  for (const auto& it : items) {
    switch (it.kind) {
      case TensorIndex::Int: select_at(it.i); break;
      case TensorIndex::Slice: {
        if (it.step <= 0) EMBER_VALUE_ERROR(op, ": step must be greater than zero, got ", it.step);
        // Python slice rules with a positive step: wrap negatives, clamp to [0, size].
        int64_t size = r.shape()[d];
        auto norm = [&](std::optional<int64_t> v, int64_t dflt) {
          if (!v) return dflt;
          int64_t u = *v < 0 ? *v + size : *v;
          return std::clamp<int64_t>(u, 0, size);
        };
        int64_t start = norm(it.start, 0), stop = std::max(norm(it.stop, size), start);
        r = slice(r, d, start, stop, it.step);
        d++, real++;
        break;
      }
      case TensorIndex::None: r = unsqueeze(r, d++); break;
      case TensorIndex::Ellipsis: {
        int64_t span = x.dim() - consumed;
        d += span, real += span;
        break;
      }
      case TensorIndex::Bool:
        r = unsqueeze(r, d);
        put_adv(d++, bool_index(it.i != 0));
        break;
      case TensorIndex::Tensor: {
        const Tensor& t = it.t;
        if (is_mask(t) && t.dim() == 0) {  // like a Python bool
          r = unsqueeze(r, d);
          put_adv(d++, bool_index(t.item().to<bool>()));
        } else if (is_mask(t)) {
          for (int64_t j = 0; j < t.dim(); ++j)
            if (t.shape()[j] != r.shape()[d + j])
              EMBER_INDEX_ERROR(op, ": the shape of the mask ", t.shape(), " at index ", j,
                                " does not match the shape of the indexed tensor ", x.shape(), " at index ", real + j);
          for (Tensor& c : mask_indices(t)) put_adv(d++, std::move(c));
          real += t.dim();
        } else if (!is_integral(t.dtype(), false)) {
          bad_index_dtype(op, t);
        } else if (t.dim() == 0) {  // a 0-d integer tensor acts like a Python int
          select_at(t.item().to_int());
        } else {
          put_adv(d++, int64_index(t, op));
          real++;
        }
        break;
      }
    }
  }
  return p;
}

// Backward of setitem / index_put_ on x: grad flows to x except where it was overwritten.
TensorList put_backward(const Tensor& g, const std::vector<bool>& needs, const Shape& vshape,
                        const std::function<void(Tensor&)>& zero_written,
                        const std::function<Tensor(const Tensor&)>& gather_written) {
  TensorList r(2);
  if (needs[0]) {
    r[0] = clone(g);
    zero_written(r[0]);
  }
  if (needs[1]) r[1] = reduce_to(gather_written(g), vshape);
  return r;
}

// ---------------------------------------------------------------- scatter helpers

// Common checks of gather / scatter: same rank (0-d counts as 1-d), index no larger than x
// outside `dim` (and than src everywhere).
void check_scatter_shapes(const Tensor& x1, int64_t dim, const Tensor& i1, const Tensor* src1, const Tensor& x,
                          const Tensor& index, const char* op) {
  if (i1.dim() != x1.dim())
    EMBER_VALUE_ERROR(op, ": index ", index.shape(), " must have the same number of dimensions as input ", x.shape());
  for (int64_t d = 0; d < x1.dim(); ++d)
    if (d != dim && i1.shape()[d] > x1.shape()[d])
      EMBER_VALUE_ERROR(op, ": index ", index.shape(), " is larger than input ", x.shape(), " at dimension ", d,
                        " (only dimension ", dim, " may differ)");
  if (!src1) return;
  if (src1->dim() != x1.dim())
    EMBER_VALUE_ERROR(op, ": src must have the same number of dimensions as input ", x.shape());
  for (int64_t d = 0; d < x1.dim(); ++d)
    if (i1.shape()[d] > src1->shape()[d])
      EMBER_VALUE_ERROR(op, ": index ", index.shape(), " is larger than src ", src1->shape(), " at dimension ", d);
}

// out = x with src (a tensor of x's dtype viewed over index's shape) scattered along dim.
Tensor scatter_raw(const Tensor& x, int64_t dim, const Tensor& i1, const Tensor& src_view, bool add) {
  GradModeGuard no_grad(false);
  Tensor out = clone(x);
  if (i1.numel() == 0) return out;
  Tensor o1 = atleast_1d_raw(out);
  Shape st = o1.strides();
  st[dim] = 0;
  Tensor dst = make_view(o1, i1.shape(), st, o1.offset());
  kernel::index_scatter(x.device())(dst, src_view, i1, o1.strides()[dim], add, Scalar(int64_t(1)));
  return out;
}

Tensor scatter_tensor(const Tensor& x, int64_t dim, const Tensor& index_in, const Tensor& src, bool add,
                      const char* op) {
  Tensor index = int64_index(index_in, op);
  dim = wrap_dim(dim, x.dim(), op);
  if (src.dtype() != x.dtype())
    EMBER_TYPE_ERROR(op, ": expected src (", dtype_name(src.dtype()), ") to have the dtype of input (",
                     dtype_name(x.dtype()), ")");
  Tensor x1 = atleast_1d_raw(x), i1 = atleast_1d_raw(index), s1 = atleast_1d_raw(src);
  check_scatter_shapes(x1, dim, i1, &s1, x, index, op);
  check_range(i1, x1.shape()[dim], op, dim);
  Tensor out = scatter_raw(x, dim, i1, make_view(s1, i1.shape(), s1.strides(), s1.offset()), add);
  if (autograd::any_requires_grad(x, src)) {
    autograd::record(add ? "ScatterAddBackward0" : "ScatterBackward0", {x, src}, {out}, {index},
                     [dim, add, sshape = src.shape()](const TensorList& g, const TensorList& s,
                                                      const std::vector<bool>& needs) -> TensorList {
                       TensorList r(2);
                       if (needs[0]) r[0] = add ? g[0] : scatter(g[0], dim, s[0], Scalar(0.0));
                       if (needs[1]) r[1] = pad_to(gather(g[0], dim, s[0]), sshape);
                       return r;
                     });
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- getitem / setitem

Tensor getitem(const Tensor& x, const std::vector<TensorIndex>& idx) {
  Parsed p = parse_index(x, idx, "getitem");
  if (!p.adv.empty()) return index(p.view, p.adv);
  return p.view.same(x) ? view(x, x.shape()) : p.view;  // x[...] is a new view, never x itself
}

void setitem(Tensor& x, const std::vector<TensorIndex>& idx, const Tensor& value) {
  check_inplace(x, "setitem");
  bool grad = autograd::any_requires_grad(x, value) && is_floating(x.dtype());
  bool advanced;
  {
    GradModeGuard no_grad(false);
    Parsed p = parse_index(x, idx, "setitem");
    advanced = !p.adv.empty();
    if (advanced) {
      index_put_raw(p.view, p.adv, value, false, "setitem");
    } else {
      Tensor v = value.dtype() == x.dtype() ? value : to_dtype(value, x.dtype());
      copy_(p.view, fit_values(v, p.view.shape(), "setitem"));  // copy_ handles overlapping values
    }
  }
  x.bump_version();
  if (grad) {
    autograd::record(advanced ? "IndexPutBackward0" : "CopySlices", {x, value}, {x}, {},
                     [idx, vshape = value.shape()](const TensorList& g, const TensorList&,
                                                   const std::vector<bool>& needs) -> TensorList {
                       return put_backward(
                           g[0], needs, vshape,
                           [&](Tensor& gx) { setitem(gx, idx, scalar_tensor(Scalar(0.0), gx.dtype())); },
                           [&](const Tensor& gg) { return getitem(gg, idx); });
                     });
  }
}

// ---------------------------------------------------------------- index / index_put_

Tensor index(const Tensor& x, const TensorList& indices) {
  TensorList idx = expand_indices(x, indices, "index");
  if (idx.empty()) return clone(x);
  Tensor out = index_raw(x, idx);
  if (autograd::any_requires_grad(x)) {
    autograd::record("IndexBackward0", {x}, {out}, {},
                     [idx, shape = x.shape()](const TensorList& g, const TensorList&,
                                              const std::vector<bool>&) -> TensorList {
                       Tensor z = zeros(shape, g[0].dtype(), g[0].device());
                       index_put_(z, idx, g[0], true);
                       return {z};
                     });
  }
  return out;
}

Tensor& index_put_(Tensor& x, const TensorList& indices, const Tensor& values, bool accumulate) {
  check_inplace(x, "index_put_");
  TensorList idx = expand_indices(x, indices, "index_put_");
  bool grad = autograd::any_requires_grad(x, values) && is_floating(x.dtype());
  index_put_raw(x, idx, values, accumulate, "index_put_");
  x.bump_version();
  if (grad) {
    autograd::record("IndexPutBackward0", {x, values}, {x}, {},
                     [idx, accumulate, vshape = values.shape()](const TensorList& g, const TensorList&,
                                                                const std::vector<bool>& needs) -> TensorList {
                       if (accumulate) {  // every position keeps its gradient
                         TensorList r{needs[0] ? g[0] : Tensor(), Tensor()};
                         if (needs[1]) r[1] = reduce_to(idx.empty() ? g[0] : index(g[0], idx), vshape);
                         return r;
                       }
                       return put_backward(
                           g[0], needs, vshape,
                           [&](Tensor& gx) { index_put_(gx, idx, scalar_tensor(Scalar(0.0), gx.dtype())); },
                           [&](const Tensor& gg) { return idx.empty() ? gg : index(gg, idx); });
                     });
  }
  return x;
}

// ---------------------------------------------------------------- gather / scatter

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index_in) {
  const char* op = "gather";
  Tensor index = int64_index(index_in, op);
  dim = wrap_dim(dim, x.dim(), op);
  Tensor x1 = atleast_1d_raw(x), i1 = atleast_1d_raw(index);
  check_scatter_shapes(x1, dim, i1, nullptr, x, index, op);
  check_range(i1, x1.shape()[dim], op, dim);
  Tensor out = empty(index.shape(), x.dtype(), x.device());
  if (out.numel() > 0) {
    Shape st = x1.strides();
    st[dim] = 0;
    Tensor src = make_view(x1, i1.shape(), st, x1.offset());
    kernel::index_gather(x.device())(atleast_1d_raw(out), src, i1, x1.strides()[dim]);
  }
  if (autograd::any_requires_grad(x)) {
    autograd::record("GatherBackward0", {x}, {out}, {index},
                     [dim, shape = x.shape()](const TensorList& g, const TensorList& s,
                                              const std::vector<bool>&) -> TensorList {
                       return {scatter_add(zeros(shape, g[0].dtype(), g[0].device()), dim, s[0], g[0])};
                     });
  }
  return out;
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_tensor(x, dim, index, src, false, "scatter");
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_tensor(x, dim, index, src, true, "scatter_add");
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index_in, const Scalar& value) {
  const char* op = "scatter";
  Tensor index = int64_index(index_in, op);
  dim = wrap_dim(dim, x.dim(), op);
  Tensor x1 = atleast_1d_raw(x), i1 = atleast_1d_raw(index);
  check_scatter_shapes(x1, dim, i1, nullptr, x, index, op);
  check_range(i1, x1.shape()[dim], op, dim);
  check_scalar_fits(value, x.dtype(), op);
  Tensor v = scalar_tensor(value, x.dtype());
  Tensor out = scatter_raw(x, dim, i1, make_view(v, i1.shape(), Shape(i1.dim(), 0), v.offset()), false);
  if (autograd::any_requires_grad(x)) {
    autograd::record("ScatterBackward1", {x}, {out}, {index},
                     [dim](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
                       return {scatter(g[0], dim, s[0], Scalar(0.0))};
                     });
  }
  return out;
}

// ---------------------------------------------------------------- index_select / index_add

namespace {
// A 0-d or 1-d int64 index for index_select / index_add.
Tensor vector_index(const Tensor& index_in, const char* op) {
  Tensor index = int64_index(index_in, op);
  if (index.dim() > 1) EMBER_VALUE_ERROR(op, ": index must be 0-d or 1-d, got shape ", index.shape());
  return index;
}
// `i1` (1-d) viewed over `shape`, varying along dim only.
Tensor index_along(const Tensor& i1, const Shape& shape, int64_t dim) {
  Shape st(shape.size(), 0);
  st[dim] = i1.strides()[0];
  return make_view(i1, shape, st, i1.offset());
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index_in) {
  const char* op = "index_select";
  Tensor index = vector_index(index_in, op);
  dim = wrap_dim(dim, x.dim(), op);
  Tensor x1 = atleast_1d_raw(x), i1 = atleast_1d_raw(index);
  if (x.dim() == 0 && i1.numel() != 1)
    EMBER_VALUE_ERROR(op, ": index of a 0-d input must have one element, got shape ", index.shape());
  check_range(i1, x1.shape()[dim], op, dim);
  Shape oshape = x1.shape();
  oshape[dim] = i1.numel();
  Tensor out = empty(x.dim() ? oshape : Shape{}, x.dtype(), x.device());
  if (out.numel() > 0) {
    Shape st = x1.strides();
    st[dim] = 0;
    Tensor src = make_view(x1, oshape, st, x1.offset());
    kernel::index_gather(x.device())(atleast_1d_raw(out), src, index_along(i1, oshape, dim), x1.strides()[dim]);
  }
  if (autograd::any_requires_grad(x)) {
    autograd::record("IndexSelectBackward0", {x}, {out}, {index},
                     [dim, shape = x.shape()](const TensorList& g, const TensorList& s,
                                              const std::vector<bool>&) -> TensorList {
                       return {index_add(zeros(shape, g[0].dtype(), g[0].device()), dim, s[0], g[0])};
                     });
  }
  return out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index_in, const Tensor& src, const Scalar& alpha) {
  const char* op = "index_add";
  Tensor index = vector_index(index_in, op);
  dim = wrap_dim(dim, x.dim(), op);
  if (src.dtype() != x.dtype())
    EMBER_TYPE_ERROR(op, ": expected source (", dtype_name(src.dtype()), ") to have the dtype of input (",
                     dtype_name(x.dtype()), ")");
  Tensor x1 = atleast_1d_raw(x), i1 = atleast_1d_raw(index), s1 = atleast_1d_raw(src);
  if (s1.dim() != x1.dim())
    EMBER_VALUE_ERROR(op, ": source ", src.shape(), " must have the same number of dimensions as input ", x.shape());
  if (s1.shape()[dim] != i1.numel())
    EMBER_VALUE_ERROR(op, ": number of indices (", i1.numel(), ") should be equal to source.size(dim) (",
                      s1.shape()[dim], "), source ", src.shape(), ", dim ", dim);
  for (int64_t d = 0; d < x1.dim(); ++d)
    if (d != dim && s1.shape()[d] != x1.shape()[d])
      EMBER_VALUE_ERROR(op, ": source ", src.shape(), " and input ", x.shape(), " must match outside dimension ", dim);
  check_range(i1, x1.shape()[dim], op, dim);
  Tensor out;
  {
    GradModeGuard no_grad(false);
    out = clone(x);
    if (s1.numel() > 0) {
      Tensor o1 = atleast_1d_raw(out);
      Shape st = o1.strides();
      st[dim] = 0;
      Tensor dst = make_view(o1, s1.shape(), st, o1.offset());
      kernel::index_scatter(x.device())(dst, s1, index_along(i1, s1.shape(), dim), o1.strides()[dim], true, alpha);
    }
  }
  if (autograd::any_requires_grad(x, src)) {
    autograd::record("IndexAddBackward0", {x, src}, {out}, {index},
                     [dim, alpha](const TensorList& g, const TensorList& s,
                                  const std::vector<bool>& needs) -> TensorList {
                       TensorList r{needs[0] ? g[0] : Tensor(), Tensor()};
                       if (needs[1]) {
                         r[1] = index_select(g[0], dim, s[0]);
                         if (alpha.to_double() != 1.0) r[1] = r[1] * alpha.to_double();
                       }
                       return r;
                     });
  }
  return out;
}

// ---------------------------------------------------------------- take_along_dim / nonzero / masked_select

Tensor take_along_dim(const Tensor& x, const Tensor& indices, std::optional<int64_t> dim) {
  const char* op = "take_along_dim";
  if (!is_integral(indices.dtype(), false) || indices.dtype() == Dtype::UInt8)
    EMBER_TYPE_ERROR(op, ": expected indices to be an int64 tensor, got ", dtype_name(indices.dtype()));
  if (!dim) return gather(flatten(x), 0, flatten(indices));
  if (x.dim() != indices.dim())
    EMBER_VALUE_ERROR(op, ": input ", x.shape(), " and indices ", indices.shape(),
                      " should have the same number of dimensions");
  int64_t d = wrap_dim(*dim, x.dim(), op);
  if (x.dim() == 0) return gather(x, d, indices);
  // broadcast every dim but `d`, then gather along it
  Shape xs = x.shape();
  xs[d] = indices.shape()[d];
  Shape b = broadcast_shapes(xs, indices.shape(), op);
  Shape bx = b;
  bx[d] = x.shape()[d];
  Tensor xi = x.shape() == bx ? x : expand(x, bx);
  Tensor ii = indices.shape() == b ? indices : expand(indices, b);
  return gather(xi, d, ii);
}

Tensor nonzero(const Tensor& x) {
  GradModeGuard no_grad(false);
  Tensor c = x.is_contiguous() ? x : contiguous(x);
  return kernel::nonzero(x.device())(c);
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  const char* op = "masked_select";
  if (mask.dtype() != Dtype::Bool)
    EMBER_TYPE_ERROR(op, ": expected a bool mask, got ", dtype_name(mask.dtype()));
  Shape s = broadcast_shapes(x.shape(), mask.shape(), op);
  Shape s1 = s.empty() ? Shape{1} : s;  // a 0-d pair selects from one element
  Tensor xb = broadcast_view(x, s), mb = broadcast_view(mask, s);
  if (s.empty()) xb = make_view(x, {1}, {0}, x.offset()), mb = make_view(mask, {1}, {0}, mask.offset());
  TensorList cols = mask_indices(mb);
  Tensor out = index_raw(xb, cols);
  if (autograd::any_requires_grad(x)) {
    autograd::record("MaskedSelectBackward0", {x}, {out}, {},
                     [cols, s, s1, xshape = x.shape()](const TensorList& g, const TensorList&,
                                                       const std::vector<bool>&) -> TensorList {
                       Tensor z = zeros(s1, g[0].dtype(), g[0].device());
                       index_put_(z, cols, g[0], true);
                       if (s1 != s) z = reshape(z, s);
                       return {s == xshape ? z : sum_to(z, xshape)};
                     });
  }
  return out;
}

}  // namespace ember
