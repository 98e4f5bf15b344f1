#pragma once
// The per-ISA inner loops of the fused optimizer kernels (optim_impl.h) as a table of function
// pointers per storage type; optim.cpp picks the table of the best ISA at start-up and does the
// chunking, threading and dtype dispatch. Plain data only: nothing here emits code.
#include <cstdint>

#include "core/half.h"

namespace ember::cpu {

// flag bits of one call (which instantiation of the loop runs)
constexpr unsigned kWeightDecay = 1;  // all: L2 term g += wd * p
constexpr unsigned kMomentum = 2;     // SGD, RMSprop: a momentum buffer
constexpr unsigned kFresh = 4;        // SGD: first step, the buffer becomes the gradient
constexpr unsigned kNesterov = 8;     // SGD
constexpr unsigned kAmsgrad = 2;      // Adam: running max of v
constexpr unsigned kDecoupled = 4;    // Adam: AdamW's p *= 1 - lr * wd (with kWeightDecay unset)
constexpr unsigned kCentered = 4;     // RMSprop
constexpr unsigned kSgdFlagsEnd = 16, kAdamFlagsEnd = 8, kRmspropFlagsEnd = 8;

// Scalars of one step, in double; the loops convert them to the compute type once.
struct SgdScalars {
  double lr, momentum, damp1, wd, sign;
};
struct AdamScalars {
  double sign, decay, wd, beta1w, beta2, beta2w, bc2_sqrt, eps, step_size;
};
struct RmspropScalars {
  double sign, wd, alpha, alphaw, eps, momentum, lr;
};
struct AdagradScalars {
  double sign, wd, clr, eps;
};

template <class T>
struct OptimFns {
  void (*sgd)(unsigned flags, T* p, const T* g, T* buf, int64_t n, const SgdScalars& s);
  void (*adam)(unsigned flags, T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamScalars& s);
  void (*rmsprop)(unsigned flags, T* p, const T* g, T* sq, T* ga, T* buf, int64_t n, const RmspropScalars& s);
  void (*adagrad)(unsigned flags, T* p, const T* g, T* sum, int64_t n, const AdagradScalars& s);
  double (*norm)(const T* x, int64_t n, double p);  // sum |x|^p (max |x| for p = inf)
  void (*scale)(T* x, int64_t n, double s);
  void (*clamp)(T* x, int64_t n, double lo, double hi);
};

}  // namespace ember::cpu
