// Registers the fused cross entropy kernels of the best ISA this CPU has (loss_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_loss.h"

namespace ember::cpu {

#define EMBER_DECLARE_LOSS_ISA(ns)                                                                            \
  namespace ns {                                                                                              \
  void cross_entropy_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, \
                            double);                                                                          \
  void cross_entropy_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, \
                                     const Tensor&, int64_t, double);                                         \
  }
EMBER_DECLARE_LOSS_ISA(base)
#if defined(__x86_64__) || defined(_M_X64)
EMBER_DECLARE_LOSS_ISA(avx2)
EMBER_DECLARE_LOSS_ISA(avx512)
#define EMBER_LOSS_PICK(fn) \
  (cpu_isa() == Isa::Avx512 ? &avx512::fn : cpu_isa() == Isa::Avx2 ? &avx2::fn : &base::fn)
#else
#define EMBER_LOSS_PICK(fn) (&base::fn)
#endif

EMBER_REGISTER_KERNEL(cross_entropy, CPU, EMBER_LOSS_PICK(cross_entropy_kernel));
EMBER_REGISTER_KERNEL(cross_entropy_backward, CPU, EMBER_LOSS_PICK(cross_entropy_backward_kernel));

}  // namespace ember::cpu
