// Registers the batch norm kernels of the best ISA this CPU has (norm_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_norm.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(
  void batch_norm_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&, const Tensor&, const Tensor&, bool, double, double);
  void batch_norm_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&, bool);
)

EMBER_REGISTER_KERNEL(batch_norm, CPU, EMBER_ISA_PICK(batch_norm_kernel));
EMBER_REGISTER_KERNEL(batch_norm_backward, CPU, EMBER_ISA_PICK(batch_norm_backward_kernel));

}  // namespace ember::cpu
