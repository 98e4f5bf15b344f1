// Portable build of the pooling plane loops.
#define EMBER_ISA_NS base
#include "backend/cpu/pool_impl.h"
