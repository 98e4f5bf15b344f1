// Portable build (baseline x86-64 SSE2, or NEON on arm64) of the GEMM engine (see gemm_impl.h).
#define EMBER_ISA_NS base
#include "backend/cpu/gemm_impl.h"
