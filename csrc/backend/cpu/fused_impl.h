// The block operations of ember.compile's fused elementwise loops (compile/fuse.cpp): one
// float32 op over n contiguous elements, with the eager kernels' formulas
// (elementwise_impl.h). Compiled once per ISA by cmake/isa.cmake.
#include <cmath>

#include "backend/cpu/simd_math.h"
#include "backend/params.h"

namespace ember::cpu::EMBER_ISA_NS {

// out = f(x) over n floats: the eager kernel's formula for each op.
void fused_unary(UnaryOp op, float* o, const float* x, int64_t n, float p0) {
  auto sigmoid = [](float v) { return 1.0f / (1.0f + exp_fast(-v)); };
  switch (op) {
    case UnaryOp::Neg: for (int64_t i = 0; i < n; ++i) o[i] = -x[i]; break;
    case UnaryOp::Abs: for (int64_t i = 0; i < n; ++i) o[i] = x[i] < 0 ? -x[i] : x[i]; break;
    case UnaryOp::Square: for (int64_t i = 0; i < n; ++i) o[i] = x[i] * x[i]; break;
    case UnaryOp::Relu: for (int64_t i = 0; i < n; ++i) o[i] = x[i] < 0 ? 0.0f : x[i]; break;
    case UnaryOp::Exp: for (int64_t i = 0; i < n; ++i) o[i] = exp_fast(x[i]); break;
    case UnaryOp::Tanh: for (int64_t i = 0; i < n; ++i) o[i] = tanh_fast(x[i]); break;
    case UnaryOp::Sigmoid: for (int64_t i = 0; i < n; ++i) o[i] = sigmoid(x[i]); break;
    case UnaryOp::Erf: for (int64_t i = 0; i < n; ++i) o[i] = erf_fast(x[i]); break;
    case UnaryOp::Silu: for (int64_t i = 0; i < n; ++i) o[i] = x[i] * sigmoid(x[i]); break;
    case UnaryOp::GeluErf: for (int64_t i = 0; i < n; ++i) o[i] = gelu_erf(x[i]); break;
    case UnaryOp::GeluTanh: for (int64_t i = 0; i < n; ++i) o[i] = gelu_tanh(x[i]); break;
    case UnaryOp::Reciprocal: for (int64_t i = 0; i < n; ++i) o[i] = 1.0f / x[i]; break;
    case UnaryOp::Sqrt: for (int64_t i = 0; i < n; ++i) o[i] = std::sqrt(x[i]); break;
    case UnaryOp::Rsqrt: for (int64_t i = 0; i < n; ++i) o[i] = 1.0f / std::sqrt(x[i]); break;
    case UnaryOp::Log: for (int64_t i = 0; i < n; ++i) o[i] = std::log(x[i]); break;
    case UnaryOp::LeakyRelu: for (int64_t i = 0; i < n; ++i) o[i] = x[i] > 0 ? x[i] : x[i] * p0; break;
    case UnaryOp::PowScalar:
      if (p0 == 2) for (int64_t i = 0; i < n; ++i) o[i] = x[i] * x[i];
      else if (p0 == 3) for (int64_t i = 0; i < n; ++i) o[i] = x[i] * x[i] * x[i];
      else if (p0 == 1) for (int64_t i = 0; i < n; ++i) o[i] = x[i];
      else if (p0 == 0.5f) for (int64_t i = 0; i < n; ++i) o[i] = std::sqrt(x[i]);
      else if (p0 == -1) for (int64_t i = 0; i < n; ++i) o[i] = 1.0f / x[i];
      else if (p0 == -0.5f) for (int64_t i = 0; i < n; ++i) o[i] = 1.0f / std::sqrt(x[i]);
      else for (int64_t i = 0; i < n; ++i) o[i] = std::pow(x[i], p0);
      break;
    default: break;
  }
}

void fused_binary(BinaryOp op, float* o, const float* a, const float* b, int64_t n) {
  switch (op) {
    case BinaryOp::Add: for (int64_t i = 0; i < n; ++i) o[i] = a[i] + b[i]; break;
    case BinaryOp::Sub: for (int64_t i = 0; i < n; ++i) o[i] = a[i] - b[i]; break;
    case BinaryOp::Mul: for (int64_t i = 0; i < n; ++i) o[i] = a[i] * b[i]; break;
    case BinaryOp::Div: for (int64_t i = 0; i < n; ++i) o[i] = a[i] / b[i]; break;
    default: break;
  }
}

}  // namespace ember::cpu::EMBER_ISA_NS

