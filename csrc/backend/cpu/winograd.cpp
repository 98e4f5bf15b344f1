// Winograd 3x3 convolution: not built yet (applicable() is false, so ops/conv.cpp never calls
// the kernels below).
#include "backend/cpu/winograd.h"

#include "core/error.h"

namespace ember::cpu {

bool winograd3x3_applicable(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) { return false; }

void winograd3x3_forward(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t, int64_t) {
  EMBER_RUNTIME_ERROR("winograd3x3_forward: not available");
}

void winograd3x3_grad_weight(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                             int64_t, int64_t) {
  EMBER_RUNTIME_ERROR("winograd3x3_grad_weight: not available");
}

}  // namespace ember::cpu
