// AVX2 + FMA build of ember.compile's fused elementwise block ops.
#define EMBER_ISA_NS avx2
#include "backend/cpu/fused_impl.h"
