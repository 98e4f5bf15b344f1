// CPU reductions and softmax, compiled per ISA alongside elementwise_impl.h.
// x arrives as [outer..., reduced...]; when the reduced block is contiguous each output is a
// row reduction with several independent accumulators (so it vectorizes without fast-math);
// when the kept block is contiguous instead, rows are accumulated column-wise.
#include "backend/cpu/dense.h"
#include "backend/cpu/loops.h"
#include "backend/cpu/simd.h"
#include "backend/cpu/simd_math.h"
#include "backend/kernels.h"

#include <cstring>
#include <limits>
#include <memory>

namespace ember::cpu::EMBER_ISA_NS {
namespace {

constexpr int kLanes = 16;
constexpr int kSumLanes = 64;  // 8 AVX2 accumulators: hides the FP-add latency of a long row

template <class A>
inline A mul(A a, A b) {
  if constexpr (std::is_same_v<A, bool>) return a && b;
  else return a * b;
}

template <class A>
A vextreme(const A* x, int64_t n, bool is_max) {
  constexpr int W = kNativeVecBytes / sizeof(A);
  if (n < 2 * W) {
    A best = x[0];
    for (int64_t i = 1; i < n; ++i) {
      A v = x[i];
      if (best != best) break;
      if (v != v || (is_max ? v > best : v < best)) best = v;
    }
    return best;
  }
  SimdVec<A> m0 = simd_load(x), m1 = simd_load(x + W);
  int64_t i = 2 * W;
  // NaN wins: pick v where it is better or NaN
  if (is_max) {
    for (; i + 2 * W <= n; i += 2 * W) {
      SimdVec<A> v0 = simd_load(x + i), v1 = simd_load(x + i + W);
      m0 = (v0 > m0) | (v0 != v0) ? v0 : m0;
      m1 = (v1 > m1) | (v1 != v1) ? v1 : m1;
    }
  } else {
    for (; i + 2 * W <= n; i += 2 * W) {
      SimdVec<A> v0 = simd_load(x + i), v1 = simd_load(x + i + W);
      m0 = (v0 < m0) | (v0 != v0) ? v0 : m0;
      m1 = (v1 < m1) | (v1 != v1) ? v1 : m1;
    }
  }
  A best = m0[0];
  auto take = [&](A v) {
    if (best != best) return;
    if (v != v || (is_max ? v > best : v < best)) best = v;
  };
  for (int j = 0; j < W; ++j) take(m0[j]), take(m1[j]);
  for (; i < n; ++i) take(x[i]);
  return best;
}

template <class T, class Acc>
Acc row_sum(const T* x, int64_t n) {
  if constexpr (std::is_same_v<T, Acc> && std::is_floating_point_v<T>) {
    // blocks keep float error small: vector lanes within a block, block totals in double
    double total = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 16384) total += double(stream_sum(x + b0, std::min<int64_t>(16384, n - b0)));
    return Acc(total);
  }
  // blocks keep float error small: lanes within a block, block totals in double
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += 4096) {
    int64_t b1 = std::min(n, b0 + 4096);
    Acc lane[kSumLanes] = {};
    int64_t i = b0;
    for (; i + kSumLanes <= b1; i += kSumLanes)
      for (int j = 0; j < kSumLanes; ++j) lane[j] += Acc(x[i + j]);
    Acc s = 0;
    for (; i < b1; ++i) s += Acc(x[i]);
    for (int j = 0; j < kSumLanes; ++j) s += lane[j];
    total += double(s);
  }
  return Acc(total);
}
template <class T, class Acc>
Acc row_sum_int(const T* x, int64_t n) {
  Acc s = 0;
  for (int64_t i = 0; i < n; ++i) s += Acc(x[i]);
  return s;
}

template <class A>
inline bool better(A v, A best, bool is_max) {
  if constexpr (std::is_floating_point_v<A>) {
    if (best != best) return false;  // NaN already wins
    if (v != v) return true;
  }
  return is_max ? v > best : v < best;
}

// max/min of a contiguous row with lanes (NaN propagates)
template <class T>
acc_t<T> row_extreme(const T* x, int64_t n, bool is_max) {
  using A = acc_t<T>;
  if constexpr (std::is_same_v<T, A> && std::is_floating_point_v<A>) return vextreme(x, n, is_max);
  A lane[kLanes];
  int64_t i = 0;
  if (n >= kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[j] = A(x[j]);
    for (i = kLanes; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        A v = A(x[i + j]);
        lane[j] = is_max ? (v > lane[j] || v != v ? v : lane[j]) : (v < lane[j] || v != v ? v : lane[j]);
      }
  }
  A best = n >= kLanes ? lane[0] : A(x[0]);
  if (n >= kLanes)
    for (int j = 1; j < kLanes; ++j)
      if (better(lane[j], best, is_max)) best = lane[j];
  for (int64_t k = (n >= kLanes ? i : 1); k < n; ++k)
    if (better(A(x[k]), best, is_max)) best = A(x[k]);
  return best;
}

