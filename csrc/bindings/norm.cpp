// Bindings for batch norm and interpolation (the Python wrappers live in nn/_norm_functional.py).
#include "bindings/common.h"

namespace ember::py {

namespace {
Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }
}  // namespace

void init_norm(nb::module_& m) {
  // private (torch.batch_norm has another argument order): nn.functional.batch_norm wraps it
  m.def(
      "_batch_norm",
      [](const Tensor& input, std::optional<Tensor> running_mean, std::optional<Tensor> running_var,
         std::optional<Tensor> weight, std::optional<Tensor> bias, bool training, double momentum, double eps) {
        return batch_norm(input, opt(running_mean), opt(running_var), opt(weight), opt(bias), training, momentum,
                          eps);
      },
      "input"_a, "running_mean"_a.none(), "running_var"_a.none(), "weight"_a.none() = nb::none(),
      "bias"_a.none() = nb::none(), "training"_a = false, "momentum"_a = 0.1, "eps"_a = 1e-5,
      "Batch normalization of input [N, C, *] per channel (see nn.functional.batch_norm).");
  // private: nn.functional.layer_norm / rms_norm wrap these (eps default and dims checked there)
  m.def(
      "_layer_norm",
      [](const Tensor& input, const Shape& normalized_shape, std::optional<Tensor> weight, std::optional<Tensor> bias,
         double eps) { return row_norm(input, normalized_shape, opt(weight), opt(bias), eps, false); },
      "input"_a, "normalized_shape"_a, "weight"_a.none() = nb::none(), "bias"_a.none() = nb::none(), "eps"_a = 1e-5);
  m.def(
      "_rms_norm",
      [](const Tensor& input, const Shape& normalized_shape, std::optional<Tensor> weight, double eps) {
        return row_norm(input, normalized_shape, opt(weight), Tensor(), eps, true);
      },
      "input"_a, "normalized_shape"_a, "weight"_a.none() = nb::none(), "eps"_a);
  // private: nn.functional.interpolate computes the output size and scales, then calls these
  m.def("_upsample", &upsample, "input"_a, "output_size"_a, "mode"_a, "align_corners"_a, "scales"_a);
  m.def("_upsample_backward", &upsample_backward, "grad_output"_a, "input_size"_a, "mode"_a, "align_corners"_a,
        "scales"_a);
}

}  // namespace ember::py
