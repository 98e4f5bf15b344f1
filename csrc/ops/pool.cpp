// Pooling ops: argument checks (PyTorch's rules and output sizes), the window tables of
// kernels_pool.h, kernel calls and backward nodes. Every pool runs as 2-D over contiguous
// [planes, H, W]; 1-D pools are planes of height 1. Backward passes are ops with their own
// backward (max: scatter <-> gather through the indices; avg: pool <-> its transpose), so
// gradients of any order work. 16-bit floats are computed in f32.
#include <memory>
#include <new>
#include <stdexcept>

#include "autograd/node.h"
#include "backend/kernels_pool.h"
#include "ops/ops.h"

namespace ember {
namespace {

using PlanPtr = std::shared_ptr<const PoolPlan>;

// f16 / bf16 run in f32; the other dtypes (f32, f64, the integer ones of max / avg) as they are
Dtype compute_dtype(Dtype d) { return is_reduced_float(d) ? Dtype::Float32 : d; }

// t detached, in the compute dtype, contiguous, viewed as [P, rest...] with `shape`.
Tensor compute_view(const Tensor& t, const Shape& shape) {
  Tensor c = detach(t);
  if (c.dtype() != compute_dtype(c.dtype())) c = to_dtype(c, compute_dtype(c.dtype()));
  return reshape(contiguous(c), shape);
}

// a compute-dtype result, reshaped and cast back to the caller's dtype
Tensor finish(const Tensor& r, const Shape& shape, Dtype dtype) {
  Tensor o = reshape(r, shape);
  return o.dtype() == dtype ? o : to_dtype(o, dtype);
}

Shape prefix(const Shape& s, int k) { return Shape(s.begin(), s.end() - k); }
Shape suffix(const Shape& s, int k) { return Shape(s.end() - k, s.end()); }

// The last k dims of an input of shape s as (H, W), H = 1 for 1-D pools.
std::pair<int64_t, int64_t> plane_hw(const Shape& s, int k) {
  return {k == 2 ? s[s.size() - 2] : 1, s.back()};
}

Shape out_shape(const Shape& lead, const PoolPlan& p, int k) {
  Shape s = lead;
  if (k == 2) s.push_back(p.h.out);
  s.push_back(p.w.out);
  return s;
}

// The integer dtypes PyTorch's CPU pools accept besides the floating ones.
enum class Ints { None, I64, Max };  // none; int64 (avg pools); int32, int64, uint8 (max pools)

// Rank, dtype and empty-dim rules of PyTorch's pools: a (k+1)-D unbatched or (k+2)-D batched
// input whose non-batch dims are non-zero (adaptive avg pools also allow zero channels).
void check_input(const char* op, const Tensor& x, int k, bool allow_empty_channels, Ints ints = Ints::None) {
  const Dtype d = x.dtype();
  const bool int_ok = (ints == Ints::I64 && d == Dtype::Int64) ||
                      (ints == Ints::Max && (d == Dtype::Int64 || d == Dtype::Int32 || d == Dtype::UInt8));
  if (!is_floating(d) && !int_ok)
    EMBER_TYPE_ERROR(op, ": not implemented for ", dtype_name(d), " inputs (",
                     ints == Ints::None ? "floating point only" : ints == Ints::I64 ? "floating point or int64"
                                                                                    : "floating point, int32, int64 or uint8",
                     ")");
  const int64_t nd = x.dim();
  if (nd != k + 1 && nd != k + 2)
    EMBER_VALUE_ERROR(op, ": expected a ", k + 1, "-D (unbatched) or ", k + 2, "-D (batched) input, got shape ",
                      x.shape());
  for (int64_t d = nd - k - 1; d < nd; ++d) {
    const bool spatial = d >= nd - k;
    if (x.shape()[d] == 0 && (spatial || !allow_empty_channels))
      EMBER_VALUE_ERROR(op, ": expected an input with non-zero sizes except for the batch dim, got shape ",
                        x.shape());
  }
}

// ------------------------------------------------------------------------- window tables

PoolAxis trivial_axis() {
  PoolAxis a;
  a.begin = {0};
  a.count = {1};
  a.div = {1};
  return a;
}

// PyTorch's pooling output size (ceil_mode: the last window must start inside the input or
// the left padding).
// In 128 bits: huge kernel_size, dilation, padding or stride overflow int64 (a valid output
// size is at most in + 1, so it fits again).
int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  using i128 = __int128;
  const i128 num = i128(in) + 2 * i128(p) - i128(d) * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
  i128 o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;  // floor division
  if (ceil_mode && o > 0 && (o - 1) * s >= i128(in) + p) --o;
  return int64_t(std::max<i128>(o, INT64_MIN));
}

// Window o covers taps start + i * d (i < k), start = o * s - p; keep those inside [0, in).
PoolAxis regular_axis(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d, bool include_pad) {
  PoolAxis a;
  a.in = in;
  a.out = out;
  a.step = d;
  a.begin.resize(out);
  a.count.resize(out);
  a.div.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * s - p;
    const int64_t i0 = start < 0 ? (-start + d - 1) / d : 0;
    const int64_t i1 = start < in ? std::min(k, (in - start + d - 1) / d) : 0;
    a.begin[o] = start + i0 * d;
    a.count[o] = std::max<int64_t>(0, i1 - i0);
    // avg pools (d == 1): the padded extent, clipped at the right padding, or the real taps
    a.div[o] = include_pad ? std::min(start + k, in + p) - start : a.count[o];
  }
  a.stride = s;
  a.taps = k;
  a.pad = p;
  // whole windows: start >= 0 and start + (k - 1) * d < in
  const int64_t last = in - 1 - (k - 1) * d + p;
  a.full_lo = std::min(out, (p + s - 1) / s);
  a.full_hi = last < 0 ? 0 : std::min(out, last / s + 1);
  if (a.full_hi < a.full_lo) a.full_hi = a.full_lo;
  return a;
}

