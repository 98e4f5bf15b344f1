// Portable build of ember.compile's fused elementwise block ops.
#define EMBER_ISA_NS base
#include "backend/cpu/fused_impl.h"
