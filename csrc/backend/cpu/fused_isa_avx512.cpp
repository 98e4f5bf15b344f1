// AVX-512 build of ember.compile's fused elementwise block ops.
#define EMBER_ISA_NS avx512
#include "backend/cpu/fused_impl.h"
