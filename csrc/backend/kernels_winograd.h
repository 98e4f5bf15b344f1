#pragma once
// Winograd F(4x4, 3x3) convolution slots (f32, NCHW, stride 1, dilation 1, groups 1, zero
// padding 0-2). The conv kernels use the algorithm themselves where it pays off; these slots
// expose it to tests and benchmarks (_C._winograd3x3_*), so the bindings reach it through the
// registry like every other kernel instead of calling a backend.
#include "backend/kernels.h"

namespace ember::kernel {

// y [N, K, H + 2 ph - 2, W + 2 pw - 2] = conv2d(x [N, C, H, W], w [K, C, 3, 3]) (+ bias [K] when
// defined). All contiguous f32; y is overwritten.
using WinogradForwardFn = void (*)(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, int64_t ph,
                                   int64_t pw);
// dw [K, C, 3, 3] = the gradient of that conv with respect to w, given x and dy; overwritten.
using WinogradGradWeightFn = void (*)(const Tensor& dw, const Tensor& x, const Tensor& dy, int64_t ph, int64_t pw);
// Whether the conv kernels use Winograd for x [N, C, H, W], K output channels, padding (ph, pw).
using WinogradApplicableFn = bool (*)(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw);

// Lets conv2d pick Winograd (true, the default) or never; returns the previous setting.
using WinogradSetEnabledFn = bool (*)(bool on);

inline KernelSlot<WinogradForwardFn> winograd3x3_forward{"winograd3x3_forward"};
inline KernelSlot<WinogradGradWeightFn> winograd3x3_grad_weight{"winograd3x3_grad_weight"};
inline KernelSlot<WinogradApplicableFn> winograd3x3_applicable{"winograd3x3_applicable"};
inline KernelSlot<WinogradSetEnabledFn> winograd3x3_set_enabled{"winograd3x3_set_enabled"};

}  // namespace ember::kernel
