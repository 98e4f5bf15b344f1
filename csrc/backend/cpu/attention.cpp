// Registers the flash attention kernels of the best ISA this CPU has (attention_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_attention.h"

namespace ember::cpu {

#define EMBER_DECLARE_ATTENTION_ISA(ns)                                                                      \
  namespace ns {                                                                                             \
  void attention_forward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,    \
                                const Tensor&, const AttentionParams&);                                      \
  void attention_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,   \
                                 const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,   \
                                 const AttentionParams&);                                                    \
  }
EMBER_DECLARE_ATTENTION_ISA(base)
#if defined(__x86_64__) || defined(_M_X64)
EMBER_DECLARE_ATTENTION_ISA(avx2)
EMBER_DECLARE_ATTENTION_ISA(avx512)
#define EMBER_ATTENTION_PICK(fn) \
  (cpu_isa() == Isa::Avx512 ? &avx512::fn : cpu_isa() == Isa::Avx2 ? &avx2::fn : &base::fn)
#else
#define EMBER_ATTENTION_PICK(fn) (&base::fn)
#endif

EMBER_REGISTER_KERNEL(attention_forward, CPU, EMBER_ATTENTION_PICK(attention_forward_kernel));
EMBER_REGISTER_KERNEL(attention_backward, CPU, EMBER_ATTENTION_PICK(attention_backward_kernel));

}  // namespace ember::cpu
