// CPU sort / topk / unique. Each row is copied into a (key, index) buffer and sorted there:
// contiguous keys sort fast whatever the input strides, and breaking ties by index makes the
// order stable (and deterministic) even with std::sort. Rows are spread over the thread pool.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "backend/cpu/threadpool.h"
#include "backend/kernels_sort.h"

namespace ember::cpu {
namespace {

// Comparison key of a storage type: 16-bit floats compare as float, bool as uint8.
template <class T> struct key_type { using type = acc_t<T>; };
template <> struct key_type<bool> { using type = uint8_t; };
template <class T> using key_t = typename key_type<T>::type;

// a < b with NaN larger than everything (PyTorch's order); NaNs compare equal to each other.
template <class K>
inline bool less_nan(K a, K b) {
  if constexpr (std::is_floating_point_v<K>) return !std::isnan(a) && (std::isnan(b) || a < b);
  else return a < b;
}

template <class K>
using Entry = std::pair<K, int64_t>;

// Puts the first k entries of buf in sorted order (ascending or descending, ties by index).
template <class K, bool Desc>
void sort_entries(std::vector<Entry<K>>& buf, int64_t k) {
  auto cmp = [](const Entry<K>& x, const Entry<K>& y) {
    const K& a = Desc ? y.first : x.first;
    const K& b = Desc ? x.first : y.first;
    if (less_nan(a, b)) return true;
    if (less_nan(b, a)) return false;
    return x.second < y.second;
  };
  if (k >= int64_t(buf.size())) std::sort(buf.begin(), buf.end(), cmp);
  else std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), cmp);
}

// Element offsets of row r in a tensor whose last dim is the row dim.
inline int64_t row_offset(const Shape& shape, const Shape& strides, int64_t r) {
  int64_t off = 0;
  for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d) {
    off += (r % shape[d]) * strides[d];
    r /= shape[d];
  }
  return off;
}

template <class T>
void sort_rows(const Tensor& values, const Tensor& indices, const Tensor& x, bool descending) {
  using K = key_t<T>;
  const int64_t n = x.shape().back(), k = values.shape().back();
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  const int64_t sx = x.strides().back(), sv = values.strides().back(), si = indices.strides().back();
  const T* xp = x.data<T>();
  T* vp = values.data<T>();
  int64_t* ip = indices.data<int64_t>();
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
  parallel_for(0, rows, grain, [&](int64_t b, int64_t e) {
    std::vector<Entry<K>> buf(static_cast<size_t>(n));
    for (int64_t r = b; r < e; ++r) {
      const T* xr = xp + row_offset(x.shape(), x.strides(), r);
      for (int64_t j = 0; j < n; ++j) buf[j] = {K(xr[j * sx]), j};
      if (descending) sort_entries<K, true>(buf, k);
      else sort_entries<K, false>(buf, k);
      T* vr = vp + row_offset(values.shape(), values.strides(), r);
      int64_t* ir = ip + row_offset(indices.shape(), indices.strides(), r);
      for (int64_t j = 0; j < k; ++j) {
        vr[j * sv] = xr[buf[j].second * sx];  // copy the stored value (keeps -0.0 and NaN payloads)
        ir[j * si] = buf[j].second;
      }
    }
  });
}

void cpu_sort(const Tensor& values, const Tensor& indices, const Tensor& x, bool descending) {
  if (values.numel() == 0) return;
  dispatch_all(x.dtype(), [&]<class T>() { sort_rows<T>(values, indices, x, descending); });
}

// Row order of a [n, m] key matrix (lexicographic, NaN largest, ties by row index), and where
// each group of equal rows starts. Equality is ==, so NaN rows stay distinct like in PyTorch.
template <class K>
void unique_core(const std::vector<K>& keys, int64_t n, int64_t m, std::vector<int64_t>& order,
                 std::vector<int64_t>& starts) {
  order.resize(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  const K* kp = keys.data();
  if (m == 1) {  // plain values: sort (key, index) pairs, cache-friendly
    std::vector<Entry<K>> buf(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) buf[i] = {kp[i], i};
    sort_entries<K, false>(buf, n);
    for (int64_t i = 0; i < n; ++i) order[i] = buf[i].second;
  } else {
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      const K *ra = kp + a * m, *rb = kp + b * m;
      for (int64_t j = 0; j < m; ++j) {
        if (less_nan(ra[j], rb[j])) return true;
        if (less_nan(rb[j], ra[j])) return false;
      }
      return a < b;
    });
  }
  starts.clear();
  for (int64_t i = 0; i < n; ++i) {
    bool same = i > 0;
    for (int64_t j = 0; same && j < m; ++j) same = kp[order[i] * m + j] == kp[order[i - 1] * m + j];
    if (!same) starts.push_back(i);
  }
}

std::tuple<Tensor, Tensor, Tensor> cpu_unique(const Tensor& x, bool return_inverse, bool return_counts) {
  const int64_t n = x.shape()[0], m = x.shape()[1];
  std::vector<int64_t> order, starts;
  dispatch_all(x.dtype(), [&]<class T>() {
    using K = key_t<T>;
    std::vector<K> keys(static_cast<size_t>(n * m));
    const T* xp = x.data<T>();
    for (int64_t i = 0; i < n * m; ++i) keys[i] = K(xp[i]);
    unique_core<K>(keys, n, m, order, starts);
  });
  const int64_t u = int64_t(starts.size());
  Tensor values = empty({u, m}, x.dtype(), x.device());
  const int64_t row_bytes = m * x.itemsize();
  auto* src = static_cast<const char*>(x.raw_data());
  auto* dst = static_cast<char*>(values.raw_data());
  for (int64_t g = 0; g < u; ++g) std::memcpy(dst + g * row_bytes, src + order[starts[g]] * row_bytes, size_t(row_bytes));
  Tensor inverse, counts;
  if (return_inverse) {
    inverse = empty({n}, Dtype::Int64, x.device());
    int64_t* ip = inverse.data<int64_t>();
    for (int64_t g = 0; g < u; ++g) {
      const int64_t end = g + 1 < u ? starts[g + 1] : n;
      for (int64_t i = starts[g]; i < end; ++i) ip[order[i]] = g;
    }
  }
  if (return_counts) {
    counts = empty({u}, Dtype::Int64, x.device());
    int64_t* cp = counts.data<int64_t>();
    for (int64_t g = 0; g < u; ++g) cp[g] = (g + 1 < u ? starts[g + 1] : n) - starts[g];
  }
  return {values, inverse, counts};
}

}  // namespace

EMBER_REGISTER_KERNEL(sort, CPU, &cpu_sort);
EMBER_REGISTER_KERNEL(unique, CPU, &cpu_unique);

}  // namespace ember::cpu
