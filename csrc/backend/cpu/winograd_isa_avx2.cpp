// AVX2 + FMA build of the Winograd 3x3 convolution kernels (see winograd_impl.h).
#define EMBER_ISA_NS avx2
#include "backend/cpu/winograd_impl.h"
