// Registers the layer_norm / rms_norm kernels of the best ISA this CPU has (layer_norm_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_norm.h"

namespace ember::cpu {

#define EMBER_DECLARE_LAYER_NORM_ISA(ns)                                                                    \
  namespace ns {                                                                                            \
  void layer_norm_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,          \
                         const Tensor&, double, bool);                                                      \
  void layer_norm_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, \
                                  const Tensor&, const Tensor&, const Tensor&, bool);                       \
  }
EMBER_DECLARE_LAYER_NORM_ISA(base)
#if defined(__x86_64__) || defined(_M_X64)
EMBER_DECLARE_LAYER_NORM_ISA(avx2)
EMBER_DECLARE_LAYER_NORM_ISA(avx512)
#define EMBER_LAYER_NORM_PICK(fn) \
  (cpu_isa() == Isa::Avx512 ? &avx512::fn : cpu_isa() == Isa::Avx2 ? &avx2::fn : &base::fn)
#else
#define EMBER_LAYER_NORM_PICK(fn) (&base::fn)
#endif

EMBER_REGISTER_KERNEL(layer_norm, CPU, EMBER_LAYER_NORM_PICK(layer_norm_kernel));
EMBER_REGISTER_KERNEL(layer_norm_backward, CPU, EMBER_LAYER_NORM_PICK(layer_norm_backward_kernel));

}  // namespace ember::cpu
