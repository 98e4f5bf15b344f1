// Bindings for pooling (max/avg/adaptive). The names torch has at top level (torch.max_pool2d,
// torch.avg_pool1d, ...) are public with its signatures; the rest are private entry points of
// ember.nn.functional.
#include "bindings/common.h"

namespace ember::py {

namespace {

// kernel_size / stride / padding / dilation: an int or a tuple (None or () for stride: default)
Dims dims(const DimArg& a) { return a.v ? *a.v : Dims{}; }

// output_size: an int, or a tuple of ints and Nones
OptSizes sizes(nb::handle h, const char* op) {
  auto one = [&](nb::handle e) -> std::optional<int64_t> {
    if (e.is_none()) return std::nullopt;
    if (PyBool_Check(e.ptr()) || !PyObject_HasAttrString(e.ptr(), "__index__"))
      EMBER_TYPE_ERROR(op, ": output_size must contain ints or None, got ", nb::cast<std::string>(nb::repr(e)));
    return nb::cast<int64_t>(e.attr("__index__")());
  };
  if (PyTuple_Check(h.ptr()) || PyList_Check(h.ptr())) {
    OptSizes s;
    for (nb::handle e : nb::borrow(h)) s.push_back(one(e));
    return s;
  }
  return {one(h)};
}

nb::tuple pair(const std::pair<Tensor, Tensor>& p) { return nb::make_tuple(p.first, p.second); }

}  // namespace

void init_pool(nb::module_& m) {
  m.def(
      "max_pool1d",
      [](const Tensor& x, DimArg k, DimArg s, DimArg p, DimArg d, bool ceil_mode) {
        return max_pool1d(x, dims(k), dims(s), dims(p), dims(d), ceil_mode);
      },
      "input"_a, "kernel_size"_a, "stride"_a.none() = nb::tuple(), "padding"_a = 0, "dilation"_a = 1,
      "ceil_mode"_a = false, "1-D max pooling over the last dim of (N, C, L) or (C, L).");
  m.def(
      "max_pool2d",
      [](const Tensor& x, DimArg k, DimArg s, DimArg p, DimArg d, bool ceil_mode) {
        return max_pool2d(x, dims(k), dims(s), dims(p), dims(d), ceil_mode);
      },
      "input"_a, "kernel_size"_a, "stride"_a.none() = nb::tuple(), "padding"_a = 0, "dilation"_a = 1,
      "ceil_mode"_a = false, "2-D max pooling over the last two dims of (N, C, H, W) or (C, H, W).");
  m.def(
      "max_pool1d_with_indices",
      [](const Tensor& x, DimArg k, DimArg s, DimArg p, DimArg d, bool ceil_mode) {
        return pair(max_pool1d_with_indices(x, dims(k), dims(s), dims(p), dims(d), ceil_mode));
      },
      "input"_a, "kernel_size"_a, "stride"_a.none() = nb::tuple(), "padding"_a = 0, "dilation"_a = 1,
      "ceil_mode"_a = false, "max_pool1d, also returning the int64 indices of the maxima.");
  m.def(
      "_max_pool2d_with_indices",
      [](const Tensor& x, DimArg k, DimArg s, DimArg p, DimArg d, bool ceil_mode) {
        return pair(max_pool2d_with_indices(x, dims(k), dims(s), dims(p), dims(d), ceil_mode));
      },
      "input"_a, "kernel_size"_a, "stride"_a.none() = nb::tuple(), "padding"_a = 0, "dilation"_a = 1,
      "ceil_mode"_a = false);
  m.def(
      "avg_pool1d",
      [](const Tensor& x, DimArg k, DimArg s, DimArg p, bool ceil_mode, bool count_include_pad) {
        return avg_pool1d(x, dims(k), dims(s), dims(p), ceil_mode, count_include_pad);
      },
      "input"_a, "kernel_size"_a, "stride"_a.none() = nb::tuple(), "padding"_a = 0, "ceil_mode"_a = false,
      "count_include_pad"_a = true, "1-D average pooling over the last dim of (N, C, L) or (C, L).");
  m.def(
      "_avg_pool2d",
      [](const Tensor& x, DimArg k, DimArg s, DimArg p, bool ceil_mode, bool count_include_pad,
         std::optional<int64_t> divisor_override) {
        return avg_pool2d(x, dims(k), dims(s), dims(p), ceil_mode, count_include_pad, divisor_override);
      },
      "input"_a, "kernel_size"_a, "stride"_a.none() = nb::tuple(), "padding"_a = 0, "ceil_mode"_a = false,
      "count_include_pad"_a = true, "divisor_override"_a.none() = nb::none());
  m.def(
      "adaptive_avg_pool1d",
      [](const Tensor& x, nb::handle size) { return adaptive_avg_pool1d(x, sizes(size, "adaptive_avg_pool1d")); },
      "input"_a, "output_size"_a, "1-D adaptive average pooling to output_size.");
  m.def(
      "_adaptive_avg_pool2d",
      [](const Tensor& x, nb::handle size) { return adaptive_avg_pool2d(x, sizes(size, "adaptive_avg_pool2d")); },
      "input"_a, "output_size"_a);
  m.def(
      "adaptive_max_pool1d",
      [](const Tensor& x, nb::handle size) {
        return pair(adaptive_max_pool1d(x, sizes(size, "adaptive_max_pool1d")));
      },
      "input"_a, "output_size"_a, "1-D adaptive max pooling to output_size; returns (values, indices).");
  m.def(
      "_adaptive_max_pool2d",
      [](const Tensor& x, nb::handle size) {
        return pair(adaptive_max_pool2d(x, sizes(size, "adaptive_max_pool2d")));
      },
      "input"_a, "output_size"_a);
  m.def(
      "_max_unpool2d",
      [](const Tensor& x, const Tensor& indices, DimArg size) { return max_unpool2d(x, indices, dims(size)); },
      "input"_a, "indices"_a, "output_size"_a);
}

}  // namespace ember::py
