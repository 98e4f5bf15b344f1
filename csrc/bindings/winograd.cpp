// Private entry points to the Winograd kernels, for tests and benchmarks:
//   _C._winograd3x3_forward(x, w, bias=None, padding=(0, 0)) -> y
//   _C._winograd3x3_grad_weight(x, dy, padding=(0, 0)) -> dw
//   _C._winograd3x3_applicable(N, C, H, W, K, ph, pw) -> bool
//   _C._winograd3x3_set_enabled(on) -> previous setting (conv2d's use of Winograd)
// Tensors are float32 CPU (made contiguous here); no autograd is recorded.
#include "backend/kernels_winograd.h"
#include "bindings/common.h"

namespace ember::py {
namespace {

std::pair<int64_t, int64_t> padding_arg(nb::handle h, const char* op) {
  if (PyLong_Check(h.ptr())) {
    const int64_t p = nb::cast<int64_t>(h);
    return {p, p};
  }
  Shape s = shape_from_handle(h, op);
  EMBER_CHECK(s.size() == 2, op, ": padding must be an int or a pair of ints, got ", s.size(), " values");
  return {s[0], s[1]};
}

Tensor f32_4d(const Tensor& t, const char* op, const char* name) {
  EMBER_CHECK_KIND(t.dtype() == Dtype::Float32, Type, op, ": ", name, " must be float32, got ",
                   dtype_name(t.dtype()));
  EMBER_CHECK(t.dim() == 4, op, ": ", name, " must be 4-D, got ", t.dim(), "-D");
  EMBER_CHECK(t.device() == Device::CPU, op, ": ", name, " must be a CPU tensor");
  return contiguous(t);
}

void check_problem(const char* op, const Shape& xs, int64_t K, int64_t ph, int64_t pw) {
  EMBER_CHECK(ph >= 0 && ph <= 2 && pw >= 0 && pw <= 2, op, ": padding must be in [0, 2], got (", ph, ", ", pw,
              ")");
  EMBER_CHECK(xs[0] >= 1 && xs[1] >= 1 && K >= 1, op, ": sizes must be positive, got input ", xs, " and ", K,
              " output channels");
  EMBER_CHECK(xs[2] + 2 * ph >= 3 && xs[3] + 2 * pw >= 3, op, ": input ", xs, " with padding (", ph, ", ", pw,
              ") is smaller than the 3x3 kernel");
}

Tensor wino_forward(const Tensor& x_, const Tensor& w_, std::optional<Tensor> bias_, nb::handle padding) {
  const char* op = "_winograd3x3_forward";
  const Tensor x = f32_4d(x_, op, "input"), w = f32_4d(w_, op, "weight");
  const auto [ph, pw] = padding_arg(padding, op);
  const Shape& xs = x.shape();
  const int64_t K = w.shape()[0];
  EMBER_CHECK(w.shape()[1] == xs[1] && w.shape()[2] == 3 && w.shape()[3] == 3, op, ": weight ", w.shape(),
              " does not match input ", xs, " (expected [K, ", xs[1], ", 3, 3])");
  check_problem(op, xs, K, ph, pw);
  Tensor bias;
  if (bias_) {
    EMBER_CHECK_KIND(bias_->dtype() == Dtype::Float32, Type, op, ": bias must be float32");
    EMBER_CHECK(bias_->dim() == 1 && bias_->shape()[0] == K, op, ": bias ", bias_->shape(), " must be [", K, "]");
    bias = contiguous(*bias_);
  }
  Tensor y = empty({xs[0], K, xs[2] + 2 * ph - 2, xs[3] + 2 * pw - 2}, Dtype::Float32);
  kernel::winograd3x3_forward(Device::CPU)(y, x, w, bias, ph, pw);
  return y;
}

Tensor wino_grad_weight(const Tensor& x_, const Tensor& dy_, nb::handle padding) {
  const char* op = "_winograd3x3_grad_weight";
  const Tensor x = f32_4d(x_, op, "input"), dy = f32_4d(dy_, op, "grad_output");
  const auto [ph, pw] = padding_arg(padding, op);
  const Shape& xs = x.shape();
  const int64_t K = dy.shape()[1];
  check_problem(op, xs, K, ph, pw);
  const Shape want{xs[0], K, xs[2] + 2 * ph - 2, xs[3] + 2 * pw - 2};
  EMBER_CHECK(dy.shape() == want, op, ": grad_output ", dy.shape(), " does not match input ", xs, " (expected ",
              want, ")");
  Tensor dw = empty({K, xs[1], 3, 3}, Dtype::Float32);
  kernel::winograd3x3_grad_weight(Device::CPU)(dw, x, dy, ph, pw);
  return dw;
}

}  // namespace

void init_winograd(nb::module_& m) {
  m.def("_winograd3x3_forward", &wino_forward, "input"_a, "weight"_a, "bias"_a.none() = nb::none(),
        "padding"_a = 0, "Winograd F(4x4, 3x3) conv2d forward (stride 1), for tests and benchmarks.");
  m.def("_winograd3x3_grad_weight", &wino_grad_weight, "input"_a, "grad_output"_a, "padding"_a = 0,
        "Weight gradient of the Winograd conv2d, for tests and benchmarks.");
  m.def("_winograd3x3_applicable",
        [](int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t ph, int64_t pw) {
          return kernel::winograd3x3_applicable(Device::CPU)(N, C, H, W, K, ph, pw);
        },
        "N"_a, "C"_a, "H"_a, "W"_a, "K"_a, "ph"_a, "pw"_a,
        "Whether conv2d uses the Winograd kernels for this problem.");
  m.def("_winograd3x3_set_enabled", [](bool on) { return kernel::winograd3x3_set_enabled(Device::CPU)(on); }, "on"_a,
        "Lets conv2d pick Winograd (True, the default) or never; returns the previous setting.");
}

}  // namespace ember::py
