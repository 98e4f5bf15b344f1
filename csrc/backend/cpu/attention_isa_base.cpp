// Portable build of the flash attention kernels.
#define EMBER_ISA_NS base
#include "backend/cpu/attention_impl.h"
