// Portable build of the fused LSTM / GRU cell kernels.
#define EMBER_ISA_NS base
#include "backend/cpu/rnn_impl.h"
