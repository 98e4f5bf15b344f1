// CPU interpolation (nearest, nearest-exact, linear/bilinear) of [P, h, w] planes. Each output
// axis gets a table of source indices and weights computed with PyTorch's exact rules (float
// math for the nearest modes, the compute type for linear), so indices match it bit for bit.
// Forward gathers rows in parallel; backward scatters (the adjoint) plane by plane.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/threadpool.h"
#include "backend/kernels_norm.h"

namespace ember::cpu {
namespace {

// For output index o: out[o] = w0[o] * in[i0[o]] + w1[o] * in[i1[o]] (nearest: w0 = 1, w1 = 0).
template <class A>
struct Axis {
  std::vector<int64_t> i0, i1;
  std::vector<A> w0, w1;
};

// 1 / scale factor when the user gave one, else the size ratio (PyTorch's compute_scales_value)
template <class A>
A scale_value(double scale, int64_t in, int64_t out) {
  return scale > 0 ? A(1.0 / scale) : A(in) / A(out);
}

template <class A>
Axis<A> make_axis(int64_t in, int64_t out, InterpMode mode, bool align_corners, double scale) {
  Axis<A> ax;
  ax.i0.resize(out), ax.i1.resize(out), ax.w0.assign(out, A(1)), ax.w1.assign(out, A(0));
  for (int64_t o = 0; o < out; ++o) {
    int64_t i;
    if (mode == InterpMode::Nearest && out == in) {
      i = o;  // PyTorch keeps the sizes-equal and exact-2x cases exact, whatever the scale says
    } else if (mode == InterpMode::Nearest && out == 2 * in) {
      i = o >> 1;
    } else if (mode == InterpMode::Nearest || mode == InterpMode::NearestPlain) {
      i = std::min(int64_t(std::floor(float(o) * scale_value<float>(scale, in, out))), in - 1);
    } else if (mode == InterpMode::NearestExact) {
      const float s = scale_value<float>(scale, in, out);
      i = std::min(int64_t(std::floor(float((double(o) + 0.5) * double(s)))), in - 1);
    } else if (out == in) {
      i = o;
    } else {
      A ratio = align_corners ? (out > 1 ? A(in - 1) / A(out - 1) : A(0)) : scale_value<A>(scale, in, out);
      A src = align_corners ? ratio * A(o) : ratio * (A(o) + A(0.5)) - A(0.5);
      if (src < 0) src = 0;
      i = std::min(int64_t(std::floor(float(src))), in - 1);  // floorf, as PyTorch
      const A lambda = std::min(std::max(src - A(i), A(0)), A(1));
      ax.i0[o] = i;
      ax.i1[o] = i + (i < in - 1 ? 1 : 0);
      ax.w0[o] = A(1) - lambda;
      ax.w1[o] = lambda;
      continue;
    }
    ax.i0[o] = ax.i1[o] = i;
  }
  return ax;
}

template <class T>
void interp_typed(const Tensor& out, const Tensor& in, InterpMode mode, bool align, double sh, double sw,
                  bool backward) {
  // small: the source grid [P, ih, iw]; big: the sampled grid [P, oh, ow]
  const Tensor& small = backward ? out : in;
  const Tensor& big = backward ? in : out;
  const int64_t P = small.shape()[0], ih = small.shape()[1], iw = small.shape()[2];
  const int64_t oh = big.shape()[1], ow = big.shape()[2];
  const Axis<T> ay = make_axis<T>(ih, oh, mode, align, sh), ax = make_axis<T>(iw, ow, mode, align, sw);
  const bool linear = mode == InterpMode::Linear;
  if (!backward) {
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    parallel_for(0, P * oh, std::max<int64_t>(1, 16384 / std::max<int64_t>(ow, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t p = r / oh, y = r % oh;
        const T* r0 = src + (p * ih + ay.i0[y]) * iw;
        const T* r1 = src + (p * ih + ay.i1[y]) * iw;
        T* o = dst + r * ow;
        if (!linear) {
          for (int64_t x = 0; x < ow; ++x) o[x] = r0[ax.i0[x]];
          continue;
        }
        const T wy0 = ay.w0[y], wy1 = ay.w1[y];
        for (int64_t x = 0; x < ow; ++x) {
          const int64_t x0 = ax.i0[x], x1 = ax.i1[x];
          const T wx0 = ax.w0[x], wx1 = ax.w1[x];
          o[x] = wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1]);
        }
      }
    });
    return;
  }
  const T* g = in.data<T>();
  T* gi = out.data<T>();
  // planes are independent: no two tasks write the same grad_input element
  parallel_for(0, P, std::max<int64_t>(1, 16384 / std::max<int64_t>(oh * ow, 1)), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* plane = gi + p * ih * iw;
      std::fill(plane, plane + ih * iw, T(0));
      for (int64_t y = 0; y < oh; ++y) {
        const T* gr = g + (p * oh + y) * ow;
        T* r0 = plane + ay.i0[y] * iw;
        T* r1 = plane + ay.i1[y] * iw;
        if (!linear) {
          for (int64_t x = 0; x < ow; ++x) r0[ax.i0[x]] += gr[x];
          continue;
        }
        const T wy0 = ay.w0[y], wy1 = ay.w1[y];
        for (int64_t x = 0; x < ow; ++x) {
          const T gx0 = gr[x] * ax.w0[x], gx1 = gr[x] * ax.w1[x];
          r0[ax.i0[x]] += wy0 * gx0;
          r0[ax.i1[x]] += wy0 * gx1;
          r1[ax.i0[x]] += wy1 * gx0;
          r1[ax.i1[x]] += wy1 * gx1;
        }
      }
    }
  });
}

void interp_kernel(const Tensor& out, const Tensor& in, InterpMode mode, bool align, double sh, double sw) {
  if (out.numel() == 0) return;
  if (out.dtype() == Dtype::Float64) interp_typed<double>(out, in, mode, align, sh, sw, false);
  else interp_typed<float>(out, in, mode, align, sh, sw, false);
}

void interp_backward_kernel(const Tensor& grad_in, const Tensor& grad_out, InterpMode mode, bool align, double sh,
                            double sw) {
  if (grad_in.numel() == 0) return;
  if (grad_in.dtype() == Dtype::Float64) interp_typed<double>(grad_in, grad_out, mode, align, sh, sw, true);
  else interp_typed<float>(grad_in, grad_out, mode, align, sh, sw, true);
}

}  // namespace

EMBER_REGISTER_KERNEL(interpolate, CPU, &interp_kernel);
EMBER_REGISTER_KERNEL(interpolate_backward, CPU, &interp_backward_kernel);

}  // namespace ember::cpu
