// CPU pooling kernels: planes (N * C) are spread over the thread pool and handed to the plane
// loops of the best ISA (pool_impl.h). The index gather / scatter of max-pool gradients are
// random access within a plane and stay portable here.
#include <algorithm>
#include <atomic>
#include <cstring>

#include "backend/cpu/isa.h"
#include "backend/cpu/pool_table.h"
#include "backend/cpu/threadpool.h"
#include "backend/kernels_pool.h"

namespace ember::cpu {
namespace {

PoolTables make_tables() {
  PoolTables t{};
  EMBER_ISA_PICK(pool_fns)(t);
  return t;
}

template <class T>
const PoolPlaneFns<T>& fns() {
  static const PoolTables t = make_tables();
  if constexpr (std::is_same_v<T, float>) return t.f32;
  else if constexpr (std::is_same_v<T, double>) return t.f64;
  else if constexpr (std::is_same_v<T, int32_t>) return t.i32;
  else if constexpr (std::is_same_v<T, int64_t>) return t.i64;
  else return t.u8;
}

PlaneAxis view(const PoolAxis& a) {
  return {a.in,   a.out,      a.step, a.begin.data(), a.count.data(), a.div.data(),
          a.stride, a.taps, a.pad,  a.full_lo,      a.full_hi};
}
PlanePlan view(const PoolPlan& p) { return {view(p.h), view(p.w), p.k2s2, p.divisor_override}; }

// planes per parallel chunk: about 16K elements of work
int64_t plane_grain(int64_t plane_elems) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(plane_elems, 1)); }

// f(T{}) with the kernel's float type (16-bit floats are computed in f32 by the op layer)
template <class F>
void float_types(Dtype d, const char* op, F&& f) {
  if (d == Dtype::Float32) f(float{});
  else if (d == Dtype::Float64) f(double{});
  else EMBER_TYPE_ERROR(op, ": kernel expects float32 or float64, got ", dtype_name(d));
}

// f(T{}) over the dtypes of the forward max (floats and i32, i64, u8) and avg (floats, i64)
template <class F>
void pool_types(Dtype d, const char* op, bool max, F&& f) {
  if (d == Dtype::Int64) f(int64_t{});
  else if (max && d == Dtype::Int32) f(int32_t{});
  else if (max && d == Dtype::UInt8) f(uint8_t{});
  else float_types(d, op, f);
}

void cpu_max_pool(const Tensor& out, const Tensor& idx, const Tensor& x, const PoolPlan& p) {
  const PlanePlan pp = view(p);
  const int64_t in_sz = p.h.in * p.w.in, out_sz = p.h.out * p.w.out;
  const int64_t planes = out_sz ? out.numel() / out_sz : 0;
  pool_types(x.dtype(), "max_pool", true, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    int64_t* ip = idx.defined() ? idx.data<int64_t>() : nullptr;
    auto fn = fns<T>().max;
    parallel_for(0, planes, plane_grain(in_sz), [&](int64_t b, int64_t e) {
      fn(op + b * out_sz, ip ? ip + b * out_sz : nullptr, xp + b * in_sz, pp, e - b);
    });
  });
}

void cpu_avg_pool(const Tensor& out, const Tensor& x, const PoolPlan& p) {
  const PlanePlan pp = view(p);
  const int64_t in_sz = p.h.in * p.w.in, out_sz = p.h.out * p.w.out;
  const int64_t planes = out_sz ? out.numel() / out_sz : 0;
  pool_types(x.dtype(), "avg_pool", false, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    auto fn = fns<T>().avg;
    parallel_for(0, planes, plane_grain(in_sz), [&](int64_t b, int64_t e) {
      fn(op + b * out_sz, xp + b * in_sz, pp, e - b);
    });
  });
}

