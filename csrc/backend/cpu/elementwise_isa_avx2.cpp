// AVX2 + FMA build of the elementwise and reduction kernels.
#define EMBER_ISA_NS avx2
#include "backend/cpu/elementwise_impl.h"
#include "backend/cpu/reduce_impl.h"
