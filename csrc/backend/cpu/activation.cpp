// Registers the fused activation backward kernels of the best ISA this CPU has (activation_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_act.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(void gelu_backward_kernel(const Tensor&, const Tensor&, const Tensor&, bool);)

EMBER_REGISTER_KERNEL(gelu_backward, CPU, EMBER_ISA_PICK(gelu_backward_kernel));

}  // namespace ember::cpu