void cpu_avg_pool_backward(const Tensor& gx, const Tensor& g, const PoolPlan& p) {
  const PlanePlan pp = view(p);
  const int64_t in_sz = p.h.in * p.w.in, out_sz = p.h.out * p.w.out;
  const int64_t planes = in_sz ? gx.numel() / in_sz : 0;
  float_types(g.dtype(), "avg_pool_backward", [&](auto tag) {
    using T = decltype(tag);
    T* xp = gx.data<T>();
    const T* gp = g.data<T>();
    if (out_sz == 0) {  // an adaptive pool to an empty size: nothing flows back
      std::memset(xp, 0, sizeof(T) * gx.numel());
      return;
    }
    auto fn = fns<T>().avg_backward;
    parallel_for(0, planes, plane_grain(in_sz), [&](int64_t b, int64_t e) {
      fn(xp + b * in_sz, gp + b * out_sz, pp, e - b);
    });
  });
}

void cpu_pool_gather(const Tensor& out, const Tensor& x, const Tensor& idx) {
  const int64_t P = idx.shape()[0], L = idx.shape()[1], S = x.shape()[1];
  float_types(x.dtype(), "pool_gather", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    const int64_t* ip = idx.data<int64_t>();
    T* op = out.data<T>();
    parallel_for(0, P, plane_grain(L), [&](int64_t b, int64_t e) {
      for (int64_t q = b; q < e; ++q) {
        const T* xq = xp + q * S;
        for (int64_t i = q * L; i < (q + 1) * L; ++i) {
          const int64_t k = ip[i];
          op[i] = (k >= 0 && k < S) ? xq[k] : T(0);
        }
      }
    });
  });
}

void cpu_pool_scatter(const Tensor& gx, const Tensor& g, const Tensor& idx) {
  const int64_t P = idx.shape()[0], L = idx.shape()[1], S = gx.shape()[1];
  float_types(g.dtype(), "pool_scatter", [&](auto tag) {
    using T = decltype(tag);
    T* xp = gx.data<T>();
    const int64_t* ip = idx.data<int64_t>();
    const T* gp = g.data<T>();
    parallel_for(0, P, plane_grain(S), [&](int64_t b, int64_t e) {
      std::memset(xp + b * S, 0, sizeof(T) * (e - b) * S);
      for (int64_t q = b; q < e; ++q) {
        T* xq = xp + q * S;
        for (int64_t i = q * L; i < (q + 1) * L; ++i) {
          const int64_t k = ip[i];
          if (k >= 0 && k < S) xq[k] += gp[i];
        }
      }
    });
  });
}

bool cpu_pool_unpool(const Tensor& out, const Tensor& x, const Tensor& idx, int64_t& bad) {
  const int64_t P = idx.shape()[0], L = idx.shape()[1], S = out.shape()[1];
  std::atomic<bool> found{false};
  float_types(x.dtype(), "max_unpool", [&](auto tag) {
    using T = decltype(tag);
    T* op = out.data<T>();
    const int64_t* ip = idx.data<int64_t>();
    const T* xp = x.data<T>();
    parallel_for(0, P, plane_grain(std::max(S, L)), [&](int64_t b, int64_t e) {
      std::memset(op + b * S, 0, sizeof(T) * (e - b) * S);
      for (int64_t q = b; q < e; ++q) {
        T* oq = op + q * S;
        for (int64_t i = q * L; i < (q + 1) * L; ++i) {
          const int64_t k = ip[i];
          if (k >= 0 && k < S) oq[k] = xp[i];
          else {
            if (!found.exchange(true)) bad = k;  // report one bad index
            return;
          }
        }
      }
    });
  });
  return !found.load();
}

}  // namespace

EMBER_REGISTER_KERNEL(max_pool, CPU, &cpu_max_pool);
EMBER_REGISTER_KERNEL(avg_pool, CPU, &cpu_avg_pool);
EMBER_REGISTER_KERNEL(avg_pool_backward, CPU, &cpu_avg_pool_backward);
EMBER_REGISTER_KERNEL(pool_gather, CPU, &cpu_pool_gather);
EMBER_REGISTER_KERNEL(pool_scatter, CPU, &cpu_pool_scatter);
EMBER_REGISTER_KERNEL(pool_unpool, CPU, &cpu_pool_unpool);

}  // namespace ember::cpu
