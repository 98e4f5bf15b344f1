// AVX512 build of the flash attention kernels.
#define EMBER_ISA_NS avx512
#include "backend/cpu/attention_impl.h"
