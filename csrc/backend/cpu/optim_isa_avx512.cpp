// AVX-512 build of the fused optimizer loops.
#define EMBER_ISA_NS avx512
#include "backend/cpu/optim_impl.h"
