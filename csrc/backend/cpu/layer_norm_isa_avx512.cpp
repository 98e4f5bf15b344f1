// AVX512 build of the layer_norm / rms_norm kernels.
#define EMBER_ISA_NS avx512
#include "backend/cpu/layer_norm_impl.h"
