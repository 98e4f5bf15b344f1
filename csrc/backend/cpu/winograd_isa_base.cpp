// Portable build (baseline x86-64 SSE2, or NEON on arm64) of the Winograd 3x3 convolution kernels (see winograd_impl.h).
#define EMBER_ISA_NS base
#include "backend/cpu/winograd_impl.h"
