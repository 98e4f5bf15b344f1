#pragma once
// The per-ISA plane loops of the pooling kernels (pool_impl.h) as a table of function pointers
// per dtype; pool.cpp picks the best ISA's table at start-up and does the dtype dispatch and
// the threading over planes. Plain data only: no std container crosses into the ISA code.
#include <cstdint>

#include "backend/cpu/isa.h"

namespace ember::cpu {

// A PoolAxis (kernels_pool.h) seen through raw pointers.
struct PlaneAxis {
  int64_t in, out, step;
  const int64_t *begin, *count, *div;
  int64_t stride, taps, pad, full_lo, full_hi;  // as PoolAxis
};
struct PlanePlan {
  PlaneAxis h, w;
  int k2s2;  // as PoolPlan::k2s2
  int64_t divisor_override;
};

// Each loop handles n consecutive contiguous planes starting at the given pointers. Integer
// tables fill only what PyTorch supports (max: i32, i64, u8; avg: i64); the rest is null.
// Aggregates without default member initializers: no inline constructor is compiled per ISA.
template <class T>
struct PoolPlaneFns {
  void (*max)(T* out, int64_t* idx, const T* x, const PlanePlan& p, int64_t n);  // idx may be null
  void (*avg)(T* out, const T* x, const PlanePlan& p, int64_t n);
  void (*avg_backward)(T* gx, const T* g, const PlanePlan& p, int64_t n);  // writes all of gx
};

struct PoolTables {
  PoolPlaneFns<float> f32;
  PoolPlaneFns<double> f64;
  PoolPlaneFns<int32_t> i32;
  PoolPlaneFns<int64_t> i64;
  PoolPlaneFns<uint8_t> u8;
};

EMBER_ISA_DECLARE(void pool_fns(PoolTables& t);)

}  // namespace ember::cpu
