// AVX2 + FMA build of the batch norm kernels.
#define EMBER_ISA_NS avx2
#include "backend/cpu/norm_impl.h"
