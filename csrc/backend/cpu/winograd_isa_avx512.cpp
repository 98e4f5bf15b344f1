// AVX-512 build of the Winograd 3x3 convolution kernels (see winograd_impl.h).
#define EMBER_ISA_NS avx512
#include "backend/cpu/winograd_impl.h"