// The window tables grow with the output size: a huge one must fail as a clean error.
template <class Fn>
void build_tables(const char* op, const Dims& outs, const Shape& in_shape, Fn&& fn) {
  try {
    fn();
  } catch (const std::bad_alloc&) {
    EMBER_RUNTIME_ERROR(op, ": out of memory for output size ", outs, " (input of shape ", in_shape, ")");
  } catch (const std::length_error&) {
    EMBER_RUNTIME_ERROR(op, ": out of memory for output size ", outs, " (input of shape ", in_shape, ")");
  }
}

// PyTorch's adaptive windows: [floor(o * in / out), ceil((o + 1) * in / out)).
PoolAxis adaptive_axis(int64_t in, int64_t out) {
  PoolAxis a;
  a.in = in;
  a.out = out;
  a.begin.resize(out);
  a.count.resize(out);
  a.div.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t b = o * in / out, e = ((o + 1) * in + out - 1) / out;
    a.begin[o] = b;
    a.count[o] = a.div[o] = e - b;
  }
  return a;
}

// kernel_size / stride / padding / dilation: one value for every spatial dim, or k values.
Dims expand_arg(const char* op, const char* what, const Dims& v, int k) {
  if (v.size() == 1) return Dims(k, v[0]);
  if (int(v.size()) == k) return v;
  EMBER_VALUE_ERROR(op, ": ", what, " must be a single int or a tuple of ", k, " ints, got ", v);
}

