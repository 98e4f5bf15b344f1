// The Tensor class: metadata, views, indexing, operators and autograd state.
#include "bindings/common.h"

namespace ember::py {

namespace {

nb::tuple shape_tuple(const Shape& s) {
  nb::list l;
  for (auto v : s) l.append(v);
  return nb::tuple(l);
}

// A Python int index (IndexError naming the op when it does not even fit in int64).
int64_t int_index(nb::handle h, const char* op) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(h.ptr(), &overflow);
  if (overflow) EMBER_INDEX_ERROR(op, ": index ", nb::cast<std::string>(nb::repr(h)), " is out of range");
  if (v == -1 && PyErr_Occurred()) throw nb::python_error();
  return v;
}

// Python index object -> TensorIndex items
TensorIndex index_item(nb::handle h) {
  TensorIndex ti;
  PyObject* o = h.ptr();
  if (o == Py_None) { ti.kind = TensorIndex::None; return ti; }
  if (o == Py_Ellipsis) { ti.kind = TensorIndex::Ellipsis; return ti; }
  if (PyBool_Check(o)) { ti.kind = TensorIndex::Bool; ti.i = o == Py_True; return ti; }
  if (PyLong_Check(o)) { ti.kind = TensorIndex::Int; ti.i = int_index(h, "index"); return ti; }
  if (PySlice_Check(o)) {
    ti.kind = TensorIndex::Slice;
    auto get = [&](const char* a) -> std::optional<int64_t> {
      nb::object v = nb::borrow(h).attr(a);
      if (v.is_none()) return std::nullopt;
      if (nb::isinstance<Tensor>(v)) return nb::cast<Tensor>(v).item().to_int();
      // beyond int64, bounds clamp like Python's own slicing (x[:10**30] is all of x)
      nb::object i = v.attr("__index__")();
      int overflow = 0;
      long long r = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
      if (overflow) return overflow > 0 ? INT64_MAX : INT64_MIN;
      if (r == -1 && PyErr_Occurred()) throw nb::python_error();
      return r;
    };
    ti.start = get("start");
    ti.stop = get("stop");
    auto st = get("step");
    ti.step = st.value_or(1);
    return ti;
  }
  if (nb::isinstance<Tensor>(h)) {
    ti.kind = TensorIndex::Tensor;
    ti.t = nb::cast<Tensor>(h);
    return ti;
  }
  // lists, numpy arrays, numpy integer scalars
  nb::object np = nb::module_::import_("numpy");
  if (!PySequence_Check(o) && PyObject_HasAttrString(o, "__index__") && !PyObject_HasAttrString(o, "shape")) {
    ti.kind = TensorIndex::Int;
    ti.i = nb::cast<int64_t>(h.attr("__index__")());
    return ti;
  }
  nb::object ember_mod = nb::module_::import_("ember");
  nb::object t;
  try {
    t = ember_mod.attr("tensor")(h);
  } catch (nb::python_error& e) {
    EMBER_INDEX_ERROR("index: only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid indices");
  }
  ti.kind = TensorIndex::Tensor;
  ti.t = nb::cast<Tensor>(t);
  if (ti.t.numel() == 0 && ti.t.dtype() != Dtype::Bool) ti.t = to_dtype(ti.t, Dtype::Int64);
  return ti;
}

std::vector<TensorIndex> parse_index(nb::handle idx) {
  std::vector<TensorIndex> out;
  if (PyTuple_Check(idx.ptr())) {
    for (nb::handle h : nb::borrow<nb::tuple>(idx)) out.push_back(index_item(h));
  } else {
    out.push_back(index_item(idx));
  }
  return out;
}

Tensor value_tensor(nb::handle v, const Tensor& like) {
  if (nb::isinstance<Tensor>(v)) return nb::cast<Tensor>(v);
  Scalar s;
  if (nb::try_cast<Scalar>(v, s)) {
    check_scalar_fits(s, like.dtype(), "setitem");
    return scalar_tensor(s, like.dtype());
  }
  nb::object t = nb::module_::import_("ember").attr("tensor")(v, "dtype"_a = dtype_object(like.dtype()));
  return nb::cast<Tensor>(t);
}

}  // namespace

