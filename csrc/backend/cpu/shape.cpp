// CPU kernels of the shape family: flip, tril/triu, one_hot.
// flip and tri only move bits, so they dispatch on the element size (4 instantiations) rather
// than on the dtype; a zero bit pattern is 0 / +0.0 / false in every dtype.
#include <algorithm>
#include <cstring>

#include "backend/cpu/threadpool.h"
#include "backend/kernels_shape.h"

namespace ember::cpu {
namespace {

template <class F>
void dispatch_size(int64_t size, F&& f) {
  switch (size) {
    case 1: return f.template operator()<uint8_t>();
    case 2: return f.template operator()<uint16_t>();
    case 4: return f.template operator()<uint32_t>();
    default: return f.template operator()<uint64_t>();
  }
}

// Walks the rows (all dims but the last) of a strided view in order, keeping the element
// offset of the current row's first element.
struct RowCursor {
  const Shape& shape;
  const Shape& strides;
  Shape idx;
  int64_t off = 0;

  RowCursor(const Shape& sh, const Shape& st, int64_t row) : shape(sh), strides(st), idx(sh.size(), 0) {
    for (int64_t d = int64_t(sh.size()) - 2; d >= 0; --d) {
      idx[d] = row % sh[d];
      row /= sh[d];
      off += idx[d] * st[d];
    }
  }
  void next() {
    for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d) {
      off += strides[d];
      if (++idx[d] < shape[d]) return;
      off -= shape[d] * strides[d];
      idx[d] = 0;
    }
  }
};

// 0-d tensors are handled as [1].
Shape shape_1d(const Tensor& t) { return t.dim() ? t.shape() : Shape{1}; }
Shape strides_1d(const Tensor& t) { return t.dim() ? t.strides() : Shape{1}; }

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1)); }

void cpu_flip(const Tensor& out, const Tensor& x, const std::vector<bool>& flips) {
  Shape shape = shape_1d(x), strides = strides_1d(x);
  // A reversed dim is read from its last element with a negated stride.
  int64_t base = 0;
  for (size_t d = 0; d < flips.size() && x.dim(); ++d) {
    if (!flips[d] || shape[d] == 0) continue;
    base += (shape[d] - 1) * strides[d];
    strides[d] = -strides[d];
  }
  const int64_t cols = shape.back(), rows = out.numel() / std::max<int64_t>(cols, 1);
  const int64_t sc = strides.back();
  dispatch_size(x.itemsize(), [&]<class T>() {
    const T* src = static_cast<const T*>(x.raw_data()) + base;
    T* dst = static_cast<T*>(out.raw_data());
    parallel_for(0, rows, row_grain(cols), [&](int64_t b, int64_t e) {
      RowCursor cur(shape, strides, b);
      for (int64_t r = b; r < e; ++r, cur.next()) {
        const T* s = src + cur.off;
        T* o = dst + r * cols;
        for (int64_t j = 0; j < cols; ++j) o[j] = s[j * sc];
      }
    });
  });
}

void cpu_tri(const Tensor& out, const Tensor& x, int64_t k, bool lower) {
  const Shape& shape = x.shape();
  const Shape& strides = x.strides();
  const int64_t R = shape[shape.size() - 2], C = shape.back(), rows = out.numel() / C;
  const int64_t sc = strides.back();
  dispatch_size(x.itemsize(), [&]<class T>() {
    const T* src = static_cast<const T*>(x.raw_data());
    T* dst = static_cast<T*>(out.raw_data());
    parallel_for(0, rows, row_grain(C), [&](int64_t b, int64_t e) {
      RowCursor cur(shape, strides, b);
      for (int64_t r = b; r < e; ++r, cur.next()) {
        const T* s = src + cur.off;
        T* o = dst + r * C;
        // kept columns of row i: [0, i + k] (lower) or [i + k, C) (upper)
        const int64_t i = r % R;
        const int64_t lo = lower ? 0 : std::clamp<int64_t>(i + k, 0, C);
        const int64_t hi = lower ? std::clamp<int64_t>(i + k + 1, 0, C) : C;
        for (int64_t j = 0; j < lo; ++j) o[j] = T(0);
        for (int64_t j = lo; j < hi; ++j) o[j] = s[j * sc];
        for (int64_t j = hi; j < C; ++j) o[j] = T(0);
      }
    });
  });
}

void cpu_one_hot(const Tensor& out, const Tensor& idx, int64_t num_classes) {
  int64_t* o = out.data<int64_t>();
  const int64_t* id = idx.data<int64_t>();
  const int64_t n = idx.numel();
  std::memset(o, 0, size_t(out.numel()) * sizeof(int64_t));
  for (int64_t i = 0; i < n; ++i) o[i * num_classes + id[i]] = 1;
}

}  // namespace

EMBER_REGISTER_KERNEL(flip, CPU, &cpu_flip);
EMBER_REGISTER_KERNEL(tri, CPU, &cpu_tri);
EMBER_REGISTER_KERNEL(one_hot, CPU, &cpu_one_hot);

}  // namespace ember::cpu