// The plan of a max or avg pool, after PyTorch's argument checks.
std::shared_ptr<PoolPlan> regular_plan(const char* op, const Tensor& x, int k, const Dims& kernel_size,
                                       const Dims& stride_in, const Dims& padding_in, const Dims& dilation_in, bool ceil_mode, bool include_pad) {
  const Dims ks = expand_arg(op, "kernel_size", kernel_size, k);
  const Dims st = stride_in.empty() ? ks : expand_arg(op, "stride", stride_in, k);
  const Dims pd = expand_arg(op, "padding", padding_in, k);
  const Dims dl = expand_arg(op, "dilation", dilation_in, k);
  for (int i = 0; i < k; ++i) {
    if (ks[i] <= 0) EMBER_VALUE_ERROR(op, ": kernel_size must be greater than zero, got ", ks);
    if (st[i] <= 0) EMBER_VALUE_ERROR(op, ": stride must be greater than zero, got ", st);
    if (pd[i] < 0) EMBER_VALUE_ERROR(op, ": padding must be non-negative, got ", pd);
    if (dl[i] <= 0) EMBER_VALUE_ERROR(op, ": dilation must be greater than zero, got ", dl);
    if (pd[i] > ks[i] / 2)
      EMBER_VALUE_ERROR(op, ": padding should be at most half of kernel_size, got padding=", pd,
                        " and kernel_size=", ks);
  }
  const Shape sp = suffix(x.shape(), k);
  Dims outs(k);
  for (int i = 0; i < k; ++i) {
    outs[i] = pool_out_size(sp[i], ks[i], st[i], pd[i], dl[i], ceil_mode);
    if (outs[i] <= 0)
      EMBER_VALUE_ERROR(op, ": the output size is too small: input of shape ", x.shape(), " with kernel_size=", ks,
                        ", stride=", st, ", padding=", pd, ", dilation=", dl, " gives output size ", outs);
  }
  auto plan = std::make_shared<PoolPlan>();
  const int w = k - 1;
  build_tables(op, outs, x.shape(), [&] {
    plan->w = regular_axis(sp[w], outs[w], ks[w], st[w], pd[w], dl[w], include_pad);
    plan->h = k == 2 ? regular_axis(sp[0], outs[0], ks[0], st[0], pd[0], dl[0], include_pad) : trivial_axis();
  });
  bool pairs = true;  // every window 2 taps wide at stride 2, none clipped
  for (int i = 0; i < k; ++i) pairs &= ks[i] == 2 && st[i] == 2 && pd[i] == 0 && dl[i] == 1 && 2 * outs[i] <= sp[i];
  plan->k2s2 = pairs ? k : 0;
  return plan;
}

PlanPtr adaptive_plan(const char* op, const Tensor& x, int k, const std::vector<std::optional<int64_t>>& output_size) {
  if (output_size.size() != 1 && int(output_size.size()) != k)
    EMBER_VALUE_ERROR(op, ": output_size must be a single int or a tuple of ", k, " ints, got ",
                      output_size.size(), " values");
  const Shape sp = suffix(x.shape(), k);
  Dims outs(k);
  for (int i = 0; i < k; ++i) {
    const auto& o = output_size[output_size.size() == 1 ? 0 : i];
    outs[i] = o ? *o : sp[i];  // None keeps the input size
    if (outs[i] < 0) EMBER_VALUE_ERROR(op, ": elements of output_size must be non-negative, got ", outs);
  }
  auto plan = std::make_shared<PoolPlan>();
  build_tables(op, outs, x.shape(), [&] {
    plan->w = adaptive_axis(sp[k - 1], outs[k - 1]);
    plan->h = k == 2 ? adaptive_axis(sp[0], outs[0]) : trivial_axis();
  });
  return plan;
}

// ------------------------------------------------------------------- differentiable steps

// Names of the nodes each step records (first, second, third order...).
struct PoolNames {
  const char* forward;   // e.g. MaxPool2DWithIndicesBackward0
  const char* backward;  // the node of the backward step
};

Tensor avg_backward_step(const Tensor& g, const Shape& in_shape, const PlanPtr& plan, int k, PoolNames names);