void init_tensor(nb::module_& m) {
  nb::class_<Tensor> cls(m, "Tensor", nb::dynamic_attr(), "A multi-dimensional array with autograd support.");
  cls.def(nb::init<const Tensor&>(), "data"_a, "A new tensor object sharing `data`'s storage and autograd state.");
  // PyTorch's legacy forms, ember.Tensor([1, 2]) / ember.Tensor(2, 3): built in Python (ember._legacy)
  cls.def("__init__", [](Tensor* self, nb::args args, nb::kwargs kwargs) {
    nb::object t = nb::module_::import_("ember._legacy").attr("legacy_tensor")(*args, **kwargs);
    new (self) Tensor(nb::cast<Tensor>(t));
  });
  cls
      .def_prop_ro("shape", [](const Tensor& t) { return shape_tuple(t.shape()); })
      .def_prop_ro("dtype", [](const Tensor& t) { return t.dtype(); })
      .def_prop_ro("device", [](const Tensor& t) { return nb::module_::import_("ember").attr("device")(device_str(t.device())); })
      .def_prop_ro("ndim", &Tensor::dim)
      .def_prop_ro("is_cpu", [](const Tensor& t) { return t.device() == Device::CPU; })
      .def_prop_ro("itemsize", &Tensor::itemsize)
      .def_prop_ro("nbytes", [](const Tensor& t) { return t.numel() * t.itemsize(); })
      .def_prop_ro("_version", &Tensor::version)
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_ro("T", &matrix_t)
      .def_prop_ro("mT", &matrix_mT)
      .def("dim", &Tensor::dim)
      .def("ndimension", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("nelement", &Tensor::numel)
      .def("element_size", &Tensor::itemsize)
      .def("size", [](const Tensor& t, std::optional<int64_t> d) -> nb::object {
        if (d) return nb::int_(t.size(*d));
        return shape_tuple(t.shape());
      }, "dim"_a = nb::none())
      .def("stride", [](const Tensor& t, std::optional<int64_t> d) -> nb::object {
        if (d) return nb::int_(t.stride(*d));
        return shape_tuple(t.strides());
      }, "dim"_a = nb::none())
      .def("storage_offset", &Tensor::offset)
      .def("is_contiguous", [](const Tensor& t) { return t.is_contiguous(); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); })
      .def("_storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage()->data); })
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t.dtype()); })
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      // views
      .def("contiguous", &contiguous)
      .def("clone", &clone)
      .def("detach", &detach)
      .def("view", [](const Tensor& t, nb::args a) {
        if (a.size() == 1) {
          Dtype d;
          if (dtype_from_python(a[0], d)) {
            EMBER_CHECK(itemsize(d) == t.itemsize(), "view: dtype view with a different itemsize is not supported (",
                        dtype_name(t.dtype()), " -> ", dtype_name(d), ")");
            Tensor v = make_view(t, t.shape(), t.strides(), t.offset());
            v.impl()->dtype = d;
            return v;
          }
        }
        return view(t, shape_from_args(a, "view"));
      })
      .def("reshape", [](const Tensor& t, nb::args a) { return reshape(t, shape_from_args(a, "reshape")); })
      .def("view_as", [](const Tensor& t, const Tensor& o) { return view(t, o.shape()); }, "other"_a)
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return reshape(t, o.shape()); }, "other"_a)
      .def("permute", [](const Tensor& t, nb::args a) { return permute(t, shape_from_args(a, "permute")); })
      .def("expand", [](const Tensor& t, nb::args a) { return expand(t, shape_from_args(a, "expand")); })
      .def("repeat", [](const Tensor& t, nb::args a) { return repeat(t, shape_from_args(a, "repeat")); })
      .def("tile", [](const Tensor& t, nb::args a) { return tile(t, shape_from_args(a, "tile")); })
      .def("expand_as", [](const Tensor& t, const Tensor& o) { return expand(t, o.shape()); }, "other"_a)
      .def("broadcast_to", [](const Tensor& t, nb::handle s) { return expand(t, shape_from_handle(s, "broadcast_to")); }, "size"_a)
      .def("transpose", &transpose, "dim0"_a, "dim1"_a)
      .def("swapaxes", &transpose, "axis0"_a, "axis1"_a)
      .def("t", [](const Tensor& t) {
        EMBER_CHECK(t.dim() <= 2, "t: expects a tensor with <= 2 dimensions, but self is ", t.dim(), "D (shape ", t.shape(), ")");
        return t.dim() < 2 ? t : transpose(t, 0, 1);
      })
      .def("squeeze", [](const Tensor& t, DimArg d) { return squeeze(t, d.v); }, "dim"_a = nb::none())
      .def("unsqueeze", &unsqueeze, "dim"_a)
      .def("flatten", &flatten, "start_dim"_a = 0, "end_dim"_a = -1)
      .def("unflatten", [](const Tensor& t, int64_t d, nb::handle s) { return unflatten(t, d, shape_from_handle(s, "unflatten")); },
           "dim"_a, "sizes"_a)
      .def("narrow", &narrow, "dim"_a, "start"_a, "length"_a)
      .def("select", &select, "dim"_a, "index"_a)
      .def("diagonal", &diagonal, "offset"_a = 0, "dim1"_a = 0, "dim2"_a = 1)
      .def("movedim", [](const Tensor& t, DimArg s, DimArg d) { return movedim(t, *s.v, *d.v); }, "source"_a, "destination"_a)
      .def("moveaxis", [](const Tensor& t, DimArg s, DimArg d) { return movedim(t, *s.v, *d.v); }, "source"_a, "destination"_a)
      .def("as_strided", [](const Tensor& t, nb::handle size, nb::handle stride, std::optional<int64_t> off) {
        return as_strided(t, shape_from_handle(size, "as_strided"), shape_from_handle(stride, "as_strided"), off);
      }, "size"_a, "stride"_a, "storage_offset"_a = nb::none())
      // indexing
      .def("__getitem__", [](const Tensor& t, nb::handle idx) {
        if (PyLong_Check(idx.ptr()) && !PyBool_Check(idx.ptr())) return select(t, 0, int_index(idx, "getitem"));
        return getitem(t, parse_index(idx));
      }, nb::arg("idx").none())
      .def("__setitem__", [](Tensor& t, nb::handle idx, nb::handle v) {
        setitem(t, parse_index(idx), value_tensor(v, t));
      }, nb::arg("idx").none(), nb::arg("value").none())
      // autograd state
      .def_prop_rw("requires_grad", &Tensor::requires_grad, [](Tensor& t, bool r) { t.set_requires_grad(r); })
      .def_prop_rw("grad", [](const Tensor& t) -> std::optional<Tensor> {
        Tensor g = t.grad();
        if (!g.defined()) return std::nullopt;
        return g;
      }, [](Tensor& t, std::optional<Tensor> g) {
        if (g) {
          EMBER_CHECK(g->shape() == t.shape(), "grad: assigned grad has shape ", g->shape(), " but the tensor has shape ", t.shape());
          EMBER_CHECK_KIND(g->dtype() == t.dtype(), Type, "grad: assigned grad has dtype ", dtype_name(g->dtype()),
                           " but the tensor has dtype ", dtype_name(t.dtype()));
        }
        t.set_grad(g ? *g : Tensor());
      }, nb::arg("value").none())
      .def_prop_rw("data", [](const Tensor& t) { return detach(t); }, [](Tensor& t, const Tensor& src) {
        // rebinds this tensor's data (storage and geometry), keeping its autograd identity
        auto* impl = t.impl();
        impl->storage = src.storage();
        impl->shape = src.shape();
        impl->strides = src.strides();
        impl->offset = src.offset();
        impl->dtype = src.dtype();
        impl->refresh();
      })
      .def("requires_grad_", [](Tensor& t, bool r) -> Tensor& { return t.set_requires_grad(r); }, "requires_grad"_a = true,
           nb::rv_policy::reference)
      .def("detach_", [](Tensor& t) -> Tensor& {
        if (t.impl()->autograd) {
          t.impl()->autograd->grad_fn = nullptr;
          t.impl()->autograd->requires_grad = false;
        }
        return t;
      }, nb::rv_policy::reference)
      .def("item", [](const Tensor& t) { return t.item(); });
}

}  // namespace ember::py
