// NumPy and DLPack interop (zero-copy on CPU) and the creation/random functions.
#include <nanobind/ndarray.h>

#include "bindings/common.h"

namespace ember::py {
namespace {

nb::dlpack::dtype to_dl(Dtype d) {
  switch (d) {
    case Dtype::Bool: return nb::dtype<bool>();
    case Dtype::UInt8: return nb::dtype<uint8_t>();
    case Dtype::Int32: return nb::dtype<int32_t>();
    case Dtype::Int64: return nb::dtype<int64_t>();
    case Dtype::Float16: return {uint8_t(nb::dlpack::dtype_code::Float), 16, 1};
    case Dtype::BFloat16: return {uint8_t(nb::dlpack::dtype_code::Bfloat), 16, 1};
    case Dtype::Float32: return nb::dtype<float>();
    default: return nb::dtype<double>();
  }
}

Dtype from_dl(nb::dlpack::dtype t, const char* op) {
  using C = nb::dlpack::dtype_code;
  if (t.lanes == 1) {
    if (t.code == uint8_t(C::Bool) && t.bits == 8) return Dtype::Bool;
    if (t.code == uint8_t(C::UInt) && t.bits == 8) return Dtype::UInt8;
    if (t.code == uint8_t(C::Int) && t.bits == 32) return Dtype::Int32;
    if (t.code == uint8_t(C::Int) && t.bits == 64) return Dtype::Int64;
    if (t.code == uint8_t(C::Float) && t.bits == 16) return Dtype::Float16;
    if (t.code == uint8_t(C::Bfloat) && t.bits == 16) return Dtype::BFloat16;
    if (t.code == uint8_t(C::Float) && t.bits == 32) return Dtype::Float32;
    if (t.code == uint8_t(C::Float) && t.bits == 64) return Dtype::Float64;
  }
  EMBER_TYPE_ERROR(op, ": unsupported array dtype (code ", int(t.code), ", ", int(t.bits),
                   " bits); ember supports bool, uint8, int32, int64, float16, bfloat16, float32, float64");
}

using AnyArray = nb::ndarray<nb::ro, nb::device::cpu>;

// A tensor sharing the array's memory; the array object stays alive as long as the storage.
Tensor tensor_from_array(const AnyArray& a, nb::handle owner, const char* op, bool read_only = false) {
  Dtype dt = from_dl(a.dtype(), op);
  Shape shape(a.ndim()), strides(a.ndim());
  int64_t lo = 0, hi = 0;
  for (size_t i = 0; i < a.ndim(); ++i) {
    shape[i] = int64_t(a.shape(i));
    strides[i] = int64_t(a.stride(i));
    if (strides[i] < 0)
      EMBER_VALUE_ERROR(op, ": arrays with negative strides are not supported (strides ", strides,
                        "); pass a copy (e.g. np.ascontiguousarray)");
    if (shape[i] > 0) hi += (shape[i] - 1) * strides[i];
  }
  (void)lo;
  // an empty array may have no buffer at all, whatever its other sizes
  size_t nbytes = shape_numel(shape) == 0 ? 0 : size_t((hi + 1) * itemsize(dt));
  nb::object keep = nb::borrow(owner);
  auto* holder = new nb::object(keep);
  auto storage = Storage::borrow(const_cast<void*>(a.data()), nbytes, [holder](void*) {
    nb::gil_scoped_acquire gil;
    delete holder;
  });
  storage->read_only = read_only;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = dt;
  impl->refresh();
  return Tensor(impl);
}

// An ndarray view of t (capsule owner keeps the storage alive).
template <class Framework>
nb::ndarray<Framework> array_view(const Tensor& t) {
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  auto* keep = new Tensor(t);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  return nb::ndarray<Framework>(t.raw_data(), t.dim(), shape.data(), owner, strides.data(), to_dl(t.dtype()), nb::device::cpu::value, 0);
}

Generator* gen_ptr(nb::handle g) { return g.is_none() ? nullptr : nb::cast<Generator*>(g); }

}  // namespace

void init_interop(nb::module_& m) {
  // dtype and stride validation happens in Python (ember.from_numpy)
  m.def("_from_numpy", [](nb::handle arr) {
    AnyArray a = nb::cast<AnyArray>(arr);
    return tensor_from_array(a, arr, "from_numpy", !nb::cast<bool>(arr.attr("flags").attr("writeable")));
  }, "ndarray"_a);

  m.def("_from_dlpack", [](nb::handle obj) {
    AnyArray a = nb::cast<AnyArray>(obj);
    nb::object owner = nb::cast(a);
    return tensor_from_array(a, owner, "from_dlpack");
  }, "ext_tensor"_a);

  nb::handle cls = nb::type<Tensor>();
  nb::cpp_function_def(
      [](const Tensor& t, bool force) -> nb::object {
        if (t.requires_grad() && !force)
          EMBER_RUNTIME_ERROR("numpy: can't call numpy() on a tensor that requires grad; use tensor.detach().numpy() instead");
        if (t.dtype() == Dtype::BFloat16)
          EMBER_TYPE_ERROR("numpy: NumPy has no bfloat16 dtype; convert first, e.g. tensor.float().numpy()");
        synchronize(t.device());  // unified memory: the host reads a device tensor in place
        nb::object arr = nb::cast(array_view<nb::numpy>(t));
        if (t.storage()->read_only) arr.attr("setflags")("write"_a = false);
        return arr;
      },
      nb::is_method(), nb::name("numpy"), nb::scope(cls), "force"_a = false);
  cls.attr("_array_view") = nb::cpp_function([](const Tensor& t) {
    synchronize(t.device());
    return array_view<nb::array_api>(t);
  }, nb::is_method(),
                                             nb::name("_array_view"), nb::scope(cls));

  // creation
  // device: "cpu", "metal", "mps", ... (parse_device)
  m.def("_empty", [](nb::handle s, Dtype d, const std::string& dev) {
    return empty(shape_from_handle(s, "empty"), d, parse_device(dev));
  }, "size"_a, "dtype"_a, "device"_a = "cpu");
  m.def("_zeros", [](nb::handle s, Dtype d, const std::string& dev) {
    return zeros(shape_from_handle(s, "zeros"), d, parse_device(dev));
  }, "size"_a, "dtype"_a, "device"_a = "cpu");
  m.def("_ones", [](nb::handle s, Dtype d, const std::string& dev) {
    return ones(shape_from_handle(s, "ones"), d, parse_device(dev));
  }, "size"_a, "dtype"_a, "device"_a = "cpu");
  m.def("_full", [](nb::handle s, Scalar v, Dtype d, const std::string& dev) {
    return full(shape_from_handle(s, "full"), v, d, parse_device(dev));
  }, "size"_a, "fill_value"_a, "dtype"_a, "device"_a = "cpu");
  m.def("_arange", [](Scalar start, Scalar end, Scalar step, std::optional<Dtype> d) { return arange(start, end, step, d); },
        "start"_a, "end"_a, "step"_a, "dtype"_a = nb::none());
  m.def("_linspace", &linspace, "start"_a, "end"_a, "steps"_a, "dtype"_a);
  m.def("_eye", &eye, "n"_a, "m"_a, "dtype"_a);

  nb::class_<Generator>(m, "Generator", "A random number generator (xorshift128+); seed it for reproducible streams.")
      .def(nb::init<>())
      .def("manual_seed", [](Generator& g, uint64_t s) -> Generator& { g.manual_seed(s); return g; }, "seed"_a,
           nb::rv_policy::reference)
      .def("initial_seed", [](const Generator& g) { return g.seed_; })
      .def("get_state", [](const Generator& g) { return std::vector<uint64_t>{g.state[0], g.state[1], g.seed_}; })
      .def("set_state", [](Generator& g, const std::vector<uint64_t>& s) {
        EMBER_CHECK(s.size() == 3, "Generator.set_state: expected a state of 3 integers, got ", s.size());
        g.state[0] = s[0];
        g.state[1] = s[1];
        g.seed_ = s[2];
      }, "state"_a);
  m.def("default_generator", &default_generator, nb::rv_policy::reference);
  m.def("_manual_seed", [](uint64_t s) { manual_seed(s); }, "seed"_a);
  m.def("_rand", [](nb::handle s, Dtype d, nb::handle g, const std::string& dev) {
    return rand(shape_from_handle(s, "rand"), d, gen_ptr(g), parse_device(dev));
  }, "size"_a, "dtype"_a, "generator"_a = nb::none(), "device"_a = "cpu");
  m.def("_randn", [](nb::handle s, Dtype d, nb::handle g, const std::string& dev) {
    return randn(shape_from_handle(s, "randn"), d, gen_ptr(g), parse_device(dev));
  }, "size"_a, "dtype"_a, "generator"_a = nb::none(), "device"_a = "cpu");
  m.def("_randint", [](int64_t lo, int64_t hi, nb::handle s, Dtype d, nb::handle g) {
    return randint(lo, hi, shape_from_handle(s, "randint"), d, gen_ptr(g));
  }, "low"_a, "high"_a, "size"_a, "dtype"_a, "generator"_a = nb::none());
  m.def("_randperm", [](int64_t n, Dtype d, nb::handle g) { return randperm(n, d, gen_ptr(g)); }, "n"_a, "dtype"_a,
        "generator"_a = nb::none());
  m.def("bernoulli", [](const Tensor& p, nb::handle g) { return bernoulli(p, gen_ptr(g)); }, "input"_a,
        "generator"_a = nb::none());
  m.def("_bernoulli_scalar", [](nb::handle s, double p, Dtype d, const std::string& dev, nb::handle g) {
    return bernoulli(shape_from_handle(s, "bernoulli"), p, d, parse_device(dev), gen_ptr(g));
  }, "size"_a, "p"_a, "dtype"_a, "device"_a = "cpu", "generator"_a = nb::none());
  nb::cpp_function_def(
      [](Tensor& t, double a, double b, nb::handle g) -> Tensor& { return uniform_(t, a, b, gen_ptr(g)); }, nb::is_method(),
      nb::name("uniform_"), nb::scope(cls), "from_"_a = 0.0, "to"_a = 1.0, nb::kw_only(), "generator"_a = nb::none(),
      nb::rv_policy::reference);
  nb::cpp_function_def(
      [](Tensor& t, double mean, double std, nb::handle g) -> Tensor& { return normal_(t, mean, std, gen_ptr(g)); },
      nb::is_method(), nb::name("normal_"), nb::scope(cls), "mean"_a = 0.0, "std"_a = 1.0, nb::kw_only(),
      "generator"_a = nb::none(), nb::rv_policy::reference);
}

}  // namespace ember::py
