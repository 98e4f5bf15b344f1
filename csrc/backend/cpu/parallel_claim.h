// parallel_claim: fn(u) for every u in [0, units), the units claimed one at a time from a shared
// counter by every pool thread. parallel_for's chunks are fixed up front (at most 4 per thread),
// so a worker that wakes late leaves the last chunk to one core; claiming small units keeps the
// two cores busy to within one unit. The caller picks units that keep locality (a head, a run
// of rows), and any per-unit state (partial sums) stays per unit, so results do not depend on
// which thread ran what. Inside the ISA namespace, like the kernels that use it (README.md).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "backend/cpu/threadpool.h"

#ifndef EMBER_ISA_NS
#error "define EMBER_ISA_NS before including parallel_claim.h"
#endif

namespace ember::cpu::EMBER_ISA_NS {
namespace {

template <class F>
void parallel_claim(int64_t units, F&& fn) {
  std::atomic<int64_t> next{0};
  const int64_t workers = std::min<int64_t>(num_threads(), units);
  parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    for (int64_t u; (u = next.fetch_add(1, std::memory_order_relaxed)) < units;) fn(u);
  });
}

}  // namespace
}  // namespace ember::cpu::EMBER_ISA_NS
