// Registers the layer_norm / rms_norm kernels of the best ISA this CPU has (layer_norm_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_norm.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(
  void layer_norm_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&, double, bool);
  void layer_norm_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&, bool);
)

EMBER_REGISTER_KERNEL(layer_norm, CPU, EMBER_ISA_PICK(layer_norm_kernel));
EMBER_REGISTER_KERNEL(layer_norm_backward, CPU, EMBER_ISA_PICK(layer_norm_backward_kernel));

}  // namespace ember::cpu
