// Registers the elementwise/reduction kernels of the best ISA this CPU has.
#include "backend/cpu/isa.h"
#include "backend/kernels.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(
  void binary_kernel(BinaryOp, const Tensor&, const Tensor&, const Tensor&);
  void unary_kernel(UnaryOp, const Tensor&, const Tensor&, double, double, double);
  void copy_kernel(const Tensor&, const Tensor&);
  void fill_kernel(const Tensor&, const Scalar&);
  void where_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&);
  void reduce_kernel(ReduceOp, const Tensor&, const Tensor&, const Tensor&, int);
  void softmax_kernel(const Tensor&, const Tensor&, bool);
)

EMBER_REGISTER_KERNEL(binary, CPU, EMBER_ISA_PICK(binary_kernel));
EMBER_REGISTER_KERNEL(unary, CPU, EMBER_ISA_PICK(unary_kernel));
EMBER_REGISTER_KERNEL(copy, CPU, EMBER_ISA_PICK(copy_kernel));
EMBER_REGISTER_KERNEL(fill, CPU, EMBER_ISA_PICK(fill_kernel));
EMBER_REGISTER_KERNEL(where, CPU, EMBER_ISA_PICK(where_kernel));
EMBER_REGISTER_KERNEL(reduce, CPU, EMBER_ISA_PICK(reduce_kernel));
EMBER_REGISTER_KERNEL(softmax, CPU, EMBER_ISA_PICK(softmax_kernel));

}  // namespace ember::cpu
