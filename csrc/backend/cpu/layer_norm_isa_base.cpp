// Portable build of the layer_norm / rms_norm kernels.
#define EMBER_ISA_NS base
#include "backend/cpu/layer_norm_impl.h"
