// avx2 build of the convolution primitives (conv_impl.h).
#define EMBER_ISA_NS avx2
#include "backend/cpu/conv_impl.h"
