// CPU activation backward kernels (backend/kernels_act.h): contiguous loops from fused_impl.h,
// compiled per ISA, split over the thread pool in chunks.
#include "backend/cpu/isa.h"
#include "backend/cpu/threadpool.h"
#include "backend/kernels_act.h"

namespace ember::cpu {
EMBER_ISA_DECLARE(void gelu_backward_f32(float* o, const float* g, const float* x, int64_t n,
                                         bool tanh);
                  void gelu_backward_f64(double* o, const double* g, const double* x, int64_t n,
                                         bool tanh);
                  void silu_backward_f32(float* o, const float* g, const float* x, int64_t n);
                  void silu_backward_f64(double* o, const double* g, const double* x, int64_t n);)

namespace {

template <class T, class Fn>
void split(Fn fn, T* o, const T* g, const T* x, int64_t n, bool tanh) {
  constexpr int64_t kChunk = 4096;
  if (n <= 4 * kChunk) return fn(o, g, x, n, tanh);
  parallel_for(0, (n + kChunk - 1) / kChunk, 1, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * kChunk, i1 = std::min(n, c1 * kChunk);
    fn(o + i0, g + i0, x + i0, i1 - i0, tanh);
  });
}

void check_layout(const char* op, const Tensor& gi, const Tensor& go, const Tensor& x) {
  EMBER_CHECK(gi.is_contiguous() && go.is_contiguous() && x.is_contiguous() &&
                  gi.shape() == go.shape() && gi.shape() == x.shape() && gi.dtype() == go.dtype() &&
                  gi.dtype() == x.dtype(),
              op, ": expected contiguous tensors of one shape and dtype");
}

void gelu_backward_cpu(const Tensor& gi, const Tensor& go, const Tensor& x, bool tanh) {
  check_layout("gelu_backward", gi, go, x);
  static const auto f32 = EMBER_ISA_PICK(gelu_backward_f32);
  static const auto f64 = EMBER_ISA_PICK(gelu_backward_f64);
  if (gi.dtype() == Dtype::Float32)
    split(f32, static_cast<float*>(gi.raw_data()), static_cast<const float*>(go.raw_data()),
          static_cast<const float*>(x.raw_data()), gi.numel(), tanh);
  else if (gi.dtype() == Dtype::Float64)
    split(f64, static_cast<double*>(gi.raw_data()), static_cast<const double*>(go.raw_data()),
          static_cast<const double*>(x.raw_data()), gi.numel(), tanh);
  else
    EMBER_TYPE_ERROR("gelu_backward: expected float32 or float64, got ", dtype_name(gi.dtype()));
}

void silu_backward_cpu(const Tensor& gi, const Tensor& go, const Tensor& x) {
  check_layout("silu_backward", gi, go, x);
  static const auto f32 = EMBER_ISA_PICK(silu_backward_f32);
  static const auto f64 = EMBER_ISA_PICK(silu_backward_f64);
  // the chunked split passes a flag the silu loops do not take
  auto run = [](auto fn) {
    return [fn](auto* o, auto* g, auto* x, int64_t n, bool) { fn(o, g, x, n); };
  };
  if (gi.dtype() == Dtype::Float32)
    split(run(f32), static_cast<float*>(gi.raw_data()), static_cast<const float*>(go.raw_data()),
          static_cast<const float*>(x.raw_data()), gi.numel(), false);
  else if (gi.dtype() == Dtype::Float64)
    split(run(f64), static_cast<double*>(gi.raw_data()), static_cast<const double*>(go.raw_data()),
          static_cast<const double*>(x.raw_data()), gi.numel(), false);
  else
    EMBER_TYPE_ERROR("silu_backward: expected float32 or float64, got ", dtype_name(gi.dtype()));
}

}  // namespace

EMBER_REGISTER_KERNEL(gelu_backward, CPU, &gelu_backward_cpu);
EMBER_REGISTER_KERNEL(silu_backward, CPU, &silu_backward_cpu);

}  // namespace ember::cpu
