#pragma once
// Dense copies for CPU kernels that need contiguous inputs, made with the copy kernel: the op
// layer's contiguous()/to_dtype() record autograd and are not a backend's to call.
#include "core/tensor.h"

namespace ember::cpu {

// x itself when it is already contiguous with dtype d, else a contiguous copy in dtype d.
Tensor dense(const Tensor& x, Dtype d);

}  // namespace ember::cpu
