// Registers the fused LSTM / GRU cell kernels of the best ISA this CPU has (rnn_impl.h).
#include "backend/cpu/isa.h"
#include "backend/kernels_rnn.h"

namespace ember::cpu {

EMBER_ISA_DECLARE(
    void lstm_cell_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                          const Tensor&);
    void lstm_cell_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                   const Tensor&, const Tensor&, const Tensor&);
    void gru_cell_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&);
    void gru_cell_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&);
    void lstm_seq_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&, const Tensor&, bool);
    void lstm_seq_backward_kernel(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, bool);)

EMBER_REGISTER_KERNEL(lstm_cell, CPU, EMBER_ISA_PICK(lstm_cell_kernel));
EMBER_REGISTER_KERNEL(lstm_cell_backward, CPU, EMBER_ISA_PICK(lstm_cell_backward_kernel));
EMBER_REGISTER_KERNEL(gru_cell, CPU, EMBER_ISA_PICK(gru_cell_kernel));
EMBER_REGISTER_KERNEL(gru_cell_backward, CPU, EMBER_ISA_PICK(gru_cell_backward_kernel));
EMBER_REGISTER_KERNEL(lstm_seq, CPU, EMBER_ISA_PICK(lstm_seq_kernel));
EMBER_REGISTER_KERNEL(lstm_seq_backward, CPU, EMBER_ISA_PICK(lstm_seq_backward_kernel));

}  // namespace ember::cpu
