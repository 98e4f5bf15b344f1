// AVX-512 build of the batch norm kernels.
#define EMBER_ISA_NS avx512
#include "backend/cpu/norm_impl.h"
