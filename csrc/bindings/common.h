#pragma once
// Shared binding helpers: type casters for Dtype, Scalar, dim lists and sizes, so signatures
// accept what PyTorch accepts (ember.float32 or float, an int or a tuple of ints, ...).
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "autograd/node.h"
#include "ops/ops.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace ember::py {

// Python-visible dtype object; one singleton per dtype so `x.dtype is ember.float32` holds.
struct PyDtype {
  Dtype d;
};
nb::object dtype_object(Dtype d);
bool dtype_from_python(nb::handle h, Dtype& out);

// Dims: None, an int, or a sequence of ints.
struct DimArg {
  OptDims v;
};
// Sizes: an int or a sequence of ints (a single size argument); *args handled separately.
Shape shape_from_args(const nb::args& args, const char* op);
Shape shape_from_handle(nb::handle h, const char* op);

void init_tensor(nb::module_& m);
void init_ops(nb::module_& m);
void init_autograd(nb::module_& m);
void init_interop(nb::module_& m);
void init_optim(nb::module_& m);
void init_conv(nb::module_& m);  // conv.cpp
void init_pool(nb::module_& m);  // pool.cpp
void init_norm(nb::module_& m);  // norm.cpp
void init_winograd(nb::module_& m);  // winograd.cpp (private test entry points)
void init_amp(nb::module_& m);  // amp.cpp (autocast state)
void init_rnn(nb::module_& m);  // rnn.cpp (fused recurrent cells, multinomial)
void init_attention(nb::module_& m);  // attention.cpp
void init_device(nb::module_& m);  // device.cpp (transfers, synchronize, Metal queries)

}  // namespace ember::py

namespace nanobind::detail {

template <>
struct type_caster<ember::Dtype> {
  NB_TYPE_CASTER(ember::Dtype, const_name("ember.dtype"))
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept { return ember::py::dtype_from_python(src, value); }
  static handle from_cpp(ember::Dtype d, rv_policy, cleanup_list*) noexcept {
    return ember::py::dtype_object(d).release();
  }
};

template <>
struct type_caster<ember::Scalar> {
  NB_TYPE_CASTER(ember::Scalar, const_name("float | int | bool"))
  bool from_python(handle src, uint8_t flags, cleanup_list*) noexcept {
    PyObject* o = src.ptr();
    if (PyBool_Check(o)) { value = ember::Scalar(o == Py_True); return true; }
    if (PyFloat_Check(o)) { value = ember::Scalar(PyFloat_AsDouble(o)); return true; }
    if (PyLong_Check(o)) {
      int overflow = 0;
      long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
      if (overflow) { value = ember::Scalar(PyLong_AsDouble(o)); PyErr_Clear(); return true; }
      value = ember::Scalar(int64_t(v));
      return true;
    }
    // NumPy scalars and other number-likes (not tensors/arrays with several elements)
    if (!(flags & (uint8_t)cast_flags::convert)) return false;
    PyTypeObject* tp = Py_TYPE(o);
    if (tp->tp_as_number == nullptr || PySequence_Check(o)) return false;
    if (tp->tp_as_number->nb_index && !tp->tp_as_number->nb_float) {
      Py_ssize_t v = PyNumber_AsSsize_t(o, nullptr);
      if (PyErr_Occurred()) { PyErr_Clear(); return false; }
      value = ember::Scalar(int64_t(v));
      return true;
    }
    if (tp->tp_as_number->nb_float && PyObject_HasAttrString(o, "dtype")) {
      // numpy scalar: keep its kind
      nb::object kind = nb::borrow(src).attr("dtype").attr("kind");
      std::string k = nb::cast<std::string>(kind);
      if (k == "b") { value = ember::Scalar(bool(PyObject_IsTrue(o))); return true; }
      if (k == "i" || k == "u") { value = ember::Scalar(int64_t(PyLong_AsLongLong(nb::int_(src).ptr()))); return !PyErr_Occurred(); }
      if (k == "f") { value = ember::Scalar(PyFloat_AsDouble(nb::float_(src).ptr())); return !PyErr_Occurred(); }
      return false;
    }
    return false;
  }
  static handle from_cpp(const ember::Scalar& s, rv_policy, cleanup_list*) noexcept {
    if (s.kind == ember::Scalar::Bool) return PyBool_FromLong(s.i);
    if (s.kind == ember::Scalar::Int) return PyLong_FromLongLong(s.i);
    return PyFloat_FromDouble(s.d);
  }
};

template <>
struct type_caster<ember::py::DimArg> {
  NB_TYPE_CASTER(ember::py::DimArg, const_name("int | tuple[int, ...] | None"))
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    if (src.is_none()) { value.v = std::nullopt; return true; }
    // ints beyond int64 do not convert (the error Python sets is cleared: nanobind then reports
    // a TypeError for the call instead of returning with an exception pending)
    if (PyLong_Check(src.ptr()) && !PyBool_Check(src.ptr())) {
      value.v = ember::Dims{PyLong_AsLongLong(src.ptr())};
      if (PyErr_Occurred()) { PyErr_Clear(); return false; }
      return true;
    }
    if (PyTuple_Check(src.ptr()) || PyList_Check(src.ptr())) {
      ember::Dims d;
      for (nb::handle h : nb::borrow(src)) {
        if (!PyLong_Check(h.ptr()) || PyBool_Check(h.ptr())) return false;
        d.push_back(PyLong_AsLongLong(h.ptr()));
        if (PyErr_Occurred()) { PyErr_Clear(); return false; }
      }
      value.v = d;
      return true;
    }
    return false;
  }
  static handle from_cpp(const ember::py::DimArg&, rv_policy, cleanup_list*) noexcept { return Py_None; }
};

}  // namespace nanobind::detail