// avg pool over the last k dims of x (the op, and the backward of avg_backward_step)
Tensor avg_step(const Tensor& x, const PlanPtr& plan, int k, PoolNames names) {
  const Shape lead = prefix(x.shape(), k);
  const int64_t P = shape_numel(lead);
  const PoolPlan& p = *plan;
  Tensor xc = compute_view(x, {P, p.h.in, p.w.in});
  Tensor out = empty({P, p.h.out, p.w.out}, xc.dtype(), x.device());
  if (out.numel()) kernel::avg_pool(x.device())(out, xc, p);
  Tensor r = finish(out, out_shape(lead, p, k), x.dtype());
  if (autograd::any_requires_grad(x))
    autograd::record(names.forward, {x}, {r}, {},
                     [plan, k, names, in_shape = x.shape()](const TensorList& g, const TensorList&,
                                                            const std::vector<bool>&) -> TensorList {
                       return {avg_backward_step(g[0], in_shape, plan, k, names)};
                     });
  return r;
}

// the transpose of avg_step: spread each output gradient over its window
Tensor avg_backward_step(const Tensor& g, const Shape& in_shape, const PlanPtr& plan, int k, PoolNames names) {
  const Shape lead = prefix(in_shape, k);
  const int64_t P = shape_numel(lead);
  const PoolPlan& p = *plan;
  Tensor gc = compute_view(g, {P, p.h.out, p.w.out});
  Tensor gx = empty({P, p.h.in, p.w.in}, gc.dtype(), g.device());
  if (gx.numel()) kernel::avg_pool_backward(g.device())(gx, gc, p);
  Tensor r = finish(gx, in_shape, g.dtype());
  if (autograd::any_requires_grad(g))
    autograd::record(names.backward, {g}, {r}, {},
                     [plan, k, names](const TensorList& gg, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {avg_step(gg[0], plan, k, names)};
                     });
  return r;
}

Tensor index_gather_step(const Tensor& x, const Tensor& idx, int k);

// gx = zeros(in_shape); gx.plane[idx] += g (the backward of a max pool)
Tensor index_scatter_step(const Tensor& g, const Tensor& idx, const Shape& in_shape, int k) {
  const int64_t P = shape_numel(prefix(in_shape, k)), S = shape_numel(suffix(in_shape, k));
  const int64_t L = shape_numel(suffix(idx.shape(), k));
  Tensor gc = compute_view(g, {P, L});
  Tensor ic = reshape(contiguous(idx), {P, L});
  Tensor gx = empty({P, S}, gc.dtype(), g.device());
  if (gx.numel()) kernel::pool_scatter(g.device())(gx, gc, ic);
  Tensor r = finish(gx, in_shape, g.dtype());
  if (autograd::any_requires_grad(g))
    autograd::record("MaxPoolBackwardBackward0", {g}, {r}, {idx},
                     [k](const TensorList& gg, const TensorList& s, const std::vector<bool>&) -> TensorList {
                       return {index_gather_step(gg[0], s[0], k)};
                     });
  return r;
}

// out = x.plane[idx] (the backward of index_scatter_step)
Tensor index_gather_step(const Tensor& x, const Tensor& idx, int k) {
  const int64_t P = shape_numel(prefix(x.shape(), k)), S = shape_numel(suffix(x.shape(), k));
  const int64_t L = shape_numel(suffix(idx.shape(), k));
  Tensor xc = compute_view(x, {P, S});
  Tensor ic = reshape(contiguous(idx), {P, L});
  Tensor out = empty({P, L}, xc.dtype(), x.device());
  if (out.numel()) kernel::pool_gather(x.device())(out, xc, ic);
  Tensor r = finish(out, idx.shape(), x.dtype());
  if (autograd::any_requires_grad(x))
    autograd::record("MaxPoolIndexGatherBackward0", {x}, {r}, {idx},
                     [k, in_shape = x.shape()](const TensorList& g, const TensorList& s,
                                               const std::vector<bool>&) -> TensorList {
                       return {index_scatter_step(g[0], s[0], in_shape, k)};
                     });
  return r;
}

