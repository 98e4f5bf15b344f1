// Portable build of the elementwise and reduction kernels (any x86-64 / arm64).
#define EMBER_ISA_NS base
#include "backend/cpu/elementwise_impl.h"
#include "backend/cpu/reduce_impl.h"
