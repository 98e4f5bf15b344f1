// AVX2 build of the fused cross entropy kernels.
#define EMBER_ISA_NS avx2
#include "backend/cpu/loss_impl.h"
