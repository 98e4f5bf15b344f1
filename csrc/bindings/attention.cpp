// Bindings for the language-model kernels: fused attention and cross entropy.
#include "bindings/common.h"

namespace ember::py {

void init_attention(nb::module_& m) {
  m.def(
      "scaled_dot_product_attention",
      [](const Tensor& query, const Tensor& key, const Tensor& value, std::optional<Tensor> attn_mask,
         double dropout_p, bool is_causal, std::optional<double> scale, bool enable_gqa) {
        return scaled_dot_product_attention(query, key, value, attn_mask ? *attn_mask : Tensor(), dropout_p,
                                            is_causal, scale, enable_gqa);
      },
      "query"_a, "key"_a, "value"_a, "attn_mask"_a.none() = nb::none(), "dropout_p"_a = 0.0, "is_causal"_a = false,
      "scale"_a.none() = nb::none(), "enable_gqa"_a = false,
      "softmax(query @ key^T * scale + attn_mask) @ value, computed in tiles (no [L, S] scores buffer).");
  // private: nn.functional.cross_entropy calls it for class-index targets (reduction 0/1/2)
  m.def(
      "_cross_entropy",
      [](const Tensor& input, const Tensor& target, std::optional<Tensor> weight, int64_t reduction,
         int64_t ignore_index, double label_smoothing) {
        return cross_entropy_loss(input, target, weight ? *weight : Tensor(), reduction, ignore_index,
                                  label_smoothing);
      },
      "input"_a, "target"_a, "weight"_a.none(), "reduction"_a, "ignore_index"_a, "label_smoothing"_a);
}

}  // namespace ember::py
