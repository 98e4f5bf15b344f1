#pragma once
// Convolution kernel slots (ops/conv.cpp). One geometry describes a grouped 2-D convolution
//   y[n, k, oh, ow] = sum_{c, i, j} w[k, c, i, j] * x[n, g*Cg + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
// (zero outside x). Ho/Wo are explicit: "same" padding with an even kernel (extra padding on the
// bottom/right only) and conv_transpose's output_padding only change them. The other two slots
// are this map's adjoints: grad_input (= conv_transpose) and grad_weight.
#include "backend/kernels.h"
#include "backend/params.h"  // ConvGeom

namespace ember {

namespace kernel {

// All tensors contiguous, f32 or f64 (one dtype). x [N, C, H, W], w [K, C/groups, kh, kw],
// y [N, K, Ho, Wo], bias [K] or undefined. Outputs are overwritten.
using ConvForwardFn = void (*)(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias,
                               const ConvGeom& g);
using ConvGradInputFn = void (*)(const Tensor& dx, const Tensor& dy, const Tensor& w, const ConvGeom& g);
using ConvGradWeightFn = void (*)(const Tensor& dw, const Tensor& x, const Tensor& dy, const ConvGeom& g);
// im2col / col2im (unfold / fold) with groups 1: col [N, C*kh*kw, Ho*Wo]; col2im overwrites x.
using Im2colFn = void (*)(const Tensor& col, const Tensor& x, const ConvGeom& g);
using Col2imFn = void (*)(const Tensor& x, const Tensor& col, const ConvGeom& g);

inline KernelSlot<ConvForwardFn> conv_forward{"conv_forward"};
inline KernelSlot<ConvGradInputFn> conv_grad_input{"conv_grad_input"};
inline KernelSlot<ConvGradWeightFn> conv_grad_weight{"conv_grad_weight"};
inline KernelSlot<Im2colFn> im2col{"im2col"};
inline KernelSlot<Col2imFn> col2im{"col2im"};

}  // namespace kernel
}  // namespace ember
