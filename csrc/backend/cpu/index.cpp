// CPU kernels of the indexing family: index validation, advanced-index offsets, the generic
// gather / scatter loops and nonzero. See backend/kernels_index.h for the lowering.
#include <algorithm>
#include <limits>
#include <vector>

#include "backend/cpu/loops.h"
#include "backend/kernels_index.h"

namespace ember::cpu {
namespace {

constexpr int64_t kSerial = std::numeric_limits<int64_t>::max();

inline int64_t load_index(const char* p) { return *reinterpret_cast<const int64_t*>(p); }

[[noreturn]] void out_of_bounds(const char* op, int64_t v, int64_t dim, int64_t size) {
  EMBER_INDEX_ERROR(op, ": index ", v, " is out of bounds for dimension ", dim, " with size ", size);
}

void cpu_index_check(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  Iter it({&index});
  it.for_each([&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = load_index(p[0] + i * s[0]);
      if (v < 0 || v >= size) out_of_bounds(op, v, dim, size);
    }
  });
}

void cpu_index_offsets(const Tensor& offs, const Tensor& index, int64_t size, int64_t stride, bool add,
                       const char* op, int64_t dim) {
  Iter it({&offs, &index});
  it.for_each([&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = load_index(p[1] + i * s[1]);
      if (v < -size || v >= size) out_of_bounds(op, v, dim, size);
      if (v < 0) v += size;
      int64_t& o = *reinterpret_cast<int64_t*>(p[0] + i * s[0]);
      o = (add ? o : 0) + v * stride;
    }
  });
}

template <class T>
void gather_impl(const Tensor& out, const Tensor& src, const Tensor& index, int64_t stride) {
  Iter it({&out, &src, &index});
  it.for_each([&](char** p, const int64_t* s, int64_t n) {
    if (s[2] == 0) {  // one index for the whole run (index_select rows, advanced-index rows)
      const char* base = p[1] + load_index(p[2]) * stride * int64_t(sizeof(T));
      if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
        std::copy_n(reinterpret_cast<const T*>(base), n, reinterpret_cast<T*>(p[0]));
        return;
      }
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const T*>(base + i * s[1]);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = load_index(p[2] + i * s[2]);
      *reinterpret_cast<T*>(p[0] + i * s[0]) = reinterpret_cast<const T*>(p[1] + i * s[1])[k * stride];
    }
  });
}

void cpu_index_gather(const Tensor& out, const Tensor& src, const Tensor& index, int64_t stride) {
  dispatch_all(out.dtype(), [&]<class T>() { gather_impl<T>(out, src, index, stride); });
}

template <class T>
void scatter_run(const Tensor& dst, const Tensor& src, const Tensor& index, int64_t stride, bool accumulate,
                 acc_t<T> alpha) {
  using A = acc_t<T>;
  Iter it({&dst, &src, &index});
  it.for_each(
      [&](char** p, const int64_t* s, int64_t n) {
        // one index for the whole run (index_add / embedding-style rows): hoist it
        const int64_t k0 = s[2] == 0 ? load_index(p[2]) * stride : 0;
        for (int64_t i = 0; i < n; ++i) {
          int64_t k = s[2] == 0 ? k0 : load_index(p[2] + i * s[2]) * stride;
          T* d = reinterpret_cast<T*>(p[0] + i * s[0]) + k;
          T v = *reinterpret_cast<const T*>(p[1] + i * s[1]);
          if (accumulate) {
            if constexpr (std::is_same_v<T, bool>) *d = *d || (v && alpha);
            else *d = T(A(*d) + alpha * A(v));
          } else {
            *d = v;
          }
        }
      },
      kSerial);
}

