#pragma once
// The plane-level CPU convolution primitives compiled once per ISA (conv_impl.h,
// cmake/isa.cmake). Plain data and declarations only: this header is included by translation
// units built with different target flags, so it must not define inline functions.
#include <cstdint>

#include "backend/cpu/isa.h"
#include "backend/params.h"  // ConvGeom

namespace ember::cpu {

// Function table of one ISA's primitives for element type T (float or double).
template <class T>
struct ConvPrims {
  // Channels [0, nc) of one image x [nc, H, W] -> col [nc*kh*kw, Ho*Wo] (overwritten).
  void (*im2col)(const ConvGeom& g, const T* x, int64_t nc, T* col);
  // The adjoint: col [nc*kh*kw, Ho*Wo] is added into x [nc, H, W].
  void (*col2im)(const ConvGeom& g, const T* col, int64_t nc, T* x);
  // Depthwise (groups == C, K = C * mult): output planes [p0, p1) of the N*K planes of y.
  void (*dw_forward)(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, int64_t p0, int64_t p1);
  // Depthwise input gradient: input planes [p0, p1) of the N*C planes of dx (overwritten).
  void (*dw_grad_input)(const ConvGeom& g, const T* dy, const T* w, T* dx, int64_t p0, int64_t p1);
  // Depthwise weight gradient: channels [k0, k1) of dw [K, 1, kh, kw] (overwritten), summed over N.
  void (*dw_grad_weight)(const ConvGeom& g, const T* x, const T* dy, T* dw, int64_t k0, int64_t k1);
  // im2col of 16-bit (bf16 / f16) data: the same copies on 2-byte elements.
  void (*im2col16)(const ConvGeom& g, const uint16_t* x, int64_t nc, uint16_t* col);
};

EMBER_ISA_DECLARE(extern const ConvPrims<float> conv_prims_f32; extern const ConvPrims<double> conv_prims_f64;)

}  // namespace ember::cpu
