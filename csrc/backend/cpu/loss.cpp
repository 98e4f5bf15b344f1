// Registers the fused cross entropy kernels of the best ISA this CPU has (loss_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_loss.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(
  void cross_entropy_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                            double);
  void cross_entropy_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                     const Tensor&, int64_t, double);
)

EMBER_REGISTER_KERNEL(cross_entropy, CPU, EMBER_ISA_PICK(cross_entropy_kernel));
EMBER_REGISTER_KERNEL(cross_entropy_backward, CPU, EMBER_ISA_PICK(cross_entropy_backward_kernel));

}  // namespace ember::cpu
