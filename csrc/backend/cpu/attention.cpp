// Registers the flash attention kernels of the best ISA this CPU has (attention_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_attention.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(
  void attention_forward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&, const AttentionParams&);
  void attention_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const AttentionParams&);
)

EMBER_REGISTER_KERNEL(attention_forward, CPU, EMBER_ISA_PICK(attention_forward_kernel));
EMBER_REGISTER_KERNEL(attention_backward, CPU, EMBER_ISA_PICK(attention_backward_kernel));

}  // namespace ember::cpu