// max pool over the last k dims of x; the indices are computed when asked for or needed for
// the backward (else idx is undefined)
std::pair<Tensor, Tensor> max_step(const Tensor& x, const PlanPtr& plan, int k, const char* name, bool indices) {
  const bool grad = autograd::any_requires_grad(x);
  const Shape lead = prefix(x.shape(), k);
  const int64_t P = shape_numel(lead);
  const PoolPlan& p = *plan;
  Tensor xc = compute_view(x, {P, p.h.in, p.w.in});
  Tensor out = empty({P, p.h.out, p.w.out}, xc.dtype(), x.device());
  Tensor idx = indices || grad ? empty({P, p.h.out, p.w.out}, Dtype::Int64, x.device()) : Tensor();
  if (out.numel()) kernel::max_pool(x.device())(out, idx, xc, p);
  const Shape os = out_shape(lead, p, k);
  Tensor r = finish(out, os, x.dtype());
  if (idx.defined()) idx = reshape(idx, os);
  if (grad)
    autograd::record(name, {x}, {r}, {idx},
                     [k, in_shape = x.shape()](const TensorList& g, const TensorList& s,
                                               const std::vector<bool>&) -> TensorList {
                       return {index_scatter_step(g[0], s[0], in_shape, k)};
                     });
  return {r, idx};
}

}  // namespace

// ------------------------------------------------------------------------------------ ops

static std::pair<Tensor, Tensor> max_pool_nd(const char* op, int k, const Tensor& x, const Dims& kernel_size,
                                             const Dims& stride, const Dims& padding, const Dims& dilation,
                                             bool ceil_mode, bool indices) {
  // PyTorch's integer max pools: 2-D always, 1-D only with indices (its value-only 1-D kernel
  // is floating point only)
  check_input(op, x, k, false, k == 2 || indices ? Ints::Max : Ints::None);
  auto plan = regular_plan(op, x, k, kernel_size, stride, padding, dilation, ceil_mode, true);
  return max_step(x, plan, k, k == 2 ? "MaxPool2DWithIndicesBackward0" : "MaxPool1DWithIndicesBackward0", indices);
}

std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, Dims kernel_size, Dims stride, Dims padding,
                                                  Dims dilation, bool ceil_mode) {
  return max_pool_nd("max_pool1d", 1, x, kernel_size, stride, padding, dilation, ceil_mode, true);
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Dims kernel_size, Dims stride, Dims padding,
                                                  Dims dilation, bool ceil_mode) {
  return max_pool_nd("max_pool2d", 2, x, kernel_size, stride, padding, dilation, ceil_mode, true);
}

Tensor max_pool1d(const Tensor& x, Dims kernel_size, Dims stride, Dims padding, Dims dilation, bool ceil_mode) {
  return max_pool_nd("max_pool1d", 1, x, kernel_size, stride, padding, dilation, ceil_mode, false).first;
}

Tensor max_pool2d(const Tensor& x, Dims kernel_size, Dims stride, Dims padding, Dims dilation, bool ceil_mode) {
  return max_pool_nd("max_pool2d", 2, x, kernel_size, stride, padding, dilation, ceil_mode, false).first;
}

Tensor avg_pool1d(const Tensor& x, Dims kernel_size, Dims stride, Dims padding, bool ceil_mode,
                  bool count_include_pad) {
  check_input("avg_pool1d", x, 1, false, Ints::I64);
  auto plan = regular_plan("avg_pool1d", x, 1, kernel_size, stride, padding, {1}, ceil_mode, count_include_pad);
  return avg_step(x, plan, 1, {"AvgPool1DBackward0", "AvgPool1DBackwardBackward0"});
}

Tensor avg_pool2d(const Tensor& x, Dims kernel_size, Dims stride, Dims padding, bool ceil_mode,
                  bool count_include_pad, std::optional<int64_t> divisor_override) {
  check_input("avg_pool2d", x, 2, false, Ints::I64);
  if (divisor_override && *divisor_override == 0) EMBER_VALUE_ERROR("avg_pool2d: divisor_override must be non-zero");
  auto plan = regular_plan("avg_pool2d", x, 2, kernel_size, stride, padding, {1}, ceil_mode, count_include_pad);
  if (divisor_override) plan->divisor_override = *divisor_override;
  return avg_step(x, plan, 2, {"AvgPool2DBackward0", "AvgPool2DBackwardBackward0"});
}

