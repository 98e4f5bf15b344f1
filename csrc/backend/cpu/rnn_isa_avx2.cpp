// AVX2 + FMA build of the fused LSTM / GRU cell kernels.
#define EMBER_ISA_NS avx2
#include "backend/cpu/rnn_impl.h"
