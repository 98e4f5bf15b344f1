// avx512 build of the convolution primitives (conv_impl.h).
#define EMBER_ISA_NS avx512
#include "backend/cpu/conv_impl.h"
