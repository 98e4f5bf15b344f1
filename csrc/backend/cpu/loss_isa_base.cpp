// Portable build of the fused cross entropy kernels.
#define EMBER_ISA_NS base
#include "backend/cpu/loss_impl.h"