template <class T>
void reduce_row(ReduceOp op, const T* x, int64_t n, T* out, int64_t* idx) {
  using A = acc_t<T>;
  switch (op) {
    case ReduceOp::Sum:
      if constexpr (std::is_floating_point_v<A>) *out = T(row_sum<T, A>(x, n));
      else *out = T(row_sum_int<T, A>(x, n));
      return;
    case ReduceOp::Prod: {
      A p = 1;
      for (int64_t i = 0; i < n; ++i) p = mul(p, A(x[i]));
      *out = T(p);
      return;
    }
    case ReduceOp::Max: case ReduceOp::Min: case ReduceOp::ArgMax: case ReduceOp::ArgMin: {
      bool is_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
      if (!idx) {
        *out = T(row_extreme(x, n, is_max));
        return;
      }
      A best = A(x[0]);
      int64_t bi = 0;
      for (int64_t i = 1; i < n; ++i)
        if (better(A(x[i]), best, is_max)) best = A(x[i]), bi = i;
      if (out) *out = T(best);
      *idx = bi;
      return;
    }
    case ReduceOp::All: case ReduceOp::Any: {
      bool want = op == ReduceOp::Any, r = !want;
      for (int64_t i = 0; i < n; ++i)
        if (bool(A(x[i])) == want) { r = want; break; }
      *out = T(r);
      return;
    }
  }
}

// Kept dims contiguous, reduced dims outside: acc[o] (+)= x[r, o] over each reduced index r.
template <class T>
void reduce_cols(ReduceOp op, const T* x, int64_t R, const int64_t* rshape, const int64_t* rstride, int nr,
                 int64_t ocount, T* out) {
  using A = acc_t<T>;
  parallel_for(0, ocount, 4096, [&](int64_t b, int64_t e) {
    std::unique_ptr<A[]> acc(new A[e - b]);
    int64_t ridx[kMaxDims] = {0};
    for (int64_t r = 0; r < R; ++r) {
      int64_t off = 0;
      for (int d = 0; d < nr; ++d) off += ridx[d] * rstride[d];
      const T* row = x + off + b;
      A* a = acc.get();
      int64_t n = e - b;
      if (r == 0) {
        for (int64_t i = 0; i < n; ++i) a[i] = A(row[i]);
      } else if (op == ReduceOp::Sum) {
        for (int64_t i = 0; i < n; ++i) a[i] += A(row[i]);
      } else if (op == ReduceOp::Prod) {
        for (int64_t i = 0; i < n; ++i) a[i] = mul(a[i], A(row[i]));
      } else if (op == ReduceOp::Max) {
        for (int64_t i = 0; i < n; ++i) { A v = A(row[i]); a[i] = (v > a[i] || v != v) ? v : a[i]; }
      } else {
        for (int64_t i = 0; i < n; ++i) { A v = A(row[i]); a[i] = (v < a[i] || v != v) ? v : a[i]; }
      }
      for (int d = nr - 1; d >= 0; --d) {  // advance the reduced multi-index (last dim fastest)
        if (++ridx[d] < rshape[d]) break;
        ridx[d] = 0;
      }
    }
    for (int64_t i = 0; i < e - b; ++i) out[b + i] = T(acc[i]);
  });
}

}  // namespace

