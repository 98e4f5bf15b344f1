// AVX-512 (F/BW/VL/DQ) build of the GEMM engine (see gemm_impl.h).
#define EMBER_ISA_NS avx512
#include "backend/cpu/gemm_impl.h"