// Writes collide only between elements that differ solely in the dims where dst has stride 0
// (the indexed ones): elements with different coordinates along a dim with a real stride hit
// different addresses. So chunks of such a dim run in parallel, each chunk serially.
template <class T>
void scatter_impl(const Tensor& dst, const Tensor& src, const Tensor& index, int64_t stride, bool accumulate,
                  acc_t<T> alpha) {
  int64_t pd = -1;
  for (int64_t d = 0; d < dst.dim(); ++d)
    if (dst.strides()[d] != 0 && dst.shape()[d] > 1 && (pd < 0 || dst.shape()[d] > dst.shape()[pd])) pd = d;
  int64_t numel = dst.numel();
  if (pd < 0 || numel <= kGrain || num_threads() == 1) {
    scatter_run<T>(dst, src, index, stride, accumulate, alpha);
    return;
  }
  int64_t len = dst.shape()[pd];
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, numel / len));
  auto chunk = [&](const Tensor& t, int64_t b, int64_t e) {
    Shape shape = t.shape();
    shape[pd] = e - b;
    return make_view(t, shape, t.strides(), t.offset() + b * t.strides()[pd]);
  };
  parallel_for(0, len, grain, [&](int64_t b, int64_t e) {
    scatter_run<T>(chunk(dst, b, e), chunk(src, b, e), chunk(index, b, e), stride, accumulate, alpha);
  });
}

void cpu_index_scatter(const Tensor& dst, const Tensor& src, const Tensor& index, int64_t stride, bool accumulate,
                       const Scalar& alpha) {
  dispatch_all(dst.dtype(), [&]<class T>() {
    scatter_impl<T>(dst, src, index, stride, accumulate, alpha.to<acc_t<T>>());
  });
}

template <class T>
Tensor nonzero_impl(const Tensor& x) {
  const T* data = x.data<T>();
  const int64_t numel = x.numel(), nd = x.dim();
  if (numel == 0) return empty({0, nd}, Dtype::Int64, x.device());
  auto nz = [](T v) {
    if constexpr (std::is_same_v<T, bool>) return v;
    else return acc_t<T>(v) != acc_t<T>(0);  // NaN counts as non-zero, like PyTorch
  };
  // Count per chunk in parallel, then each chunk writes from its prefix-sum position.
  int64_t nchunks = std::clamp<int64_t>(numel / kGrain, 1, int64_t(num_threads()) * 4);
  int64_t chunk = (numel + nchunks - 1) / std::max<int64_t>(nchunks, 1);
  std::vector<int64_t> start(nchunks + 1, 0);
  parallel_for(0, nchunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      int64_t cnt = 0;
      for (int64_t i = c * chunk, end = std::min(numel, i + chunk); i < end; ++i) cnt += nz(data[i]);
      start[c + 1] = cnt;
    }
  });
  for (int64_t c = 0; c < nchunks; ++c) start[c + 1] += start[c];
  Tensor out = empty({start[nchunks], nd}, Dtype::Int64, x.device());
  int64_t* o = out.data<int64_t>();
  const Shape& shape = x.shape();
  parallel_for(0, nchunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      int64_t* w = o + start[c] * nd;
      int64_t i = c * chunk, end = std::min(numel, i + chunk);
      if (i >= end) continue;
      // coordinates of element i, advanced like an odometer (no division per element)
      std::vector<int64_t> coord(nd);
      for (int64_t d = nd - 1, rest = i; d >= 0; --d) {
        coord[d] = rest % shape[d];
        rest /= shape[d];
      }
      for (; i < end; ++i) {
        if (nz(data[i])) {
          std::copy_n(coord.data(), nd, w);
          w += nd;
        }
        for (int64_t d = nd - 1; d >= 0 && ++coord[d] == shape[d]; --d) coord[d] = 0;
      }
    }
  });
  return out;
}

Tensor cpu_nonzero(const Tensor& x) {
  return dispatch_all(x.dtype(), [&]<class T>() { return nonzero_impl<T>(x); });
}

}  // namespace
}  // namespace ember::cpu

EMBER_REGISTER_KERNEL(index_check, CPU, &ember::cpu::cpu_index_check);
EMBER_REGISTER_KERNEL(index_offsets, CPU, &ember::cpu::cpu_index_offsets);
EMBER_REGISTER_KERNEL(index_gather, CPU, &ember::cpu::cpu_index_gather);
EMBER_REGISTER_KERNEL(index_scatter, CPU, &ember::cpu::cpu_index_scatter);
EMBER_REGISTER_KERNEL(nonzero, CPU, &ember::cpu::cpu_nonzero);
