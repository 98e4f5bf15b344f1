#pragma once
// Autocast (mixed precision): a thread-local state per device kind, consulted by the ops in one
// table below. An op with policy `lower` casts its floating inputs (f32/f16/bf16, never f64) to the
// autocast dtype before running; `fp32` casts them to float32. The casts go through to_dtype, so
// gradients flow back to each input in its own dtype.
#include <string_view>

#include "core/tensor.h"

namespace ember::autocast {

enum class Policy : uint8_t { None, Lower, Fp32 };

// The op list, PyTorch's CPU autocast lists (torch.amp.autocast_mode). Adding an op = one line here
// plus `x = autocast::arg("name", x)` on its inputs (or autocast::apply in Python).
#define EMBER_AUTOCAST_OPS(X)                                                                       \
  X(matmul, Lower) X(mm, Lower) X(bmm, Lower) X(addmm, Lower) X(baddbmm, Lower) X(linear, Lower)   \
  X(conv1d, Lower) X(conv2d, Lower) X(conv_transpose1d, Lower) X(conv_transpose2d, Lower)          \
  X(prelu, Lower) X(scaled_dot_product_attention, Lower)                                           \
  X(mse_loss, Fp32) X(l1_loss, Fp32) X(smooth_l1_loss, Fp32) X(huber_loss, Fp32)                   \
  X(cross_entropy, Fp32) X(nll_loss, Fp32) X(kl_div, Fp32) X(binary_cross_entropy, Fp32)           \
  X(binary_cross_entropy_with_logits, Fp32) X(cdist, Fp32)

Policy policy(std::string_view op);

// The per-thread state for one device kind (default: off, bfloat16 on CPU, float16 on Metal).
bool is_enabled(Device d);
void set_enabled(Device d, bool on);
Dtype dtype(Device d);
void set_dtype(Device d, Dtype dt);  // float16 or bfloat16

// Fast check: autocast is on for some device on this thread.
bool any_enabled();

// x as `op` wants it under the current state (x itself when autocast is off, x is undefined or not
// an eligible floating tensor, or the op has no policy).
Tensor arg(std::string_view op, const Tensor& x);

}  // namespace ember::autocast
