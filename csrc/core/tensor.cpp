#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autograd/node.h"

namespace ember {

TensorImpl::~TensorImpl() = default;

void TensorImpl::refresh() {
  numel = shape_numel(shape);
  contiguous = true;
  if (numel == 0) return;  // (an empty tensor's sides may multiply past int64)
  int64_t expected = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expected) { contiguous = false; break; }
    expected *= shape[i];
  }
}

int64_t Tensor::size(int64_t d) const {
  if (dim() == 0) EMBER_INDEX_ERROR("size: dimension specified as ", d, " but tensor has no dimensions");
  return impl_->shape[wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  if (dim() == 0) EMBER_INDEX_ERROR("stride: dimension specified as ", d, " but tensor has no dimensions");
  return impl_->strides[wrap_dim(d, dim(), "stride")];
}

bool Tensor::requires_grad() const { return impl_->autograd && impl_->autograd->requires_grad; }

Tensor& Tensor::set_requires_grad(bool r) {
  if (r && !is_floating(dtype()))
    EMBER_TYPE_ERROR("requires_grad_: only floating point tensors can require gradients, got ", dtype_name(dtype()));
  if (!r && !impl_->autograd) return *this;
  if (!r && impl_->autograd->grad_fn)
    EMBER_RUNTIME_ERROR("requires_grad_: you can only change requires_grad flags of leaf tensors; use detach()");
  autograd_meta().requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const { return impl_->autograd ? impl_->autograd->grad : Tensor(); }
void Tensor::set_grad(const Tensor& g) {
  if (compile::g_tracing) compile::note_set_grad(*this);
  autograd_meta().grad = g;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  return impl_->autograd ? impl_->autograd->grad_fn : nullptr;
}
uint32_t Tensor::output_nr() const { return impl_->autograd ? impl_->autograd->output_nr : 0; }
bool Tensor::is_leaf() const { return !impl_->autograd || !impl_->autograd->grad_fn; }

AutogradMeta& Tensor::autograd_meta() {
  if (!impl_->autograd) impl_->autograd = std::make_unique<AutogradMeta>();
  return *impl_->autograd;
}

Scalar Tensor::item() const {
  EMBER_CHECK(numel() == 1, "item: a Tensor with ", numel(), " elements cannot be converted to a scalar");
  synchronize(device());  // a device kernel may still be writing it
  return dispatch_all(dtype(), [&]<class T>() -> Scalar {
    T v = *data<T>();
    if constexpr (std::is_same_v<T, bool>) return Scalar(v);
    else if constexpr (std::is_integral_v<T>) return Scalar(int64_t(v));
    else return Scalar(double(acc_t<T>(v)));
  });
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    st[i] = s;
    // only an empty tensor's sides can overflow this (checked_numel): any stride serves it
    if (__builtin_mul_overflow(s, std::max<int64_t>(shape[i], 1), &s)) s = INT64_MAX;
  }
  return st;
}

int64_t shape_numel(const Shape& shape) {
  // a 0 side first: the product of the others may overflow int64 (zeros(2**62, 2**62, 0))
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

int64_t checked_numel(const Shape& shape, const char* op, int64_t itemsize) {
  // The product of the nonzero sides must fit in int64 even for an empty tensor (PyTorch refuses
  // such sizes too): strides and the reductions over the other sides are computed from them.
  int64_t n = 1;
  bool overflow = false, zero = false;
  for (auto s : shape) {
    if (s < 0) EMBER_VALUE_ERROR(op, ": negative dimension ", s, " in size ", shape);
    if (s == 0) zero = true;
    else overflow |= __builtin_mul_overflow(n, s, &n);
  }
  if (overflow)
    EMBER_VALUE_ERROR(op, ": size ", shape, " is too large (the product of its ", zero ? "nonzero sides" : "sides",
                      " overflows int64)");
  if (zero) return 0;
  int64_t bytes;
  if (__builtin_mul_overflow(n, itemsize, &bytes))
    EMBER_VALUE_ERROR(op, ": size ", shape, " is too large (its byte size overflows int64)");
  return n;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // 0-d tensors accept dim 0 / -1 like PyTorch
  if (dim < -n || dim >= n)
    EMBER_INDEX_ERROR(op, ": dimension out of range (expected to be in range of [", -n, ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

std::string shape_str(const Shape& s) { return detail::cat(s); }

Tensor empty(const Shape& shape, Dtype dtype, Device device) {
  const int64_t n = checked_numel(shape, "empty", ember::itemsize(dtype));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->numel = n;
  impl->storage = Storage::allocate(size_t(n) * ember::itemsize(dtype), device);
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& src, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = src.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = src.dtype();
  impl->is_view = true;
  impl->refresh();
  return Tensor(std::move(impl));
}

Tensor alias_detached(const Tensor& t) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = t.shape();
  impl->strides = t.strides();
  impl->offset = t.offset();
  impl->dtype = t.dtype();
  impl->numel = t.numel();
  impl->contiguous = t.is_contiguous();
  impl->is_view = t.impl()->is_view;
  return Tensor(std::move(impl));
}

Tensor scalar_tensor(const Scalar& s, Dtype dtype) {
  Tensor t = empty({}, dtype);
  dispatch_all(dtype, [&]<class T>() { *t.data<T>() = s.to<acc_t<T>>(); });
  return t;
}

void check_scalar_fits(const Scalar& s, Dtype dtype, const char* op) {
  if (!is_integral(dtype, false)) return;
  int64_t lo = dtype == Dtype::UInt8 ? -255 : dtype == Dtype::Int32 ? INT32_MIN : INT64_MIN;
  int64_t hi = dtype == Dtype::UInt8 ? 255 : dtype == Dtype::Int32 ? INT32_MAX : INT64_MAX;
  // floats truncate toward zero (NaN fails every comparison); INT64_MAX rounds up to the double
  // 2^63, which itself does not fit
  const double t = std::trunc(s.d);
  bool fits = s.is_float() ? t >= double(lo) && t <= double(hi) && t < 0x1p63 : s.i >= lo && s.i <= hi;
  if (!fits)
    EMBER_RUNTIME_ERROR(op, ": value ", s.is_float() ? detail::cat(s.d) : detail::cat(s.i),
                        " cannot be converted to type ", dtype_name(dtype), " without overflow");
}

Tensor wrapped_scalar(const Scalar& s) {
  Tensor t = scalar_tensor(s, s.natural_dtype());
  t.impl()->wrapped_number = true;
  return t;
}

}  // namespace ember
