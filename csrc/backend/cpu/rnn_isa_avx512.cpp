// AVX-512 build of the fused LSTM / GRU cell kernels.
#define EMBER_ISA_NS avx512
#include "backend/cpu/rnn_impl.h"
