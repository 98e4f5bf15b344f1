#pragma once
// Persistent worker threads and parallel_for. Size: EMBER_NUM_THREADS, else the CPUs this
// process may run on. Nested or concurrent parallel_for calls run inline.
#include <cstdint>
#include <type_traits>

namespace ember::cpu {

int num_threads();
void set_num_threads(int n);
bool in_parallel_region();

// A non-owning callable reference (no allocation per call).
class RangeFn {
 public:
  template <class F>
  RangeFn(F& f) : obj_(&f), call_([](void* o, int64_t b, int64_t e) { (*static_cast<F*>(o))(b, e); }) {}
  void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int64_t);
};

void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, RangeFn fn);

// fn(b, e) on chunks of [begin, end) of at least `grain` elements, spread over the pool.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& fn) {
  if (end - begin <= grain || num_threads() == 1 || in_parallel_region()) {
    if (end > begin) fn(begin, end);
    return;
  }
  parallel_for_impl(begin, end, grain, RangeFn(fn));
}

}  // namespace ember::cpu
