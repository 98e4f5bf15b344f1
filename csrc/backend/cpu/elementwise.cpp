// Registers the elementwise/reduction kernels of the best ISA this CPU has.
#include "backend/cpu/isa.h"
#include "backend/kernels.h"

namespace ember::cpu {

#define EMBER_DECLARE_ISA(ns)                                                                    \
  namespace ns {                                                                                 \
  void binary_kernel(BinaryOp, const Tensor&, const Tensor&, const Tensor&);                     \
  void unary_kernel(UnaryOp, const Tensor&, const Tensor&, double, double, double);             \
  void copy_kernel(const Tensor&, const Tensor&);                                                \
  void fill_kernel(const Tensor&, const Scalar&);                                                \
  void where_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&);                 \
  void reduce_kernel(ReduceOp, const Tensor&, const Tensor&, const Tensor&, int);                \
  void softmax_kernel(const Tensor&, const Tensor&, bool);                                       \
  }
EMBER_DECLARE_ISA(base)
#if defined(__x86_64__) || defined(_M_X64)
EMBER_DECLARE_ISA(avx2)
EMBER_DECLARE_ISA(avx512)
#define EMBER_PICK(fn) \
  (cpu_isa() == Isa::Avx512 ? &avx512::fn : cpu_isa() == Isa::Avx2 ? &avx2::fn : &base::fn)
#else
#define EMBER_PICK(fn) (&base::fn)
#endif

EMBER_REGISTER_KERNEL(binary, CPU, EMBER_PICK(binary_kernel));
EMBER_REGISTER_KERNEL(unary, CPU, EMBER_PICK(unary_kernel));
EMBER_REGISTER_KERNEL(copy, CPU, EMBER_PICK(copy_kernel));
EMBER_REGISTER_KERNEL(fill, CPU, EMBER_PICK(fill_kernel));
EMBER_REGISTER_KERNEL(where, CPU, EMBER_PICK(where_kernel));
EMBER_REGISTER_KERNEL(reduce, CPU, EMBER_PICK(reduce_kernel));
EMBER_REGISTER_KERNEL(softmax, CPU, EMBER_PICK(softmax_kernel));

}  // namespace ember::cpu
