// base build of the convolution primitives (conv_impl.h).
#define EMBER_ISA_NS base
#include "backend/cpu/conv_impl.h"