Tensor adaptive_avg_pool1d(const Tensor& x, const OptSizes& output_size) {
  check_input("adaptive_avg_pool1d", x, 1, true);
  auto plan = adaptive_plan("adaptive_avg_pool1d", x, 1, output_size);
  return avg_step(x, plan, 1, {"AdaptiveAvgPool1DBackward0", "AdaptiveAvgPool1DBackwardBackward0"});
}

Tensor adaptive_avg_pool2d(const Tensor& x, const OptSizes& output_size) {
  check_input("adaptive_avg_pool2d", x, 2, true);
  auto plan = adaptive_plan("adaptive_avg_pool2d", x, 2, output_size);
  return avg_step(x, plan, 2, {"AdaptiveAvgPool2DBackward0", "AdaptiveAvgPool2DBackwardBackward0"});
}

std::pair<Tensor, Tensor> adaptive_max_pool1d(const Tensor& x, const OptSizes& output_size) {
  check_input("adaptive_max_pool1d", x, 1, false);
  auto plan = adaptive_plan("adaptive_max_pool1d", x, 1, output_size);
  return max_step(x, plan, 1, "AdaptiveMaxPool1DBackward0", true);
}

std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& x, const OptSizes& output_size) {
  check_input("adaptive_max_pool2d", x, 2, false);
  auto plan = adaptive_plan("adaptive_max_pool2d", x, 2, output_size);
  return max_step(x, plan, 2, "AdaptiveMaxPool2DBackward0", true);
}

Tensor max_unpool2d(const Tensor& x, const Tensor& indices, Dims output_size) {
  const char* op = "max_unpool2d";
  if (!is_floating(x.dtype()))
    EMBER_TYPE_ERROR(op, ": not implemented for ", dtype_name(x.dtype()), " inputs (floating point only)");
  if (indices.dtype() != Dtype::Int64)
    EMBER_TYPE_ERROR(op, ": indices must be int64, got ", dtype_name(indices.dtype()));
  if (x.dim() != 3 && x.dim() != 4)
    EMBER_VALUE_ERROR(op, ": expected a 3-D (unbatched) or 4-D (batched) input, got shape ", x.shape());
  if (indices.shape() != x.shape())
    EMBER_VALUE_ERROR(op, ": indices must have the shape of the input ", x.shape(), ", got ", indices.shape());
  if (output_size.size() != 2)
    EMBER_VALUE_ERROR(op, ": output_size must hold 2 values (height, width), got ", output_size);
  if (output_size[0] < 0 || output_size[1] < 0)
    EMBER_VALUE_ERROR(op, ": output_size must be non-negative, got ", output_size);
  for (int64_t d = x.dim() - 3; d < x.dim(); ++d)
    if (x.shape()[d] == 0)
      EMBER_VALUE_ERROR(op, ": expected an input with non-zero sizes except for the batch dim, got shape ", x.shape());
  const Shape lead = prefix(x.shape(), 2);
  const int64_t P = shape_numel(lead), L = shape_numel(suffix(x.shape(), 2));
  const int64_t S = output_size[0] * output_size[1];
  Tensor xc = compute_view(x, {P, L});
  Tensor ic = reshape(contiguous(indices), {P, L});
  Tensor out = empty({P, S}, xc.dtype(), x.device());
  int64_t bad = 0;  // an empty output takes nothing and checks nothing (as PyTorch)
  if (P && S && !kernel::pool_unpool(x.device())(out, xc, ic, bad))
    EMBER_VALUE_ERROR(op, ": found an invalid max index ", bad, " (output planes are of size ", output_size[0],
                      "x", output_size[1], ")");
  Shape os = lead;
  os.push_back(output_size[0]);
  os.push_back(output_size[1]);
  Tensor r = finish(out, os, x.dtype());
  if (autograd::any_requires_grad(x))
    autograd::record("MaxUnpool2DBackward0", {x}, {r}, {indices},
                     [](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
                       return {index_gather_step(g[0], s[0], 2)};  // its backward: scatter-add
                     });
  return r;
}

}  // namespace ember
