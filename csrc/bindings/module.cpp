// The _C extension module: dtypes, errors, runtime settings; the rest is in tensor.cpp,
// ops.cpp, autograd.cpp and interop.cpp.
#include <nanobind/stl/map.h>

#include "backend/cpu/isa.h"
#include "backend/registry.h"
#include "backend/cpu/threadpool.h"
#include "bindings/common.h"

namespace ember::py {

static nb::object g_dtypes[kNumDtypes];

nb::object dtype_object(Dtype d) { return g_dtypes[int(d)]; }

bool dtype_from_python(nb::handle h, Dtype& out) {
  if (nb::isinstance<PyDtype>(h)) {
    out = nb::cast<PyDtype&>(h).d;
    return true;
  }
  PyObject* o = h.ptr();
  if (o == (PyObject*)&PyFloat_Type) { out = Dtype::Float64; return true; }
  if (o == (PyObject*)&PyLong_Type) { out = Dtype::Int64; return true; }
  if (o == (PyObject*)&PyBool_Type) { out = Dtype::Bool; return true; }
  // NumPy dtypes and scalar types (np.float32, np.dtype("int64"), "float32")
  if (PyObject_HasAttrString(o, "dtype") || PyObject_HasAttrString(o, "char") || PyType_Check(o)) {
    try {
      nb::object np = nb::module_::import_("numpy");
      std::string name = nb::cast<std::string>(np.attr("dtype")(h).attr("name"));
      static const std::pair<const char*, Dtype> table[] = {
          {"bool", Dtype::Bool},       {"uint8", Dtype::UInt8},     {"int32", Dtype::Int32},
          {"int64", Dtype::Int64},     {"float16", Dtype::Float16}, {"float32", Dtype::Float32},
          {"float64", Dtype::Float64}};
      for (auto& [n, d] : table)
        if (name == n) { out = d; return true; }
    } catch (...) {
      PyErr_Clear();
    }
  }
  return false;
}

Shape shape_from_handle(nb::handle h, const char* op) {
  Shape s;
  if (PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr())) return {nb::cast<int64_t>(h)};
  if (!PySequence_Check(h.ptr()) || PyUnicode_Check(h.ptr()))
    EMBER_TYPE_ERROR(op, ": size must be a tuple of ints, got ", nb::cast<std::string>(nb::str(h.type().attr("__name__"))));
  for (nb::handle e : nb::borrow(h)) {
    if (!PyLong_Check(e.ptr()) || PyBool_Check(e.ptr())) {
      // accept index-like objects (numpy ints, 0-d int tensors)
      if (!PyObject_HasAttrString(e.ptr(), "__index__"))
        EMBER_TYPE_ERROR(op, ": size must contain only ints, got ", nb::cast<std::string>(nb::repr(e)));
      s.push_back(nb::cast<int64_t>(e.attr("__index__")()));
      continue;
    }
    s.push_back(nb::cast<int64_t>(e));
  }
  return s;
}

Shape shape_from_args(const nb::args& args, const char* op) {
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return shape_from_handle(args[0], op);
  Shape s;
  for (nb::handle e : args) {
    if (!PyLong_Check(e.ptr()) && !PyObject_HasAttrString(e.ptr(), "__index__"))
      EMBER_TYPE_ERROR(op, ": size must contain only ints, got ", nb::cast<std::string>(nb::repr(e)));
    s.push_back(nb::cast<int64_t>(e.attr("__index__")()));
  }
  return s;
}

}  // namespace ember::py

using namespace ember;
using namespace ember::py;

