// AVX-512 build of the pooling plane loops.
#define EMBER_ISA_NS avx512
#include "backend/cpu/pool_impl.h"
