// Registers the fused LSTM / GRU cell kernels of the best ISA this CPU has (rnn_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_rnn.h"

namespace ember::cpu {

#define EMBER_DECLARE_RNN_ISA(ns)                                                                         \
  namespace ns {                                                                                          \
  void lstm_cell_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&);       \
  void lstm_cell_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, \
                                 const Tensor&, const Tensor&);                                          \
  void gru_cell_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&);        \
  void gru_cell_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,  \
                                const Tensor&, const Tensor&);                                           \
  }
EMBER_DECLARE_RNN_ISA(base)
#if defined(__x86_64__) || defined(_M_X64)
EMBER_DECLARE_RNN_ISA(avx2)
EMBER_DECLARE_RNN_ISA(avx512)
#define EMBER_RNN_PICK(fn) \
  (cpu_isa() == Isa::Avx512 ? &avx512::fn : cpu_isa() == Isa::Avx2 ? &avx2::fn : &base::fn)
#else
#define EMBER_RNN_PICK(fn) (&base::fn)
#endif

EMBER_REGISTER_KERNEL(lstm_cell, CPU, EMBER_RNN_PICK(lstm_cell_kernel));
EMBER_REGISTER_KERNEL(lstm_cell_backward, CPU, EMBER_RNN_PICK(lstm_cell_backward_kernel));
EMBER_REGISTER_KERNEL(gru_cell, CPU, EMBER_RNN_PICK(gru_cell_kernel));
EMBER_REGISTER_KERNEL(gru_cell_backward, CPU, EMBER_RNN_PICK(gru_cell_backward_kernel));

}  // namespace ember::cpu
