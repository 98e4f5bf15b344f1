// Portable build of the batch norm kernels.
#define EMBER_ISA_NS base
#include "backend/cpu/norm_impl.h"