namespace ember::cpu::EMBER_ISA_NS {

// grad_in = grad_out * gelu'(x) over n contiguous elements, one pass (the GELU backward of
// eager autograd and of compiled graphs: the same loop, so both round alike).
template <class T>
static void gelu_backward_loop(T* __restrict o, const T* __restrict g, const T* __restrict x, int64_t n, bool tanh) {
  if (tanh)
    for (int64_t i = 0; i < n; ++i) o[i] = g[i] * gelu_tanh_grad(x[i]);
  else
    for (int64_t i = 0; i < n; ++i) o[i] = g[i] * gelu_erf_grad(x[i]);
}
void gelu_backward_f32(float* o, const float* g, const float* x, int64_t n, bool tanh) {
  gelu_backward_loop(o, g, x, n, tanh);
}
void gelu_backward_f64(double* o, const double* g, const double* x, int64_t n, bool tanh) {
  gelu_backward_loop(o, g, x, n, tanh);
}

// grad_in = grad_out * silu'(x) = g s (1 + x (1 - s)) with s = sigmoid(x), one pass (the eager
// chain was five).
template <class T>
static void silu_backward_loop(T* __restrict o, const T* __restrict g, const T* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + exp_fast(-x[i]));
    o[i] = g[i] * s * (T(1) + x[i] * (T(1) - s));
  }
}
void silu_backward_f32(float* o, const float* g, const float* x, int64_t n) { silu_backward_loop(o, g, x, n); }
void silu_backward_f64(double* o, const double* g, const double* x, int64_t n) { silu_backward_loop(o, g, x, n); }

}  // namespace ember::cpu::EMBER_ISA_NS

namespace ember::cpu::EMBER_ISA_NS {

// The GELU backward of a [rows, cols] block (row stride cols) and its column sums (the bias
// gradient of the linear layer before the GELU) in one pass, for columns [c0, c1). The sums run
// over rows in order from row 0, as the reduce kernel's column path does, so they round alike.
template <class T>
static void gelu_backward_colsum_loop(T* __restrict o, const T* __restrict g, const T* __restrict x, int64_t rows,
                                      int64_t cols, int64_t c0, int64_t c1, T* __restrict sum, bool tanh) {
  const int64_t n = c1 - c0;
  constexpr int64_t kAhead = 8;  // rows: each row of the block is a short run in its own page,
                                 // which the hardware prefetchers do not follow
  const int64_t line = 64 / int64_t(sizeof(T));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t off = r * cols + c0;
    if (r + kAhead < rows)
      for (int64_t j = 0; j < n; j += line) {
        __builtin_prefetch(g + off + kAhead * cols + j);
        __builtin_prefetch(x + off + kAhead * cols + j);
        __builtin_prefetch(o + off + kAhead * cols + j, 1);
      }
    gelu_backward_loop(o + off, g + off, x + off, n, tanh);
    T* s = sum + c0;
    const T* v = o + off;
    if (r == 0)
      for (int64_t j = 0; j < n; ++j) s[j] = v[j];
    else
      for (int64_t j = 0; j < n; ++j) s[j] += v[j];
  }
}
void gelu_backward_colsum_f32(float* o, const float* g, const float* x, int64_t rows, int64_t cols, int64_t c0,
                              int64_t c1, float* sum, bool tanh) {
  gelu_backward_colsum_loop(o, g, x, rows, cols, c0, c1, sum, tanh);
}
void gelu_backward_colsum_f64(double* o, const double* g, const double* x, int64_t rows, int64_t cols, int64_t c0,
                              int64_t c1, double* sum, bool tanh) {
  gelu_backward_colsum_loop(o, g, x, rows, cols, c0, c1, sum, tanh);
}

}  // namespace ember::cpu::EMBER_ISA_NS