void reduce_kernel(ReduceOp op, const Tensor& out, const Tensor& idx, const Tensor& xin, int nreduce) {
  int nd = int(xin.dim()), nouter = nd - nreduce;
  int64_t R = 1;
  for (int d = nouter; d < nd; ++d) R *= xin.shape()[d];
  const int64_t O = out.defined() ? out.numel() : idx.numel();
  if (O == 0) return;
  // column path: contiguous kept block, plain Sum/Prod/Max/Min without indices
  bool kept_contig = nouter > 0 && !idx.defined() && op != ReduceOp::All && op != ReduceOp::Any &&
                     op != ReduceOp::ArgMax && op != ReduceOp::ArgMin && R > 0;
  if (kept_contig) {
    int64_t expect = 1;
    for (int d = nouter - 1; d >= 0; --d) {
      if (xin.shape()[d] != 1 && xin.strides()[d] != expect) { kept_contig = false; break; }
      expect *= xin.shape()[d];
    }
    if (kept_contig && out.is_contiguous() && O >= 16) {
      dispatch_all(xin.dtype(), [&]<class T>() {
        reduce_cols<T>(op, xin.data<T>(), R, xin.shape().data() + nouter, xin.strides().data() + nouter, nreduce, O,
                       out.data<T>());
      });
      return;
    }
  }
  // row path: reduced block contiguous (copy when it is not)
  Tensor x = xin;
  bool rows_contig = true;
  {
    int64_t expect = 1;
    for (int d = nd - 1; d >= nouter; --d) {
      if (x.shape()[d] != 1 && x.strides()[d] != expect) { rows_contig = false; break; }
      expect *= x.shape()[d];
    }
  }
  if (!rows_contig) x = dense(xin, xin.dtype());
  // offset of each outer row
  Shape oshape(x.shape().begin(), x.shape().begin() + nouter), ostr(x.strides().begin(), x.strides().begin() + nouter);
  dispatch_all(x.dtype(), [&]<class T>() {
    const T* base = x.data<T>();
    T* o = out.defined() ? out.data<T>() : nullptr;
    int64_t* ip = idx.defined() ? idx.data<int64_t>() : nullptr;
    auto row_ptr = [&](int64_t r) {
      int64_t off = 0;
      for (int d = nouter - 1; d >= 0; --d) {
        off += (r % oshape[d]) * ostr[d];
        r /= oshape[d];
      }
      return base + off;
    };
    if (R == 0) {  // empty reduction: identity (max/min of empty is rejected by the op)
      for (int64_t r = 0; r < O; ++r)
        if (o) o[r] = T(op == ReduceOp::Prod || op == ReduceOp::All ? 1 : 0);
      return;
    }
    if (O == 1 && op == ReduceOp::Sum && R >= 2 * kGrain && num_threads() > 1) {
      // one long row: fixed-size pieces claimed by the threads, partial sums combined in
      // double in piece order (the same result for any thread count)
      constexpr int64_t kPiece = 1 << 18;
      const int64_t np = (R + kPiece - 1) / kPiece;
      std::vector<double> part(np, 0.0);
      parallel_for(0, np, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          const int64_t s = t * kPiece, n = std::min(R, s + kPiece) - s;
          T v;
          reduce_row<T>(op, base + s, n, &v, nullptr);
          part[t] = double(acc_t<T>(v));
        }
      });
      double tot = 0;
      for (double p : part) tot += p;
      o[0] = T(acc_t<T>(tot));
      return;
    }
    parallel_for(0, O, std::max<int64_t>(1, kGrain / std::max<int64_t>(R, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) reduce_row<T>(op, row_ptr(r), R, o ? o + r : nullptr, ip ? ip + r : nullptr);
    });
  });
}

// exp(x - m) over a row into y, returning the sum (lanes keep the loop vectorized)
template <class A>
EMBER_FLATTEN A exp_shift_sum(const A* x, A* y, int64_t n, A m) {
  for (int64_t k = 0; k < n; ++k) y[k] = exp_nonpos(x[k] - m);
  return row_sum<A, A>(y, n);
}

void softmax_kernel(const Tensor& out, const Tensor& x, bool log) {
  const int64_t n = x.shape().back(), rows = n ? x.numel() / n : 0;
  dispatch_floating(x.dtype(), "softmax", [&]<class T>() {
    using A = acc_t<T>;
    constexpr bool direct = std::is_same_v<T, A>;
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
      // 16-bit inputs are widened into xa; log_softmax needs scratch for the exps
      std::vector<A> xa(direct ? 0 : n), scratch(direct && !log ? 0 : n);
      for (int64_t r = b; r < e; ++r) {
        const T* xr = xp + r * n;
        T* yr = op + r * n;
        const A* xs;
        if constexpr (direct) {
          xs = xr;
        } else {
          for (int64_t k = 0; k < n; ++k) xa[k] = A(xr[k]);
          xs = xa.data();
        }
        A m = row_extreme<A>(xs, n, true);
        if (m != m || m == INFINITY) {  // NaN or +inf in the row: NaN out, like PyTorch
          for (int64_t k = 0; k < n; ++k) yr[k] = T(std::numeric_limits<A>::quiet_NaN());
          continue;
        }
        if (m == -INFINITY) m = 0;  // an all -inf row: exps are 0, the sum 0, the result NaN
        A* y = (direct && !log) ? reinterpret_cast<A*>(yr) : scratch.data();
        A s = exp_shift_sum(xs, y, n, m);
        if (log) {
          A logs = std::log(s);  // (x - m) - log(s): exact for the large shifts m can have
          for (int64_t k = 0; k < n; ++k) yr[k] = T((xs[k] - m) - logs);
        } else {
          A inv = A(1) / s;
          for (int64_t k = 0; k < n; ++k) yr[k] = T(y[k] * inv);
        }
      }
    });
  });
}

}  // namespace ember::cpu::EMBER_ISA_NS
