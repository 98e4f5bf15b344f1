// Registers the batch norm kernels of the best ISA this CPU has (norm_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_norm.h"

namespace ember::cpu {

#define EMBER_DECLARE_NORM_ISA(ns)                                                                        \
  namespace ns {                                                                                          \
  void batch_norm_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,        \
                         const Tensor&, const Tensor&, const Tensor&, bool, double, double);              \
  void batch_norm_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, \
                                  const Tensor&, const Tensor&, const Tensor&, bool);                     \
  }
EMBER_DECLARE_NORM_ISA(base)
#if defined(__x86_64__) || defined(_M_X64)
EMBER_DECLARE_NORM_ISA(avx2)
EMBER_DECLARE_NORM_ISA(avx512)
#define EMBER_NORM_PICK(fn) \
  (cpu_isa() == Isa::Avx512 ? &avx512::fn : cpu_isa() == Isa::Avx2 ? &avx2::fn : &base::fn)
#else
#define EMBER_NORM_PICK(fn) (&base::fn)
#endif

EMBER_REGISTER_KERNEL(batch_norm, CPU, EMBER_NORM_PICK(batch_norm_kernel));
EMBER_REGISTER_KERNEL(batch_norm_backward, CPU, EMBER_NORM_PICK(batch_norm_backward_kernel));

}  // namespace ember::cpu
