// AVX2 build of the flash attention kernels.
#define EMBER_ISA_NS avx2
#include "backend/cpu/attention_impl.h"
