// Op bindings: each op becomes both ember.<name>(input, ...) and Tensor.<name>(...).
#include <cmath>

#include "bindings/common.h"

namespace ember::py {
namespace {

// Adds a method to Tensor from any callable (overloads chain through nb::sibling).
template <class F, class... Extra>
void method(const char* name, F&& f, const Extra&... extra) {
  // with a scope and a name, nanobind appends to an existing overload chain of that name
  nb::cpp_function_def(std::forward<F>(f), nb::is_method(), nb::name(name), nb::scope(nb::type<Tensor>()), extra...);
}

// ember.<name>(input, ...) and Tensor.<name>(...)
template <class F, class... Extra>
void both(nb::module_& m, const char* name, F f, const Extra&... extra) {
  m.def(name, f, "input"_a, extra...);
  method(name, f, extra...);
}

nb::object named_pair(const char* type, const Tensor& a, const Tensor& b) {
  return nb::module_::import_("ember.return_types").attr(type)(a, b);
}

nb::tuple as_tuple(const TensorList& ts) {
  nb::list l;
  for (auto& t : ts) l.append(t);
  return nb::tuple(l);
}

Tensor& inplace_assign(Tensor& self, const Tensor& r) {
  copy_(self, r);
  return self;
}

double norm_p(nb::handle p) {
  if (p.is_none()) return 2;
  if (PyUnicode_Check(p.ptr())) {
    std::string s = nb::cast<std::string>(p);
    if (s == "fro") return 2;
    EMBER_VALUE_ERROR("norm: unsupported norm type '", s, "' (expected a number, inf or 'fro')");
  }
  return nb::cast<double>(p);
}

struct UnaryEntry {
  const char* name;
  UnaryOp op;
  bool inplace;
};

// every op the lists in backend/params.h mark kBind (null names: not bound), then aliases
using namespace op_flags;
#define EMBER_BIND_ENTRY_(Enum, e, name, flags) {((flags) & kBind) ? name : nullptr, Enum::e, !((flags) & kNoInplace)},
#define EMBER_BIND_UNARY_(e, name, flags) EMBER_BIND_ENTRY_(UnaryOp, e, name, flags)
#define EMBER_BIND_BINARY_(e, name, flags) EMBER_BIND_ENTRY_(BinaryOp, e, name, flags)
const UnaryEntry kUnary[] = {
    EMBER_UNARY_OPS(EMBER_BIND_UNARY_)
    {"negative", UnaryOp::Neg, true}, {"absolute", UnaryOp::Abs, true}, {"fix", UnaryOp::Trunc, true},
};

struct BinaryEntry {
  const char* name;
  BinaryOp op;
  bool inplace;
};

const BinaryEntry kBinary[] = {
    EMBER_BINARY_OPS(EMBER_BIND_BINARY_)
    {"multiply", BinaryOp::Mul, true},      {"true_divide", BinaryOp::Div, true}, {"not_equal", BinaryOp::Ne, true},
    {"less", BinaryOp::Lt, true},           {"less_equal", BinaryOp::Le, true},   {"greater", BinaryOp::Gt, true},
    {"greater_equal", BinaryOp::Ge, true},
};
#undef EMBER_BIND_ENTRY_

// `a + b` (and -, *, /) on two plain Tensors straight from the type's number slot: skips the
// __add__ lookup and nanobind's overload dispatch, a good part of a tiny op's cost. Anything
// else (subclasses, Python numbers, errors) calls the __add__ / __radd__ methods bound below.
PyTypeObject* g_tensor_type = nullptr;

// type(self).<name>(self, other); null name or no such method: NotImplemented
PyObject* call_operator_method(PyObject* self, PyObject* name, PyObject* other) {
  PyObject* f = _PyType_Lookup(Py_TYPE(self), name);  // borrowed
  if (!f) Py_RETURN_NOTIMPLEMENTED;
  PyObject* args[2] = {self, other};
  return PyObject_Vectorcall(f, args, 2, nullptr);
}

template <BinaryOp op>
struct FastSlot {
  static inline PyObject *name = nullptr, *rname = nullptr;
  static PyObject* call(PyObject* a, PyObject* b) {
    if (Py_TYPE(a) == g_tensor_type && Py_TYPE(b) == g_tensor_type && nb::inst_ready(a) && nb::inst_ready(b)) {
      try {
        Tensor r = binary(op, *nb::inst_ptr<Tensor>(a), *nb::inst_ptr<Tensor>(b));
        return nb::cast(std::move(r), nb::rv_policy::move).release().ptr();
      } catch (...) {
        PyErr_Clear();  // the methods raise the proper Python exception
      }
    }
    if (PyObject_TypeCheck(a, g_tensor_type)) {
      PyObject* r = call_operator_method(a, name, b);
      if (r != Py_NotImplemented) return r;
      Py_DECREF(r);
    }
    if (PyObject_TypeCheck(b, g_tensor_type)) return call_operator_method(b, rname, a);
    Py_RETURN_NOTIMPLEMENTED;
  }
  static void install(binaryfunc& slot, const char* n, const char* rn) {
    name = PyUnicode_InternFromString(n);
    rname = PyUnicode_InternFromString(rn);
    slot = &call;
  }
};

Tensor div_mode(const Tensor& a, const Tensor& b, std::optional<std::string> mode) {
  if (!mode) return binary(BinaryOp::Div, a, b);
  if (*mode == "floor") return binary(BinaryOp::FloorDiv, a, b);
  if (*mode == "trunc") {
    if (!is_floating(result_type(a, b))) {
      // integer truncation: floor for same signs, ceil otherwise, via float then back
      Tensor q = binary(BinaryOp::Div, a, b);
      return to_dtype(unary(UnaryOp::Trunc, q), result_type(a, b));
    }
    return unary(UnaryOp::Trunc, binary(BinaryOp::Div, a, b));
  }
  EMBER_VALUE_ERROR("div: expected rounding_mode to be one of None, 'trunc' or 'floor', got '", *mode, "'");
}

}  // namespace

void init_ops(nb::module_& m) {
  // ---- unary
  for (const auto& e : kUnary) {
    if (!e.name) continue;
    UnaryOp op = e.op;
    both(m, e.name, [op](const Tensor& x) { return unary(op, x); });
    if (e.inplace) {
      std::string in = std::string(e.name) + "_";
      method(strdup(in.c_str()), [op](Tensor& x) -> Tensor& { return unary_(op, x); }, nb::rv_policy::reference);
    }
  }
  both(m, "round", [](const Tensor& x, int64_t decimals) {
    if (decimals == 0) return unary(UnaryOp::Round, x);
    double s = std::pow(10.0, double(decimals));
    return unary(UnaryOp::Round, x * s) / s;
  }, "decimals"_a = 0);
  method("round_", [](Tensor& x) -> Tensor& { return unary_(UnaryOp::Round, x); }, nb::rv_policy::reference);
  both(m, "leaky_relu", [](const Tensor& x, double s) { return unary(UnaryOp::LeakyRelu, x, s); }, "negative_slope"_a = 0.01);
  both(m, "elu", [](const Tensor& x, double a) { return unary(UnaryOp::Elu, x, a); }, "alpha"_a = 1.0);
  both(m, "softplus", [](const Tensor& x, double beta, double th) { return unary(UnaryOp::Softplus, x, beta, th); },
       "beta"_a = 1.0, "threshold"_a = 20.0);
  both(m, "hardtanh", [](const Tensor& x, double lo, double hi) { return unary(UnaryOp::Hardtanh, x, lo, hi); },
       "min_val"_a = -1.0, "max_val"_a = 1.0);
  both(m, "gelu", [](const Tensor& x, const std::string& approximate) {
    if (approximate == "none") return unary(UnaryOp::GeluErf, x);
    if (approximate == "tanh") return unary(UnaryOp::GeluTanh, x);
    EMBER_VALUE_ERROR("gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
  }, "approximate"_a = "none");
  both(m, "nan_to_num", &nan_to_num, "nan"_a = 0.0, "posinf"_a = nb::none(), "neginf"_a = nb::none());
  m.def("clamp", [](const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) { return clamp(x, lo, hi); },
        "input"_a, "min"_a = nb::none(), "max"_a = nb::none());
  m.def("clamp", [](const Tensor& x, std::optional<Tensor> lo, std::optional<Tensor> hi) {
    return clamp(x, lo.value_or(Tensor()), hi.value_or(Tensor()));
  }, "input"_a, "min"_a = nb::none(), "max"_a = nb::none());
  m.attr("clip") = m.attr("clamp");
  for (const char* name : {"clamp", "clip"}) {
    method(name, [](const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) { return clamp(x, lo, hi); },
           "min"_a = nb::none(), "max"_a = nb::none());
    method(name, [](const Tensor& x, std::optional<Tensor> lo, std::optional<Tensor> hi) {
      return clamp(x, lo.value_or(Tensor()), hi.value_or(Tensor()));
    }, "min"_a = nb::none(), "max"_a = nb::none());
  }
  method("clamp_", [](Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) -> Tensor& {
    check_inplace(x, "clamp_");
    return inplace_assign(x, clamp(x, lo, hi));
  }, "min"_a = nb::none(), "max"_a = nb::none(), nb::rv_policy::reference);

  // ---- binary
  m.def("add", [](const Tensor& a, const Tensor& b, Scalar alpha) { return add(a, b, alpha); }, "input"_a, "other"_a,
        nb::kw_only(), "alpha"_a = Scalar(int64_t(1)));
  m.def("add", [](const Tensor& a, Scalar b, Scalar alpha) { return add(a, wrapped_scalar(b), alpha); }, "input"_a,
        "other"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)));
  m.def("sub", [](const Tensor& a, const Tensor& b, Scalar alpha) { return sub(a, b, alpha); }, "input"_a, "other"_a,
        nb::kw_only(), "alpha"_a = Scalar(int64_t(1)));
  m.def("sub", [](const Tensor& a, Scalar b, Scalar alpha) { return sub(a, wrapped_scalar(b), alpha); }, "input"_a,
        "other"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)));
  m.attr("subtract") = m.attr("sub");
  method("add", [](const Tensor& a, const Tensor& b, Scalar alpha) { return add(a, b, alpha); }, "other"_a, nb::kw_only(),
         "alpha"_a = Scalar(int64_t(1)));
  method("add", [](const Tensor& a, Scalar b, Scalar alpha) { return add(a, wrapped_scalar(b), alpha); }, "other"_a,
         nb::kw_only(), "alpha"_a = Scalar(int64_t(1)));
  method("sub", [](const Tensor& a, const Tensor& b, Scalar alpha) { return sub(a, b, alpha); }, "other"_a, nb::kw_only(),
         "alpha"_a = Scalar(int64_t(1)));
  method("sub", [](const Tensor& a, Scalar b, Scalar alpha) { return sub(a, wrapped_scalar(b), alpha); }, "other"_a,
         nb::kw_only(), "alpha"_a = Scalar(int64_t(1)));
  method("add_", [](Tensor& a, const Tensor& b, Scalar alpha) -> Tensor& {
    return alpha.to_double() == 1.0 ? binary_(BinaryOp::Add, a, b) : binary_(BinaryOp::Add, a, binary(BinaryOp::Mul, b, alpha));
  }, "other"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)), nb::rv_policy::reference);
  method("add_", [](Tensor& a, Scalar b, Scalar alpha) -> Tensor& {
    return binary_(BinaryOp::Add, a, b.is_float() || alpha.is_float() ? Scalar(b.to_double() * alpha.to_double())
                                                                    : Scalar(b.to_int() * alpha.to_int()));
  }, "other"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)), nb::rv_policy::reference);
  method("sub_", [](Tensor& a, const Tensor& b, Scalar alpha) -> Tensor& {
    return alpha.to_double() == 1.0 ? binary_(BinaryOp::Sub, a, b) : binary_(BinaryOp::Sub, a, binary(BinaryOp::Mul, b, alpha));
  }, "other"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)), nb::rv_policy::reference);
  method("sub_", [](Tensor& a, Scalar b, Scalar alpha) -> Tensor& {
    return binary_(BinaryOp::Sub, a, b.is_float() || alpha.is_float() ? Scalar(b.to_double() * alpha.to_double())
                                                                    : Scalar(b.to_int() * alpha.to_int()));
  }, "other"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)), nb::rv_policy::reference);
  for (const char* name : {"div", "divide"}) {
    m.def(name, [](const Tensor& a, const Tensor& b, std::optional<std::string> r) { return div_mode(a, b, r); }, "input"_a,
          "other"_a, nb::kw_only(), "rounding_mode"_a = nb::none());
    m.def(name, [](const Tensor& a, Scalar b, std::optional<std::string> r) { return div_mode(a, wrapped_scalar(b), r); },
          "input"_a, "other"_a, nb::kw_only(), "rounding_mode"_a = nb::none());
    method(name, [](const Tensor& a, const Tensor& b, std::optional<std::string> r) { return div_mode(a, b, r); }, "other"_a,
           nb::kw_only(), "rounding_mode"_a = nb::none());
    method(name, [](const Tensor& a, Scalar b, std::optional<std::string> r) { return div_mode(a, wrapped_scalar(b), r); },
           "other"_a, nb::kw_only(), "rounding_mode"_a = nb::none());
  }
  method("div_", [](Tensor& a, const Tensor& b) -> Tensor& { return binary_(BinaryOp::Div, a, b); }, "other"_a,
         nb::rv_policy::reference);
  method("div_", [](Tensor& a, Scalar b) -> Tensor& { return binary_(BinaryOp::Div, a, b); }, "other"_a,
         nb::rv_policy::reference);
  for (const auto& e : kBinary) {
    if (!e.name) continue;
    BinaryOp op = e.op;
    m.def(e.name, [op](const Tensor& a, const Tensor& b) { return binary(op, a, b); }, "input"_a, "other"_a);
    m.def(e.name, [op](const Tensor& a, Scalar b) { return binary(op, a, b); }, "input"_a, "other"_a);
    method(e.name, [op](const Tensor& a, const Tensor& b) { return binary(op, a, b); }, "other"_a);
    method(e.name, [op](const Tensor& a, Scalar b) { return binary(op, a, b); }, "other"_a);
    if (e.inplace) {
      const char* in = strdup((std::string(e.name) + "_").c_str());
      method(in, [op](Tensor& a, const Tensor& b) -> Tensor& { return binary_(op, a, b); }, "other"_a, nb::rv_policy::reference);
      method(in, [op](Tensor& a, Scalar b) -> Tensor& { return binary_(op, a, b); }, "other"_a, nb::rv_policy::reference);
    }
  }
  m.def("pow", [](Scalar a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }, "self"_a, "exponent"_a);
  for (BinaryOp op : {BinaryOp::Remainder, BinaryOp::FloorDiv})  // PyTorch accepts a scalar first for these
    m.def(op == BinaryOp::Remainder ? "remainder" : "floor_divide",
          [op](Scalar a, const Tensor& b) { return binary(op, a, b); }, "input"_a, "other"_a);
  m.def("result_type", [](nb::handle a, nb::handle b) {
    auto conv = [](nb::handle h) {
      if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
      return wrapped_scalar(nb::cast<Scalar>(h));
    };
    return result_type(conv(a), conv(b));
  }, "tensor1"_a, "tensor2"_a);

  // operators
  nb::handle cls = nb::type<Tensor>();
  struct Op {
    const char* name;
    BinaryOp op;
    bool reflected;
  };
  const Op ops[] = {
      {"__add__", BinaryOp::Add, false},       {"__radd__", BinaryOp::Add, true},
      {"__sub__", BinaryOp::Sub, false},       {"__rsub__", BinaryOp::Sub, true},
      {"__mul__", BinaryOp::Mul, false},       {"__rmul__", BinaryOp::Mul, true},
      {"__truediv__", BinaryOp::Div, false},   {"__rtruediv__", BinaryOp::Div, true},
      {"__floordiv__", BinaryOp::FloorDiv, false}, {"__rfloordiv__", BinaryOp::FloorDiv, true},
      {"__mod__", BinaryOp::Remainder, false}, {"__rmod__", BinaryOp::Remainder, true},
      {"__pow__", BinaryOp::Pow, false},       {"__rpow__", BinaryOp::Pow, true},
      {"__and__", BinaryOp::BitAnd, false},    {"__rand__", BinaryOp::BitAnd, true},
      {"__or__", BinaryOp::BitOr, false},      {"__ror__", BinaryOp::BitOr, true},
      {"__xor__", BinaryOp::BitXor, false},    {"__rxor__", BinaryOp::BitXor, true},
      {"__eq__", BinaryOp::Eq, false},         {"__ne__", BinaryOp::Ne, false},
      {"__lt__", BinaryOp::Lt, false},         {"__le__", BinaryOp::Le, false},
      {"__gt__", BinaryOp::Gt, false},         {"__ge__", BinaryOp::Ge, false},
  };
  for (const auto& o : ops) {
    BinaryOp op = o.op;
    if (o.reflected) {
      method(o.name, [op](const Tensor& a, Scalar b) { return binary(op, b, a); }, nb::is_operator());
    } else {
      method(o.name, [op](const Tensor& a, const Tensor& b) { return binary(op, a, b); }, nb::is_operator());
      method(o.name, [op](const Tensor& a, Scalar b) { return binary(op, a, b); }, nb::is_operator());
    }
  }
  const Op iops[] = {{"__iadd__", BinaryOp::Add, false},      {"__isub__", BinaryOp::Sub, false},
                     {"__imul__", BinaryOp::Mul, false},      {"__itruediv__", BinaryOp::Div, false},
                     {"__ifloordiv__", BinaryOp::FloorDiv, false}, {"__imod__", BinaryOp::Remainder, false},
                     {"__ipow__", BinaryOp::Pow, false},      {"__iand__", BinaryOp::BitAnd, false},
                     {"__ior__", BinaryOp::BitOr, false},     {"__ixor__", BinaryOp::BitXor, false}};
  for (const auto& o : iops) {
    BinaryOp op = o.op;
    method(o.name, [op](Tensor& a, const Tensor& b) -> Tensor& { return binary_(op, a, b); }, nb::is_operator(),
           nb::rv_policy::reference);
    method(o.name, [op](Tensor& a, Scalar b) -> Tensor& { return binary_(op, a, b); }, nb::is_operator(),
           nb::rv_policy::reference);
  }
  (void)cls;
  // after the methods above (defining them set the generic slots, replaced here)
  g_tensor_type = reinterpret_cast<PyTypeObject*>(nb::type<Tensor>().ptr());
  PyNumberMethods* num = g_tensor_type->tp_as_number;
  FastSlot<BinaryOp::Add>::install(num->nb_add, "__add__", "__radd__");
  FastSlot<BinaryOp::Sub>::install(num->nb_subtract, "__sub__", "__rsub__");
  FastSlot<BinaryOp::Mul>::install(num->nb_multiply, "__mul__", "__rmul__");
  FastSlot<BinaryOp::Div>::install(num->nb_true_divide, "__truediv__", "__rtruediv__");
  method("__neg__", [](const Tensor& x) { return unary(UnaryOp::Neg, x); });
  method("__pos__", [](const Tensor& x) { return x; });
  method("__abs__", [](const Tensor& x) { return unary(UnaryOp::Abs, x); });
  method("__invert__", [](const Tensor& x) { return unary(UnaryOp::BitNot, x); });
  method("__matmul__", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, nb::is_operator());
  method("__rmatmul__", [](const Tensor& a, const Tensor& b) { return matmul(b, a); }, nb::is_operator());

  m.def("where", [](const Tensor& c, const Tensor& a, const Tensor& b) { return where(c, a, b); }, "condition"_a, "input"_a, "other"_a);
  m.def("where", [](const Tensor& c, const Tensor& a, Scalar b) { return where(c, a, wrapped_scalar(b)); }, "condition"_a, "input"_a, "other"_a);
  m.def("where", [](const Tensor& c, Scalar a, const Tensor& b) { return where(c, wrapped_scalar(a), b); }, "condition"_a, "input"_a, "other"_a);
  m.def("where", [](const Tensor& c, Scalar a, Scalar b) {
    // two Python scalars: the result takes the default dtype for floats (PyTorch's rule)
    Tensor ta = wrapped_scalar(a), tb = wrapped_scalar(b);
    Dtype d = result_type(ta, tb);
    return where(c, scalar_tensor(a, d), scalar_tensor(b, d));
  }, "condition"_a, "input"_a, "other"_a);
  method("where", [](const Tensor& a, const Tensor& c, const Tensor& b) { return where(c, a, b); }, "condition"_a, "other"_a);
  method("where", [](const Tensor& a, const Tensor& c, Scalar b) { return where(c, a, wrapped_scalar(b)); }, "condition"_a, "other"_a);

  // ---- reductions
  both(m, "sum", [](const Tensor& x, DimArg d, bool k, std::optional<Dtype> dt) { return sum(x, d.v, k, dt); },
       "dim"_a = nb::none(), "keepdim"_a = false, nb::kw_only(), "dtype"_a = nb::none());
  both(m, "mean", [](const Tensor& x, DimArg d, bool k, std::optional<Dtype> dt) { return mean(x, d.v, k, dt); },
       "dim"_a = nb::none(), "keepdim"_a = false, nb::kw_only(), "dtype"_a = nb::none());
  both(m, "prod", [](const Tensor& x, std::optional<int64_t> d, bool k, std::optional<Dtype> dt) { return prod(x, d, k, dt); },
       "dim"_a = nb::none(), "keepdim"_a = false, nb::kw_only(), "dtype"_a = nb::none());
  for (bool is_std : {false, true}) {
    both(m, is_std ? "std" : "var", [is_std](const Tensor& x, nb::handle dim, std::optional<bool> unbiased, bool keepdim,
                                             std::optional<double> correction) {
      OptDims dims;
      if (PyBool_Check(dim.ptr())) unbiased = dim.ptr() == Py_True;
      else dims = nb::cast<DimArg>(dim).v;
      double c = correction.value_or(unbiased.value_or(true) ? 1.0 : 0.0);
      return is_std ? std_(x, dims, c, keepdim) : var(x, dims, c, keepdim);
    }, "dim"_a = nb::none(), "unbiased"_a = nb::none(), "keepdim"_a = false, nb::kw_only(), "correction"_a = nb::none());
  }
  for (bool is_max : {true, false}) {
    const char* name = is_max ? "max" : "min";
    auto all_fn = [is_max](const Tensor& x) {
      EMBER_CHECK_KIND(x.numel() > 0, Index, is_max ? "max" : "min",
                       ": expected a non-empty tensor (the reduction of an empty tensor has no identity)");
      return is_max ? amax(x) : amin(x);
    };
    auto dim_fn = [is_max](const Tensor& x, int64_t d, bool k) {
      auto [v, i] = is_max ? max_dim(x, d, k) : min_dim(x, d, k);
      return named_pair(is_max ? "max" : "min", v, i);
    };
    auto other_fn = [is_max](const Tensor& x, const Tensor& o) {
      return binary(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, x, o);
    };
    m.def(name, all_fn, "input"_a);
    m.def(name, dim_fn, "input"_a, "dim"_a, "keepdim"_a = false);
    m.def(name, other_fn, "input"_a, "other"_a);
    method(name, all_fn);
    method(name, dim_fn, "dim"_a, "keepdim"_a = false);
    method(name, other_fn, "other"_a);
    both(m, is_max ? "amax" : "amin", [is_max](const Tensor& x, DimArg d, bool k) { return is_max ? amax(x, d.v, k) : amin(x, d.v, k); },
         "dim"_a = nb::tuple(), "keepdim"_a = false);
    both(m, is_max ? "argmax" : "argmin", [is_max](const Tensor& x, std::optional<int64_t> d, bool k) {
      return is_max ? argmax(x, d, k) : argmin(x, d, k);
    }, "dim"_a = nb::none(), "keepdim"_a = false);
  }
  both(m, "logsumexp", [](const Tensor& x, DimArg d, bool k) { return logsumexp(x, d.v.value_or(Dims{}), k); }, "dim"_a,
       "keepdim"_a = false);
  both(m, "norm", [](const Tensor& x, nb::handle p, DimArg d, bool k) { return norm(x, norm_p(p), d.v, k); },
       "p"_a = "fro", "dim"_a = nb::none(), "keepdim"_a = false);
  both(m, "all", [](const Tensor& x, DimArg d, bool k) { return all(x, d.v, k); }, "dim"_a = nb::none(), "keepdim"_a = false);
  both(m, "any", [](const Tensor& x, DimArg d, bool k) { return any(x, d.v, k); }, "dim"_a = nb::none(), "keepdim"_a = false);
  both(m, "cumsum", [](const Tensor& x, int64_t d, std::optional<Dtype> dt) { return cumsum(x, d, dt); }, "dim"_a,
       nb::kw_only(), "dtype"_a = nb::none());
  both(m, "cumprod", [](const Tensor& x, int64_t d, std::optional<Dtype> dt) { return cumprod(x, d, dt); }, "dim"_a,
       nb::kw_only(), "dtype"_a = nb::none());
  both(m, "softmax", [](const Tensor& x, int64_t d, std::optional<Dtype> dt) { return softmax(x, d, dt); }, "dim"_a,
       "dtype"_a = nb::none());
  both(m, "log_softmax", [](const Tensor& x, int64_t d, std::optional<Dtype> dt) { return log_softmax(x, d, dt); },
       "dim"_a, "dtype"_a = nb::none());

  // ---- joining / splitting / rearranging
  for (const char* name : {"cat", "concat", "concatenate"})
    m.def(name, [](const TensorList& xs, int64_t d) { return cat(xs, d); }, "tensors"_a, "dim"_a = 0);
  m.def("stack", [](const TensorList& xs, int64_t d) { return stack(xs, d); }, "tensors"_a, "dim"_a = 0);
  both(m, "split", [](const Tensor& x, nb::handle s, int64_t d) {
    if (PyLong_Check(s.ptr())) return as_tuple(split(x, nb::cast<int64_t>(s), d));
    return as_tuple(split_with_sizes(x, shape_from_handle(s, "split"), d));
  }, "split_size_or_sections"_a, "dim"_a = 0);
  both(m, "chunk", [](const Tensor& x, int64_t c, int64_t d) { return as_tuple(chunk(x, c, d)); }, "chunks"_a, "dim"_a = 0);
  both(m, "unbind", [](const Tensor& x, int64_t d) { return as_tuple(unbind(x, d)); }, "dim"_a = 0);
  m.def("flip", [](const Tensor& x, DimArg d) { return flip(x, d.v.value_or(Dims{})); }, "input"_a, "dims"_a);
  method("flip", [](const Tensor& x, nb::args a) { return flip(x, shape_from_args(a, "flip")); });
  m.def("fliplr", [](const Tensor& x) { return flip(x, {1}); }, "input"_a);
  m.def("flipud", [](const Tensor& x) { return flip(x, {0}); }, "input"_a);
  both(m, "roll", [](const Tensor& x, DimArg shifts, DimArg dims) {
    return roll(x, shifts.v.value_or(Dims{}), dims.v.value_or(Dims{}));
  }, "shifts"_a, "dims"_a = nb::none());
  m.def("tile", [](const Tensor& x, nb::handle d) { return tile(x, shape_from_handle(d, "tile")); }, "input"_a, "dims"_a);
  both(m, "tril", &tril, "diagonal"_a = 0);
  both(m, "triu", &triu, "diagonal"_a = 0);
  method("tril_", [](Tensor& x, int64_t d) -> Tensor& { check_inplace(x, "tril_"); return inplace_assign(x, tril(x, d)); },
         "diagonal"_a = 0, nb::rv_policy::reference);
  method("triu_", [](Tensor& x, int64_t d) -> Tensor& { check_inplace(x, "triu_"); return inplace_assign(x, triu(x, d)); },
         "diagonal"_a = 0, nb::rv_policy::reference);
  m.def("_pad", [](const Tensor& x, const Dims& p, const std::string& mode, double v) { return pad(x, p, mode, v); },
        "input"_a, "pad"_a, "mode"_a = "constant", "value"_a = 0.0);
  m.def("_one_hot", &one_hot, "input"_a, "num_classes"_a = -1);
  both(m, "masked_fill", [](const Tensor& x, const Tensor& mask, Scalar v) { return masked_fill(x, mask, v); }, "mask"_a, "value"_a);
  both(m, "masked_fill", [](const Tensor& x, const Tensor& mask, const Tensor& v) { return masked_fill(x, mask, v); }, "mask"_a, "value"_a);
  method("masked_fill_", [](Tensor& x, const Tensor& mask, Scalar v) -> Tensor& {
    check_inplace(x, "masked_fill_");
    return inplace_assign(x, masked_fill(x, mask, v));
  }, "mask"_a, "value"_a, nb::rv_policy::reference);
  method("masked_fill_", [](Tensor& x, const Tensor& mask, const Tensor& v) -> Tensor& {
    check_inplace(x, "masked_fill_");
    return inplace_assign(x, masked_fill(x, mask, v));
  }, "mask"_a, "value"_a, nb::rv_policy::reference);
  both(m, "movedim", [](const Tensor& x, DimArg s, DimArg d) { return movedim(x, *s.v, *d.v); }, "source"_a, "destination"_a);
  m.def("permute", [](const Tensor& x, nb::handle d) { return permute(x, shape_from_handle(d, "permute")); }, "input"_a, "dims"_a);
  m.def("reshape", [](const Tensor& x, nb::handle s) { return reshape(x, shape_from_handle(s, "reshape")); }, "input"_a, "shape"_a);
  m.def("transpose", &transpose, "input"_a, "dim0"_a, "dim1"_a);
  m.def("squeeze", [](const Tensor& x, DimArg d) { return squeeze(x, d.v); }, "input"_a, "dim"_a = nb::none());
  m.def("unsqueeze", &unsqueeze, "input"_a, "dim"_a);
  m.def("flatten", &flatten, "input"_a, "start_dim"_a = 0, "end_dim"_a = -1);
  m.def("unflatten", [](const Tensor& x, int64_t d, nb::handle s) { return unflatten(x, d, shape_from_handle(s, "unflatten")); },
        "input"_a, "dim"_a, "sizes"_a);
  m.def("narrow", &narrow, "input"_a, "dim"_a, "start"_a, "length"_a);
  m.def("select", &select, "input"_a, "dim"_a, "index"_a);
  m.def("diagonal", &diagonal, "input"_a, "offset"_a = 0, "dim1"_a = 0, "dim2"_a = 1);
  m.def("broadcast_to", [](const Tensor& x, nb::handle s) { return expand(x, shape_from_handle(s, "broadcast_to")); }, "input"_a, "size"_a);
  m.def("broadcast_shapes", [](nb::args shapes) {
    Shape r;
    for (nb::handle s : shapes) r = broadcast_shapes(r, shape_from_handle(s, "broadcast_shapes"), "broadcast_shapes");
    nb::list l;
    for (auto v : r) l.append(v);
    return nb::tuple(l);
  });
  m.def("broadcast_tensors", [](nb::args ts) {
    Shape r;
    TensorList xs;
    for (nb::handle t : ts) xs.push_back(nb::cast<Tensor>(t)), r = broadcast_shapes(r, xs.back().shape(), "broadcast_tensors");
    TensorList out;
    for (auto& x : xs) out.push_back(expand(x, r));
    return out;
  });
  m.def("as_strided", [](const Tensor& t, nb::handle size, nb::handle stride, std::optional<int64_t> off) {
    return as_strided(t, shape_from_handle(size, "as_strided"), shape_from_handle(stride, "as_strided"), off);
  }, "input"_a, "size"_a, "stride"_a, "storage_offset"_a = nb::none());

  // ---- indexing
  both(m, "gather", &gather, "dim"_a, "index"_a);
  both(m, "scatter", [](const Tensor& x, int64_t d, const Tensor& i, const Tensor& s) { return scatter(x, d, i, s); }, "dim"_a, "index"_a, "src"_a);
  both(m, "scatter", [](const Tensor& x, int64_t d, const Tensor& i, Scalar v) { return scatter(x, d, i, v); }, "dim"_a, "index"_a, "value"_a);
  both(m, "scatter_add", &scatter_add, "dim"_a, "index"_a, "src"_a);
  both(m, "index_select", &index_select, "dim"_a, "index"_a);
  both(m, "index_add", &index_add, "dim"_a, "index"_a, "source"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)));
  both(m, "take_along_dim", &take_along_dim, "indices"_a, "dim"_a = nb::none());
  both(m, "masked_select", &masked_select, "mask"_a);
  both(m, "nonzero", [](const Tensor& x, bool as_tuple) -> nb::object {
    Tensor nz = nonzero(x);
    if (!as_tuple) return nb::cast(nz);
    nb::list l;
    int64_t nd = std::max<int64_t>(x.dim(), 1);
    // a 0-d input has one (size-1) coordinate column per non-zero element: all 0
    for (int64_t d = 0; d < nd; ++d) l.append(x.dim() ? select(nz, 1, d) : zeros({nz.shape()[0]}, Dtype::Int64));
    return nb::tuple(l);
  }, nb::kw_only(), "as_tuple"_a = false);
  method("scatter_", [](Tensor& x, int64_t d, const Tensor& i, const Tensor& s) -> Tensor& {
    check_inplace(x, "scatter_");
    return inplace_assign(x, scatter(x, d, i, s));
  }, "dim"_a, "index"_a, "src"_a, nb::rv_policy::reference);
  method("scatter_", [](Tensor& x, int64_t d, const Tensor& i, Scalar v) -> Tensor& {
    check_inplace(x, "scatter_");
    return inplace_assign(x, scatter(x, d, i, v));
  }, "dim"_a, "index"_a, "value"_a, nb::rv_policy::reference);
  method("scatter_add_", [](Tensor& x, int64_t d, const Tensor& i, const Tensor& s) -> Tensor& {
    check_inplace(x, "scatter_add_");
    return inplace_assign(x, scatter_add(x, d, i, s));
  }, "dim"_a, "index"_a, "src"_a, nb::rv_policy::reference);
  method("index_add_", [](Tensor& x, int64_t d, const Tensor& i, const Tensor& s, Scalar alpha) -> Tensor& {
    check_inplace(x, "index_add_");
    return inplace_assign(x, index_add(x, d, i, s, alpha));
  }, "dim"_a, "index"_a, "source"_a, nb::kw_only(), "alpha"_a = Scalar(int64_t(1)), nb::rv_policy::reference);
  method("index_put_", [](Tensor& x, const TensorList& idx, const Tensor& v, bool acc) -> Tensor& {
    return index_put_(x, idx, v, acc);
  }, "indices"_a, "values"_a, "accumulate"_a = false, nb::rv_policy::reference);
  both(m, "index_put", [](const Tensor& x, const TensorList& idx, const Tensor& v, bool acc) {
    Tensor c = clone(x);
    return index_put_(c, idx, v, acc);
  }, "indices"_a, "values"_a, "accumulate"_a = false);

  // ---- sorting
  both(m, "sort", [](const Tensor& x, int64_t d, bool desc, bool stable) {
    auto [v, i] = sort(x, d, desc, stable);
    return named_pair("sort", v, i);
  }, "dim"_a = -1, "descending"_a = false, nb::kw_only(), "stable"_a = false);
  both(m, "argsort", &argsort, "dim"_a = -1, "descending"_a = false, nb::kw_only(), "stable"_a = false);
  both(m, "topk", [](const Tensor& x, int64_t k, int64_t d, bool largest, bool sorted) {
    auto [v, i] = topk(x, k, d, largest, sorted);
    return named_pair("topk", v, i);
  }, "k"_a, "dim"_a = -1, "largest"_a = true, "sorted"_a = true);
  both(m, "unique", [](const Tensor& x, bool sorted, bool inv, bool counts, std::optional<int64_t> d) -> nb::object {
    auto [u, i, c] = unique(x, sorted, inv, counts, d);
    if (!inv && !counts) return nb::cast(u);
    nb::list l;
    l.append(u);
    if (inv) l.append(i);
    if (counts) l.append(c);
    return nb::tuple(l);
  }, "sorted"_a = true, "return_inverse"_a = false, "return_counts"_a = false, "dim"_a = nb::none());

  // ---- linear algebra
  both(m, "matmul", &matmul, "other"_a);
  both(m, "mm", &mm, "mat2"_a);
  both(m, "bmm", &bmm, "mat2"_a);
  both(m, "mv", &mv, "vec"_a);
  both(m, "dot", &dot, "other"_a);
  both(m, "addmm", [](const Tensor& x, const Tensor& m1, const Tensor& m2, Scalar beta, Scalar alpha) {
    return addmm(x, m1, m2, beta, alpha);
  }, "mat1"_a, "mat2"_a, nb::kw_only(), "beta"_a = Scalar(int64_t(1)), "alpha"_a = Scalar(int64_t(1)));
  both(m, "baddbmm", [](const Tensor& x, const Tensor& b1, const Tensor& b2, Scalar beta, Scalar alpha) {
    return baddbmm(x, b1, b2, beta, alpha);
  }, "batch1"_a, "batch2"_a, nb::kw_only(), "beta"_a = Scalar(int64_t(1)), "alpha"_a = Scalar(int64_t(1)));
  m.def("linear", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b) {
    return linear(x, w, b ? *b : Tensor());
  }, "input"_a, "weight"_a, "bias"_a = nb::none());
  // linear + activation ("relu", "gelu", "gelu_tanh") fused into the GEMM epilogue
  m.def("_linear_act", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, const std::string& act) {
    return linear_act(x, w, b ? *b : Tensor(), act);
  }, "input"_a, "weight"_a, "bias"_a = nb::none(), "activation"_a = "relu");

  // ---- copies and fills
  method("copy_", [](Tensor& x, const Tensor& src) -> Tensor& { return copy_(x, src); }, "src"_a, nb::rv_policy::reference);
  method("fill_", [](Tensor& x, Scalar v) -> Tensor& { return fill_(x, v); }, "value"_a, nb::rv_policy::reference);
  method("fill_", [](Tensor& x, const Tensor& v) -> Tensor& {
    EMBER_CHECK(v.dim() == 0, "fill_: only supports 0-dimension value tensor but got a tensor with ", v.dim(), " dimensions");
    return fill_(x, v.item());
  }, "value"_a, nb::rv_policy::reference);
  method("zero_", [](Tensor& x) -> Tensor& { return zero_(x); }, nb::rv_policy::reference);
  method("_to_dtype", [](const Tensor& x, Dtype d, bool copy) { return to_dtype(x, d, copy); }, "dtype"_a, "copy"_a = false);
}

}  // namespace ember::py
