// AVX2 + FMA build of the pooling plane loops.
#define EMBER_ISA_NS avx2
#include "backend/cpu/pool_impl.h"
