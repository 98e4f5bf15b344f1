// Copies, casts, fills and the in-place rules every in-place op follows.
#include "autograd/node.h"
#include "backend/kernels.h"
#include "ops/ops.h"

namespace ember {
using autograd::any_requires_grad;

void copy_kernel_call(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  Tensor s = src.shape() == dst.shape() ? src : expand(src, dst.shape());
  if (src.device() != dst.device()) {  // an explicit transfer (copy_, .to): unified memory, CPU copy
    synchronize(src.device());
    synchronize(dst.device());
    kernel::copy.host()(dst, s);
    return;
  }
  kernel::copy(dst.device())(dst, s);
}

Tensor to_device(const Tensor& x, Device device, std::optional<Dtype> dtype, bool copy) {
  Dtype dt = dtype.value_or(x.dtype());
  if (x.device() == device) return to_dtype(x, dt, copy);
  Tensor out = empty(x.shape(), dt, device);
  copy_kernel_call(out, x);
  if (any_requires_grad(x) && is_floating(dt)) {
    Dtype src_dtype = x.dtype();
    Device src_device = x.device();
    autograd::record("ToCopyBackward0", {x}, {out}, {},
                     [src_dtype, src_device](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {to_device(g[0], src_device, src_dtype)};
                     });
  }
  return out;
}

Tensor on_device(const Tensor& t, Device device, const char* op) {
  if (!t.defined() || t.device() == device) return t;
  // a CPU 0-d tensor (a Python number, a loss scale) may join a device op, as in PyTorch
  if (t.dim() == 0 && t.device() == Device::CPU) {
    Tensor r = to_device(t, device);
    r.impl()->wrapped_number = t.impl()->wrapped_number;
    return r;
  }
  EMBER_RUNTIME_ERROR(op, ": expected all tensors to be on the same device, but found at least two devices, ",
                      device_str(device), " and ", device_str(t.device()));
}

void check_inplace(const Tensor& x, const char* op) {
  if (x.storage()->read_only)  // e.g. np.load(..., mmap_mode="r"): writing would crash
    EMBER_RUNTIME_ERROR(op, ": the tensor shares the memory of a read-only (non-writable) array; clone() it first");
  if (!autograd::GradMode::enabled() || !x.requires_grad()) return;
  if (x.is_leaf())
    EMBER_RUNTIME_ERROR(op, ": a leaf Variable that requires grad is being used in an in-place operation.");
  if (x.impl()->is_view)
    EMBER_RUNTIME_ERROR(op, ": in-place modification of a view of a tensor that requires grad is not supported "
                        "(ember does not rewrite the base's history); use an out-of-place op or clone() first");
}

static void check_writable(const Tensor& x, const char* op) {
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.strides()[d] == 0 && x.shape()[d] > 1)
      EMBER_RUNTIME_ERROR(op, ": unsupported operation: more than one element of the written-to tensor refers to a "
                          "single memory location (an expanded tensor of shape ", x.shape(), "); clone() it first");
}

Tensor to_dtype(const Tensor& x, Dtype dtype, bool copy) {
  if (x.dtype() == dtype && !copy) return x;
  Tensor out = empty(x.shape(), dtype, x.device());
  copy_kernel_call(out, x);
  if (any_requires_grad(x) && is_floating(dtype)) {
    Dtype src = x.dtype();
    autograd::record("ToCopyBackward0", {x}, {out}, {},
                     [src](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {to_dtype(g[0], src)};
                     });
  }
  return out;
}

Tensor clone(const Tensor& x) {
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  copy_kernel_call(out, x);
  if (any_requires_grad(x))
    autograd::record("CloneBackward0", {x}, {out}, {},
                     [](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {g[0]};
                     });
  return out;
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

Tensor detach(const Tensor& x) { return alias_detached(x); }

Tensor& copy_(Tensor& dst, const Tensor& src) {
  check_inplace(dst, "copy_");
  check_writable(dst, "copy_");
  Shape bs = broadcast_shapes(dst.shape(), src.shape(), "copy_");
  EMBER_CHECK(bs == dst.shape(), "copy_: source of shape ", src.shape(), " cannot be broadcast to the destination shape ",
              dst.shape());
  bool track = any_requires_grad(dst, src) && is_floating(dst.dtype());
  // copying from an overlapping view (x.copy_(x.T)) must read everything before writing
  Tensor s = src.storage() == dst.storage() ? clone(detach(src)) : src;
  copy_kernel_call(dst, s);
  dst.bump_version();
  if (track) {
    Shape src_shape = src.shape();
    Dtype src_dtype = src.dtype();
    autograd::record("CopyBackwards", {dst, src}, {dst}, {},
                     [src_shape, src_dtype](const TensorList& g, const TensorList&, const std::vector<bool>& needs) -> TensorList {
                       Tensor gs = needs[1] ? to_dtype(sum_to(g[0], src_shape), src_dtype) : Tensor();
                       return {needs[0] ? zeros(g[0].shape(), g[0].dtype(), g[0].device()) : Tensor(), gs};
                     });
  }
  return dst;
}

Tensor& fill_(Tensor& x, const Scalar& value) {
  check_inplace(x, "fill_");
  check_writable(x, "fill_");
  check_scalar_fits(value, x.dtype(), "fill_");
  if (x.numel()) kernel::fill(x.device())(x, value);
  x.bump_version();
  if (autograd::GradMode::enabled() && x.requires_grad())
    autograd::record("FillBackward0", {x}, {x}, {},
                     [](const TensorList& g, const TensorList&, const std::vector<bool>&) -> TensorList {
                       return {zeros(g[0].shape(), g[0].dtype(), g[0].device())};
                     });
  return x;
}

Tensor& zero_(Tensor& x) { return fill_(x, Scalar(int64_t(0))); }

}  // namespace ember
