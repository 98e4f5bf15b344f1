// AVX2 + FMA build of the fused optimizer loops.
#define EMBER_ISA_NS avx2
#include "backend/cpu/optim_impl.h"
