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
    case UnaryOp::GeluErf:
      for (int64_t i = 0; i < n; ++i) o[i] = 0.5f * x[i] * (1.0f + erf_fast(x[i] * 0.70710678118654752440f));
      break;
    case UnaryOp::GeluTanh:
      for (int64_t i = 0; i < n; ++i) {
        float v = x[i];
        o[i] = 0.5f * v * (1.0f + tanh_fast(0.79788456080286535588f * (v + 0.044715f * v * v * v)));
      }
      break;
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
