// AVX-512 build of the elementwise and reduction kernels (16 floats per vector).
#define EMBER_ISA_NS avx512
#include "backend/cpu/elementwise_impl.h"
#include "backend/cpu/reduce_impl.h"
