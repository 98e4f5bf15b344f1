// AVX2 build of the layer_norm / rms_norm kernels.
#define EMBER_ISA_NS avx2
#include "backend/cpu/layer_norm_impl.h"
