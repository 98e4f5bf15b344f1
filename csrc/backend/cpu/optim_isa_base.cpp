// Portable build of the fused optimizer loops.
#define EMBER_ISA_NS base
#define EMBER_OPTIM_HALF
#include "backend/cpu/optim_impl.h"
