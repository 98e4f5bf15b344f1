// AVX512 build of the fused cross entropy kernels.
#define EMBER_ISA_NS avx512
#include "backend/cpu/loss_impl.h"
