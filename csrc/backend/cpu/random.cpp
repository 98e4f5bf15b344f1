// CPU kernel of the device random slot (backend/kernels_random.h): the Philox stream the Metal
// kernel (metal/random.metal) computes, element for element; float64 draws 32-bit uniforms and
// computes in double. Reached only as a device's fallback: CPU tensors use the generator's
// sequential stream (ops/creation.cpp).
#include <cmath>
#include <numbers>

#include "backend/kernels_random.h"
#include "core/dtype.h"
#include "core/half.h"

namespace ember {
namespace {

template <class T>
void fill(const Tensor& out, const Tensor& probs, const RandomDraw& d) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  constexpr int bits = std::is_same_v<T, double>     ? 32
                       : std::is_same_v<T, Half>     ? 11
                       : std::is_same_v<T, BFloat16> ? 8
                                                     : 24;
  const int64_t n = out.numel();
  T* o = out.data<T>();
  const T* pr = d.kind == RandomKind::BernoulliTensor ? probs.data<T>() : nullptr;
  auto u01 = [](uint32_t w, int nb) { return A(w >> (32 - nb)) * A(std::ldexp(1.0, -nb)); };
  for (int64_t g = 0; g * 4 < n; ++g) {
    const Philox4x32 r = philox4x32_10(uint64_t(g), d.key);
    A v[4];
    if (d.kind == RandomKind::Normal) {
      for (int j = 0; j < 4; j += 2) {
        const int nb = bits == 32 ? 32 : 24;
        const A u1 = A(uint64_t(r.v[j] >> (32 - nb)) + 1) * A(std::ldexp(1.0, -nb));
        const A u2 = u01(r.v[j + 1], nb);
        const A rad = std::sqrt(A(-2) * std::log(u1)), th = A(2 * std::numbers::pi) * u2;
        v[j] = A(d.a) + A(d.b) * (rad * std::cos(th));
        v[j + 1] = A(d.a) + A(d.b) * (rad * std::sin(th));
      }
    } else {
      for (int j = 0; j < 4; ++j) {
        const int64_t i = 4 * g + j;
        if (d.kind == RandomKind::Uniform) {
          v[j] = A(d.a) + (A(d.b) - A(d.a)) * u01(r.v[j], bits);
        } else {
          const A u = u01(r.v[j], bits == 32 ? 32 : 24);
          const A p = d.kind == RandomKind::Bernoulli ? A(d.a) : (i < n ? A(pr[i]) : A(0));
          v[j] = u < p ? A(1) : A(0);
        }
      }
    }
    for (int j = 0; j < 4 && 4 * g + j < n; ++j) o[4 * g + j] = T(v[j]);
  }
}

void random_fill_cpu(const Tensor& out, const Tensor& probs, const RandomDraw& d) {
  switch (out.dtype()) {
    case Dtype::Float32:
      return fill<float>(out, probs, d);
    case Dtype::Float64:
      return fill<double>(out, probs, d);
    case Dtype::Float16:
      return fill<Half>(out, probs, d);
    case Dtype::BFloat16:
      return fill<BFloat16>(out, probs, d);
    default:
      EMBER_TYPE_ERROR("random: expected a floating point dtype, got ", dtype_name(out.dtype()));
  }
}

}  // namespace

EMBER_REGISTER_KERNEL(random_fill, CPU, random_fill_cpu);

}  // namespace ember