NB_MODULE(_C, m) {
  m.doc() = "ember's C++ core: tensors, autograd, CPU kernels";
  // dtype singletons and cached callables live for the whole process on purpose
  nb::set_leak_warnings(false);
  // kernels run with the GIL released (backend/registry.h); only a thread holding it gives it up
  GilRelease::release = []() -> void* { return PyGILState_Check() ? PyEval_SaveThread() : nullptr; };
  GilRelease::restore = [](void* s) { PyEval_RestoreThread(static_cast<PyThreadState*>(s)); };

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      PyObject* type = PyExc_RuntimeError;
      switch (e.kind) {
        case ErrorKind::Value: type = PyExc_ValueError; break;
        case ErrorKind::Type: type = PyExc_TypeError; break;
        case ErrorKind::Index: type = PyExc_IndexError; break;
        case ErrorKind::NotImplemented: type = PyExc_NotImplementedError; break;
        default: break;
      }
      PyErr_SetString(type, e.what());
    }
  });

  nb::class_<PyDtype>(m, "dtype")
      .def_prop_ro("is_floating_point", [](const PyDtype& d) { return is_floating(d.d); })
      .def_prop_ro("is_signed", [](const PyDtype& d) { return d.d != Dtype::Bool && d.d != Dtype::UInt8; })
      .def_prop_ro("itemsize", [](const PyDtype& d) { return itemsize(d.d); })
      .def("__repr__", [](const PyDtype& d) { return std::string("ember.") + dtype_name(d.d); })
      .def("__str__", [](const PyDtype& d) { return std::string("ember.") + dtype_name(d.d); })
      .def("__reduce__", [](const PyDtype& d) { return std::string(dtype_name(d.d)); })
      .def("__hash__", [](const PyDtype& d) { return int(d.d); })
      .def("__eq__", [](const PyDtype& a, nb::handle b) {
        Dtype d;
        return dtype_from_python(b, d) && nb::isinstance<PyDtype>(b) && d == a.d;
      });
  for (int i = 0; i < kNumDtypes; ++i) {
    g_dtypes[i] = nb::cast(PyDtype{Dtype(i)});
    m.attr(dtype_name(Dtype(i))) = g_dtypes[i];
  }

  m.def("get_default_dtype", &default_dtype);
  m.def("set_default_dtype", [](nb::handle h) {
    Dtype d;
    if (!dtype_from_python(h, d)) EMBER_TYPE_ERROR("set_default_dtype: expected an ember dtype, got ", nb::cast<std::string>(nb::repr(h)));
    set_default_dtype(d);
  }, "d"_a);
  m.def("promote_types", &promote_types, "type1"_a, "type2"_a);

  m.def("set_num_threads", [](int n) {
    if (n < 1) EMBER_VALUE_ERROR("set_num_threads: expected a positive number of threads, got ", n);
    // every thread is started at once: a huge count would exhaust the process' threads
    if (n > 4096) EMBER_VALUE_ERROR("set_num_threads: expected at most 4096 threads, got ", n);
    nb::gil_scoped_release release;  // waits for a job another thread runs on the pool
    cpu::set_num_threads(n);
  }, "num"_a);
  m.def("get_num_threads", &cpu::num_threads);
  m.def("cpu_isa", [] { return std::string(cpu::isa_name(cpu::cpu_isa())); },
        "The instruction set the CPU kernels use (scalar, avx2, avx512, neon).");

  m.def("memory_stats", [] {
    MemoryStats s = memory_stats();
    return std::map<std::string, int64_t>{{"allocated", s.allocated}, {"peak", s.peak}, {"cached", s.cached}};
  }, "Bytes held by live tensors (allocated), their high-water mark (peak) and freed blocks kept for reuse (cached).");
  m.def("reset_peak_memory_stats", &reset_peak_memory_stats);
  m.def("empty_cache", &empty_cache, "Return cached (unused) CPU blocks to the system.");

  init_tensor(m);
  init_ops(m);
  init_autograd(m);
  init_interop(m);
  init_optim(m);
  init_conv(m);
  init_pool(m);
  init_norm(m);
  init_rnn(m);
  init_winograd(m);
  init_amp(m);
  init_attention(m);
  init_device(m);
}
