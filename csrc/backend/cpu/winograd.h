#pragma once
// Winograd 3x3 convolution (f32, NCHW, stride 1, dilation 1, groups 1, zero padding).
// Used by ops/conv.cpp for the forward pass, for the input gradient (a forward pass with the
// weights flipped and in/out channels swapped) and for the weight gradient.
#include <cstdint>

namespace ember::cpu {

// True when the Winograd kernels handle (and pay off on) this problem:
// x [N, C, H, W], w [K, C, 3, 3], padding (ph, pw) with 0 <= ph, pw <= 2.
bool winograd3x3_applicable(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw);

// The same for the weight gradient (which needs more tiles to pay off).
bool winograd3x3_grad_weight_applicable(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t ph,
                                        int64_t pw);

// Whether conv2d may pick the Winograd kernels at all (default true). Switched off only by
// benchmarks that time the im2col path on the same shapes; returns the previous setting.
bool winograd3x3_set_enabled(bool on);
bool winograd3x3_enabled();

// y [N, K, Ho, Wo] = conv2d(x, w) (+ bias[K] when non-null), Ho = H + 2 ph - 2, Wo = W + 2 pw - 2.
// All pointers are contiguous f32; y is overwritten.
void winograd3x3_forward(const float* x, const float* w, const float* bias, float* y, int64_t N, int64_t C,
                         int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw);

// dw [K, C, 3, 3] = gradient of winograd3x3_forward's y with respect to w, given dy [N, K, Ho, Wo].
// dw is overwritten.
void winograd3x3_grad_weight(const float* x, const float* dy, float* dw, int64_t N, int64_t C, int64_t H,
                             int64_t W, int64_t K, int64_t ph, int64_t pw);

}  // namespace ember::cpu
