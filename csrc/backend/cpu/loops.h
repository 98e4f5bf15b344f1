#pragma once
// Strided iteration for elementwise kernels. All operands have the same shape (inputs are
// expanded views); dims are coalesced where memory allows, then the innermost run is handed to
// a loop body that the compiler vectorizes when the strides are unit or zero.
#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "backend/cpu/threadpool.h"
#include "core/tensor.h"

namespace ember::cpu {
// Internal linkage: this header is compiled with different ISA flags in several files, and
// one shared (ODR-merged) copy could hand AVX-512 code to the portable path.
namespace {

constexpr int kMaxOps = 4;
constexpr int kMaxDims = 25;
constexpr int64_t kGrain = 32768;  // elements per parallel chunk (memory-bound ops)

struct Iter {
  int nops = 0, ndim = 0;
  int64_t numel = 1;
  int64_t shape[kMaxDims];               // innermost first
  int64_t strides[kMaxDims][kMaxOps];    // bytes, per dim per operand
  char* data[kMaxOps];

  explicit Iter(std::initializer_list<const Tensor*> ts) {
    const Tensor& out = **ts.begin();
    int nd = int(out.dim());
    EMBER_CHECK(nd <= kMaxDims, "elementwise: tensors with more than ", kMaxDims, " dims are not supported");
    for (const Tensor* t : ts) {
      data[nops] = static_cast<char*>(t->raw_data());
      nops++;
    }
    numel = out.numel();
    // innermost first, dropping size-1 dims and merging contiguous neighbours
    for (int d = nd - 1; d >= 0; --d) {
      int64_t sz = out.shape()[d];
      if (sz == 1) continue;
      int64_t st[kMaxOps];
      int k = 0;
      for (const Tensor* t : ts) st[k++] = t->strides()[d] * t->itemsize();
      if (ndim > 0) {
        bool merge = true;
        for (int o = 0; o < nops; ++o)
          if (st[o] != strides[ndim - 1][o] * shape[ndim - 1]) merge = false;
        if (merge) {
          shape[ndim - 1] *= sz;
          continue;
        }
      }
      shape[ndim] = sz;
      for (int o = 0; o < nops; ++o) strides[ndim][o] = st[o];
      ndim++;
    }
    if (ndim == 0) {  // a single element
      shape[0] = 1;
      for (int o = 0; o < nops; ++o) strides[0][o] = 0;
      ndim = 1;
    }
  }

  // body(char** ptrs, const int64_t* inner_strides, int64_t n) over every innermost run.
  template <class F>
  void for_each(F&& body, int64_t grain = kGrain) {
    if (numel == 0) return;
    auto range = [&](int64_t b, int64_t e) {
      int64_t idx[kMaxDims] = {0};
      int64_t rest = b;
      for (int d = 0; d < ndim; ++d) {
        idx[d] = rest % shape[d];
        rest /= shape[d];
      }
      char* ptrs[kMaxOps];
      while (b < e) {
        int64_t n = std::min(shape[0] - idx[0], e - b);
        for (int o = 0; o < nops; ++o) {
          char* p = data[o];
          for (int d = 0; d < ndim; ++d) p += idx[d] * strides[d][o];
          ptrs[o] = p;
        }
        body(ptrs, strides[0], n);
        b += n;
        idx[0] = 0;
        for (int d = 1; d < ndim; ++d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
    };
    parallel_for(0, numel, grain, range);
  }
};

// Casting helpers between storage and compute types (Half/BFloat16 go through float).
template <class To, class From>
inline To cast(From v) {
  if constexpr (std::is_same_v<To, bool>) return static_cast<bool>(static_cast<acc_t<From>>(v));
  else if constexpr (std::is_same_v<To, Half> || std::is_same_v<To, BFloat16>) return To(static_cast<float>(static_cast<acc_t<From>>(v)));
  else return static_cast<To>(static_cast<acc_t<From>>(v));
}

// `flatten` inlines the functor into the loop whatever the inliner's budget says (GCC may
// otherwise fold identical lambdas of different instantiations and call them per element).
#if defined(__GNUC__)
#define EMBER_FLATTEN __attribute__((flatten))
#else
#define EMBER_FLATTEN
#endif

// out = f(a, b) over one run; the unit/zero-stride cases are separate loops so they vectorize.
template <class T, class R, class F>
EMBER_FLATTEN inline void binary_run(char** p, const int64_t* s, int64_t n, F&& f) {
  using A = acc_t<T>;
  R* o = reinterpret_cast<R*>(p[0]);
  const T* a = reinterpret_cast<const T*>(p[1]);
  const T* b = reinterpret_cast<const T*>(p[2]);
  constexpr int64_t ST = sizeof(T), SR = sizeof(R);
  if (s[0] == SR && s[1] == ST && s[2] == ST) {
    for (int64_t i = 0; i < n; ++i) o[i] = R(f(A(a[i]), A(b[i])));
  } else if (s[0] == SR && s[1] == ST && s[2] == 0) {
    const A bv = A(*b);
    for (int64_t i = 0; i < n; ++i) o[i] = R(f(A(a[i]), bv));
  } else if (s[0] == SR && s[1] == 0 && s[2] == ST) {
    const A av = A(*a);
    for (int64_t i = 0; i < n; ++i) o[i] = R(f(av, A(b[i])));
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<R*>(p[0] + i * s[0]) =
          R(f(A(*reinterpret_cast<const T*>(p[1] + i * s[1])), A(*reinterpret_cast<const T*>(p[2] + i * s[2]))));
  }
}

template <class T, class R, class F>
EMBER_FLATTEN inline void unary_run(char** p, const int64_t* s, int64_t n, F&& f) {
  using A = acc_t<T>;
  R* o = reinterpret_cast<R*>(p[0]);
  const T* a = reinterpret_cast<const T*>(p[1]);
  if (s[0] == sizeof(R) && s[1] == sizeof(T)) {
    for (int64_t i = 0; i < n; ++i) o[i] = R(f(A(a[i])));
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<R*>(p[0] + i * s[0]) = R(f(A(*reinterpret_cast<const T*>(p[1] + i * s[1]))));
  }
}

}  // namespace
}  // namespace ember::cpu
