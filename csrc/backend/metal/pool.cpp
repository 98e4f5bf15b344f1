// Metal launch code of the pooling family (metal/pool.metal): max / avg pooling forward, avg
// backward, and the max-index gather / scatter, float32 planes; other dtypes and max_unpool fall
// back to the CPU kernels.
#include <cstring>

#include "backend/kernels_pool.h"
#include "backend/metal/family_util.h"
#include "pool_params.h"

namespace ember::metal {
namespace {

// the window tables in one int32 scratch buffer (see pool_params.h)
struct Tables {
  Scratch buf;
  explicit Tables(const PoolPlan& plan)
      : buf(sizeof(int32_t) * 3 * size_t(plan.h.out + plan.w.out)) {
    auto* t = static_cast<int32_t*>(buf.p);  // fresh memory: no kernel uses it yet
    for (const PoolAxis* a : {&plan.h, &plan.w})
      for (const std::vector<int64_t>* v : {&a->begin, &a->count, &a->div})
        for (int64_t o = 0; o < a->out; ++o) *t++ = v->empty() ? 1 : int32_t((*v)[size_t(o)]);
  }
};

PoolParams params(const PoolPlan& plan, int64_t P) {
  PoolParams p{};
  p.P = uint(P), p.H = uint(plan.h.in), p.W = uint(plan.w.in), p.OH = uint(plan.h.out),
  p.OW = uint(plan.w.out);
  p.step_h = uint(plan.h.step), p.step_w = uint(plan.w.step),
  p.divisor_override = int(plan.divisor_override);
  return p;
}

bool plan_ok(const Tensor& t, const PoolPlan& plan) {
  return t.dtype() == Dtype::Float32 && t.numel() < (int64_t(1) << 31) &&
         plan.h.in * plan.w.in < (int64_t(1) << 31) && fits_int32(plan.divisor_override);
}
uint32_t groups(int64_t n) { return uint32_t((n + 255) / 256); }

const char* max_declines(const Tensor&, const Tensor&, const Tensor& x, const PoolPlan& plan) {
  return plan_ok(x, plan) ? nullptr : "max_pool";
}
void max_metal(const Tensor& out, const Tensor& idx, const Tensor& x, const PoolPlan& plan) {
  if (out.numel() == 0) return;
  Tables tab(plan);
  PoolParams p = params(plan, x.shape()[0]);
  const uint32_t want = idx.defined();
  Dispatch("max_pool_fwd")
      .buffer(0, x.numel() ? x.raw_data() : out.raw_data())
      .buffer(1, out.raw_data())
      .buffer(2, idx.defined() ? idx.raw_data() : out.raw_data())
      .buffer(3, tab.buf.p)
      .value(4, p)
      .value(5, want)
      .threadgroups({groups(out.numel()), 1, 1}, {256, 1, 1});
}

const char* avg_declines(const Tensor&, const Tensor& x, const PoolPlan& plan) {
  return plan_ok(x, plan) ? nullptr : "avg_pool";
}
void avg_metal(const Tensor& out, const Tensor& x, const PoolPlan& plan) {
  if (out.numel() == 0) return;
  Tables tab(plan);
  PoolParams p = params(plan, x.shape()[0]);
  Dispatch("avg_pool_fwd")
      .buffer(0, x.numel() ? x.raw_data() : out.raw_data())
      .buffer(1, out.raw_data())
      .buffer(2, tab.buf.p)
      .value(3, p)
      .threadgroups({groups(out.numel()), 1, 1}, {256, 1, 1});
}

const char* avg_bwd_declines(const Tensor& gx, const Tensor&, const PoolPlan& plan) {
  return plan_ok(gx, plan) ? nullptr : "avg_pool_backward";
}
void avg_bwd_metal(const Tensor& gx, const Tensor& g, const PoolPlan& plan) {
  if (gx.numel() == 0) return;
  Tables tab(plan);
  PoolParams p = params(plan, gx.shape()[0]);
  Dispatch("avg_pool_bwd")
      .buffer(0, gx.raw_data())
      .buffer(1, g.numel() ? g.raw_data() : gx.raw_data())
      .buffer(2, tab.buf.p)
      .value(3, p)
      .threadgroups({groups(p.P), 1, 1}, {256, 1, 1});
}

PoolParams plane_params(const Tensor& planes, const Tensor& idx) {
  PoolParams p{};
  p.P = uint(planes.shape()[0]), p.S = uint(planes.shape()[1]), p.L = uint(idx.shape()[1]);
  return p;
}
bool planes_ok(const Tensor& t, const Tensor& idx) {
  return t.dtype() == Dtype::Float32 && t.dim() == 2 && idx.dim() == 2 &&
         t.numel() < (int64_t(1) << 31) && idx.numel() < (int64_t(1) << 31);
}

const char* gather_declines(const Tensor&, const Tensor& x, const Tensor& idx) {
  return planes_ok(x, idx) ? nullptr : "pool_gather";
}
void gather_metal(const Tensor& out, const Tensor& x, const Tensor& idx) {
  if (out.numel() == 0) return;
  PoolParams p = plane_params(x, idx);
  Dispatch("pool_gather")
      .buffer(0, out.raw_data())
      .buffer(1, x.numel() ? x.raw_data() : out.raw_data())
      .buffer(2, idx.raw_data())
      .value(3, p)
      .threadgroups({groups(out.numel()), 1, 1}, {256, 1, 1});
}

const char* scatter_declines(const Tensor& gx, const Tensor&, const Tensor& idx) {
  return planes_ok(gx, idx) ? nullptr : "pool_scatter";
}
void scatter_metal(const Tensor& gx, const Tensor& g, const Tensor& idx) {
  if (gx.numel() == 0) return;
  PoolParams p = plane_params(gx, idx);
  const void* gp = g.numel() ? g.raw_data() : gx.raw_data();
  const void* ip = idx.numel() ? idx.raw_data() : gx.raw_data();
  Dispatch("pool_scatter")
      .buffer(0, gx.raw_data())
      .buffer(1, gp)
      .buffer(2, ip)
      .value(3, p)
      .threadgroups({groups(p.P), 1, 1}, {256, 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(max_pool, Metal, max_metal);
EMBER_REGISTER_DECLINES(max_pool, Metal, max_declines);
EMBER_REGISTER_KERNEL(avg_pool, Metal, avg_metal);
EMBER_REGISTER_DECLINES(avg_pool, Metal, avg_declines);
EMBER_REGISTER_KERNEL(avg_pool_backward, Metal, avg_bwd_metal);
EMBER_REGISTER_DECLINES(avg_pool_backward, Metal, avg_bwd_declines);
EMBER_REGISTER_KERNEL(pool_gather, Metal, gather_metal);
EMBER_REGISTER_DECLINES(pool_gather, Metal, gather_declines);
EMBER_REGISTER_KERNEL(pool_scatter, Metal, scatter_metal);
EMBER_REGISTER_DECLINES(pool_scatter, Metal, scatter_declines);

}  // namespace ember::metal
