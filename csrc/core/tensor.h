#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compile/hooks.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/scalar.h"
#include "core/storage.h"

namespace ember {

using Shape = std::vector<int64_t>;

namespace autograd {
struct Node;
}
struct AutogradMeta;

// Everything a tensor is: a view (shape, strides in elements, offset) of a storage, plus
// autograd metadata when it takes part in differentiation.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  int64_t offset = 0;
  int64_t numel = 1;
  Dtype dtype = Dtype::Float32;
  bool contiguous = true;
  bool wrapped_number = false;  // a Python scalar turned into a 0-d tensor (weak for promotion)
  bool is_view = false;
  std::unique_ptr<AutogradMeta> autograd;
  ~TensorImpl();
  void refresh();  // recompute numel and contiguous after shape/strides change
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return bool(impl_); }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return int64_t(impl_->shape.size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const { return impl_->numel; }
  int64_t offset() const { return impl_->offset; }
  Dtype dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device; }
  bool is_contiguous() const { return impl_->contiguous; }
  int64_t itemsize() const { return ember::itemsize(impl_->dtype); }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }

  void* raw_data() const {
    if (compile::g_tracing) compile::note_host_access(impl_->storage.get());
    return static_cast<char*>(impl_->storage->data) + impl_->offset * itemsize();
  }
  // Host access: a device tensor is synchronized first (unified memory; a queued kernel may still
  // write it). Device launch code binds raw_data(), which never waits.
  template <class T> T* data() const {
    if (impl_->storage->device != Device::CPU) [[unlikely]] synchronize(impl_->storage->device);
    return static_cast<T*>(raw_data());
  }

  // autograd
  bool requires_grad() const;
  Tensor& set_requires_grad(bool r);
  Tensor grad() const;
  void set_grad(const Tensor& g);
  std::shared_ptr<autograd::Node> grad_fn() const;
  uint32_t output_nr() const;
  bool is_leaf() const;
  AutogradMeta& autograd_meta();  // creates it on first use
  uint32_t version() const { return impl_->storage->version; }
  void bump_version() const { impl_->storage->version++; }

  // convenience for backward formulas
  Scalar item() const;
  Tensor operator-() const;

  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

using TensorList = std::vector<Tensor>;

struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
  uint32_t output_nr = 0;
  std::shared_ptr<autograd::Node> grad_accumulator;  // leaves: where their grads land
  std::string name;
};

// shape helpers
Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
// Element count of a shape a tensor may be created with: ValueError (naming op) for a negative
// size, or when the product of the nonzero sides (even of an empty shape) or the byte size at
// `itemsize` does not fit in int64.
int64_t checked_numel(const Shape& shape, const char* op, int64_t itemsize = 1);
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);  // IndexError when out of range
std::string shape_str(const Shape& s);

// A fresh contiguous tensor (uninitialized).
Tensor empty(const Shape& shape, Dtype dtype, Device device = Device::CPU);
// A tensor viewing `src`'s storage with new geometry (no autograd).
Tensor make_view(const Tensor& src, Shape shape, Shape strides, int64_t offset);
// A 0-d tensor holding a Python number (for promotion it counts as a wrapped scalar).
Tensor scalar_tensor(const Scalar& s, Dtype dtype);
// Fills and other Python-number-to-tensor conversions (PyTorch's checked conversion): integer
// dtypes reject NaN, infinities and values outside their range (uint8 also takes [-255, -1],
// which wrap), where the C++ conversion would be undefined. RuntimeError naming op.
void check_scalar_fits(const Scalar& s, Dtype dtype, const char* op);
Tensor wrapped_scalar(const Scalar& s);
// Same data and geometry, no autograd history (what .detach() returns).
Tensor alias_detached(const Tensor& t);

}  // namespace ember
