#pragma once
// Kernel slots of the fused recurrent cells (ops/rnn.cpp): the pointwise part of one LSTM / GRU
// step, after the gate GEMMs. Every tensor is contiguous, one floating dtype, rows = batch.
#include "backend/registry.h"
#include "core/tensor.h"

namespace ember::kernel {

// LSTM: gates [B, 4H] pre-activations (i, f, g, o); c_prev [B, H].
// Writes h [B, H], c [B, H] and act [B, 4H] (sigmoid/tanh of the gates, kept for the backward).
using LstmCellFn = void (*)(const Tensor& h, const Tensor& c, const Tensor& act,
                            const Tensor& gates, const Tensor& c_prev);
// Grads of the gates and of c_prev from the grads of h and c (gh, gc [B, H]).
using LstmCellBackwardFn = void (*)(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& gh,
                                    const Tensor& gc, const Tensor& act, const Tensor& c_prev,
                                    const Tensor& c);
// GRU: gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, both [B, 3H] (r, z, n); h_prev [B, H].
// Writes h [B, H] and act [B, 3H] (r, z, n after their nonlinearities).
using GruCellFn = void (*)(const Tensor& h, const Tensor& act, const Tensor& gi, const Tensor& gh,
                           const Tensor& h_prev);
// Grads of gi, gh and h_prev from the grad g of h (d_gi and d_gh differ only in the n block,
// which d_gh scales by r).
using GruCellBackwardFn = void (*)(const Tensor& d_gi, const Tensor& d_gh, const Tensor& d_h_prev,
                                   const Tensor& g, const Tensor& act, const Tensor& gh,
                                   const Tensor& h_prev);

// A whole LSTM layer direction (ops/rnn.cpp's lstm_sequence): xw [T, B, 4H] (input projection,
// both biases), h0, c0 [B, H], w_hh [4H, H]. Writes out (every h_t) and cs (every c_t) [T, B, H],
// act [T, B, 4H] (gate activations for the backward; [B, 4H] = scratch). float32 / float64.
using LstmSeqFn = void (*)(const Tensor& out, const Tensor& cs, const Tensor& act, const Tensor& xw,
                           const Tensor& h0, const Tensor& c0, const Tensor& w_hh, bool reverse);
// Its backward from the grads of out, cs [T, B, H], h_T, c_T [B, H]: d_xw [T, B, 4H], d_h0,
// d_c0 [B, H], d_w [4H, H] (undefined: not wanted).
using LstmSeqBackwardFn = void (*)(const Tensor& d_xw, const Tensor& d_h0, const Tensor& d_c0,
                                   const Tensor& d_w, const Tensor& g_out, const Tensor& g_cs,
                                   const Tensor& g_hT, const Tensor& g_cT, const Tensor& act,
                                   const Tensor& out, const Tensor& cs, const Tensor& h0,
                                   const Tensor& c0, const Tensor& w_hh, bool reverse);

inline KernelSlot<LstmCellFn> lstm_cell{"lstm_cell"};
inline KernelSlot<LstmCellBackwardFn> lstm_cell_backward{"lstm_cell_backward"};
inline KernelSlot<GruCellFn> gru_cell{"gru_cell"};
inline KernelSlot<GruCellBackwardFn> gru_cell_backward{"gru_cell_backward"};

inline KernelSlot<LstmSeqFn> lstm_seq{"lstm_seq"};
inline KernelSlot<LstmSeqBackwardFn> lstm_seq_backward{"lstm_seq_backward"};

}  // namespace ember::kernel
