// AVX2 + FMA build of the GEMM engine (see gemm_impl.h).
#define EMBER_ISA_NS avx2
#include "backend/cpu/gemm_impl.h"
