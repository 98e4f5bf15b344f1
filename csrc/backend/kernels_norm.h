#pragma once
// Kernel slots of batch norm and interpolation (ops/norm.cpp).
#include "backend/registry.h"
#include "core/tensor.h"

namespace ember {

// NearestPlain: PyTorch's 1-D nearest forward, which maps o -> floor(o * scale) even where
// Nearest keeps equal or doubled sizes exact (its backward uses Nearest).
enum class InterpMode : uint8_t { Nearest, NearestPlain, NearestExact, Linear };

namespace kernel {

// Batch norm over x viewed as [N, C, S] (contiguous; S = product of the dims after C).
// Per-channel tensors [C] are contiguous in the accumulation dtype (f32 for f16/bf16/f32, f64
// for f64); weight, bias and the running stats may be undefined.
// training: mean/invstd <- batch statistics (biased variance), running stats move by momentum
// (unbiased variance). Eval: mean/invstd <- running stats. Then y = (x - mean) * invstd * w + b.
using BatchNormFn = void (*)(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Tensor& mean, const Tensor& invstd, const Tensor& running_mean,
                             const Tensor& running_var, bool training, double momentum, double eps);
// Grads of batch norm from the saved mean/invstd; gx, gw, gb may be undefined (not needed).
// training: gx includes the paths through the batch statistics.
using BatchNormBackwardFn = void (*)(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                                     const Tensor& x, const Tensor& weight, const Tensor& mean,
                                     const Tensor& invstd, bool training);

// Interpolation of planes: in [P, ih, iw] -> out [P, oh, ow], contiguous, one dtype (1-D inputs
// use ih = oh = 1). scale_h/scale_w: the user's scale factors (<= 0: none, the size ratio is used).
// The backward is the adjoint: grad_out [P, oh, ow] is scattered into grad_in [P, ih, iw], which
// the kernel overwrites.
using InterpFn = void (*)(const Tensor& out, const Tensor& in, InterpMode mode, bool align_corners,
                          double scale_h, double scale_w);
using InterpBackwardFn = void (*)(const Tensor& grad_in, const Tensor& grad_out, InterpMode mode,
                                  bool align_corners, double scale_h, double scale_w);

inline KernelSlot<BatchNormFn> batch_norm{"batch_norm"};
inline KernelSlot<BatchNormBackwardFn> batch_norm_backward{"batch_norm_backward"};
// layer_norm (rms = false) / rms_norm (rms = true) over the rows of x [R, N] (contiguous, f32 or
// f64; weight, bias [N] of x's dtype or undefined). mean/rstd [R]: the row statistics (mean is
// undefined for rms_norm). The backward overwrites gx [R, N], gw, gb [N]; any may be undefined.
using LayerNormFn = void (*)(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                             const Tensor& weight, const Tensor& bias, double eps, bool rms);
using LayerNormBackwardFn = void (*)(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                                     const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& rstd,
                                     bool rms);

inline KernelSlot<LayerNormFn> layer_norm{"layer_norm"};
inline KernelSlot<LayerNormBackwardFn> layer_norm_backward{"layer_norm_backward"};
inline KernelSlot<InterpFn> interpolate{"interpolate"};
inline KernelSlot<InterpBackwardFn> interpolate_backward{"interpolate_backward"};

}  // namespace kernel
}  // namespace ember
