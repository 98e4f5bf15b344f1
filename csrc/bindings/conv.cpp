// Bindings for convolutions, conv_transpose, unfold/fold. Size-like arguments accept an int or a
// tuple/list of ints (as PyTorch); conv padding also accepts "same" / "valid".
#include "bindings/common.h"

namespace ember::py {
namespace {

// One int (bools and floats are refused, like PyTorch); `whole` is the argument for the message.
int64_t int_arg(nb::handle e, nb::handle whole, const char* op, const char* name, const char* expected) {
  if (PyBool_Check(e.ptr()) || !(PyLong_Check(e.ptr()) || PyObject_HasAttrString(e.ptr(), "__index__")))
    EMBER_TYPE_ERROR(op, ": expected ", name, " to be ", expected, ", got ", nb::cast<std::string>(nb::repr(whole)));
  nb::object i = e.attr("__index__")();
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow) EMBER_VALUE_ERROR(op, ": ", name, " is out of the int64 range, got ", nb::cast<std::string>(nb::repr(whole)));
  return v;
}

Dims int_args(nb::handle h, const char* op, const char* name) {
  auto one = [&](nb::handle e) { return int_arg(e, h, op, name, "an int or a tuple of ints"); };
  if (PyTuple_Check(h.ptr()) || PyList_Check(h.ptr())) {
    Dims d;
    for (nb::handle e : nb::borrow(h)) d.push_back(one(e));
    return d;
  }
  return {one(h)};
}

Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

template <Tensor (*Num)(const Tensor&, const Tensor&, const Tensor&, const Dims&, const Dims&, const Dims&, int64_t),
          Tensor (*Str)(const Tensor&, const Tensor&, const Tensor&, const Dims&, const std::string&, const Dims&,
                        int64_t)>
Tensor conv_entry(const char* op, const Tensor& input, const Tensor& weight, const std::optional<Tensor>& bias,
                  nb::handle stride, nb::handle padding, nb::handle dilation, nb::handle groups_) {
  const int64_t groups = int_arg(groups_, groups_, op, "groups", "an int");
  const Dims st = int_args(stride, op, "stride"), dil = int_args(dilation, op, "dilation");
  if (PyUnicode_Check(padding.ptr()))
    return Str(input, weight, opt(bias), st, nb::cast<std::string>(padding), dil, groups);
  return Num(input, weight, opt(bias), st, int_args(padding, op, "padding"), dil, groups);
}

}  // namespace

void init_conv(nb::module_& m) {
  using CNum = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Dims&, const Dims&, const Dims&, int64_t);
  using CStr = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Dims&, const std::string&, const Dims&,
                          int64_t);
  m.def(
      "conv2d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride, nb::handle padding,
         nb::handle dilation, nb::handle groups) {
        return conv_entry<static_cast<CNum>(&conv2d), static_cast<CStr>(&conv2d)>("conv2d", input, weight, bias,
                                                                                   stride, padding, dilation, groups);
      },
      "input"_a, "weight"_a, "bias"_a.none() = nb::none(), "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1,
      "groups"_a = 1, "2-D convolution over [N, C, H, W] (or [C, H, W]) input; see nn.functional.conv2d.");
  m.def(
      "conv1d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride, nb::handle padding,
         nb::handle dilation, nb::handle groups) {
        return conv_entry<static_cast<CNum>(&conv1d), static_cast<CStr>(&conv1d)>("conv1d", input, weight, bias,
                                                                                   stride, padding, dilation, groups);
      },
      "input"_a, "weight"_a, "bias"_a.none() = nb::none(), "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1,
      "groups"_a = 1, "1-D convolution over [N, C, L] (or [C, L]) input; see nn.functional.conv1d.");
  m.def(
      "conv_transpose2d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride, nb::handle padding,
         nb::handle output_padding, nb::handle groups, nb::handle dilation) {
        const char* op = "conv_transpose2d";
        return conv_transpose2d(input, weight, opt(bias), int_args(stride, op, "stride"),
                                int_args(padding, op, "padding"), int_args(output_padding, op, "output_padding"),
                                int_arg(groups, groups, op, "groups", "an int"), int_args(dilation, op, "dilation"));
      },
      "input"_a, "weight"_a, "bias"_a.none() = nb::none(), "stride"_a = 1, "padding"_a = 0, "output_padding"_a = 0,
      "groups"_a = 1, "dilation"_a = 1, "2-D transposed convolution; see nn.functional.conv_transpose2d.");
  m.def(
      "conv_transpose1d",
      [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias, nb::handle stride, nb::handle padding,
         nb::handle output_padding, nb::handle groups, nb::handle dilation) {
        const char* op = "conv_transpose1d";
        return conv_transpose1d(input, weight, opt(bias), int_args(stride, op, "stride"),
                                int_args(padding, op, "padding"), int_args(output_padding, op, "output_padding"),
                                int_arg(groups, groups, op, "groups", "an int"), int_args(dilation, op, "dilation"));
      },
      "input"_a, "weight"_a, "bias"_a.none() = nb::none(), "stride"_a = 1, "padding"_a = 0, "output_padding"_a = 0,
      "groups"_a = 1, "dilation"_a = 1, "1-D transposed convolution; see nn.functional.conv_transpose1d.");
  m.def(
      "_unfold",
      [](const Tensor& input, nb::handle kernel_size, nb::handle dilation, nb::handle padding, nb::handle stride) {
        const char* op = "unfold";
        return im2col(input, int_args(kernel_size, op, "kernel_size"), int_args(dilation, op, "dilation"),
                      int_args(padding, op, "padding"), int_args(stride, op, "stride"));
      },
      "input"_a, "kernel_size"_a, "dilation"_a = 1, "padding"_a = 0, "stride"_a = 1,
      "Sliding local blocks (im2col): [N, C, H, W] -> [N, C*kh*kw, L]; see nn.functional.unfold.");
  m.def(
      "_fold",
      [](const Tensor& input, nb::handle output_size, nb::handle kernel_size, nb::handle dilation, nb::handle padding,
         nb::handle stride) {
        const char* op = "fold";
        return col2im(input, int_args(output_size, op, "output_size"), int_args(kernel_size, op, "kernel_size"),
                      int_args(dilation, op, "dilation"), int_args(padding, op, "padding"),
                      int_args(stride, op, "stride"));
      },
      "input"_a, "output_size"_a, "kernel_size"_a, "dilation"_a = 1, "padding"_a = 0, "stride"_a = 1,
      "Sums sliding local blocks back into a tensor (col2im, unfold's adjoint); see nn.functional.fold.");
}

}  // namespace ember::py
