// Autograd bindings: backward/grad, grad mode, hooks, graph inspection (grad_fn) and the node
// behind ember.autograd.Function (a Python backward called from the C++ engine).
#include <nanobind/stl/function.h>

#include "bindings/common.h"

namespace ember::py {
using autograd::Node;

namespace {

// A Python object owned from C++ that may be dropped by a thread without the GIL (a graph freed
// inside a kernel call or an optimizer step): the last owner takes the GIL to release it.
struct GilSafeObject {
  nb::object obj;
  explicit GilSafeObject(nb::object o) : obj(std::move(o)) {}
  GilSafeObject(const GilSafeObject&) = delete;
  ~GilSafeObject() {
    if (!obj.is_valid()) return;
    if (!nb::is_alive()) {  // interpreter gone: leak rather than touch it
      obj.release();
      return;
    }
    nb::gil_scoped_acquire gil;
    obj.reset();
  }
};

// A node whose backward is a Python callable: grads -> tuple of (Tensor | None), one per input.
struct PyFunctionNode : Node {
  std::string node_name;
  nb::object backward_fn;
  ~PyFunctionNode() override {
    if (!backward_fn.is_valid()) return;
    if (!nb::is_alive()) {
      backward_fn.release();
      return;
    }
    nb::gil_scoped_acquire gil;
    backward_fn.reset();
  }
  std::string name() const override { return node_name; }
  TensorList apply(TensorList&& grads) override {
    nb::gil_scoped_acquire gil;
    if (!backward_fn.is_valid() || backward_fn.is_none())
      EMBER_RUNTIME_ERROR("Trying to backward through the graph a second time in ", node_name,
                          "; specify retain_graph=True if you need to backward through the graph a second time.");
    nb::list args;
    for (auto& g : grads) args.append(g);
    nb::object res = backward_fn(*nb::tuple(args));
    TensorList out;
    if (!PyTuple_Check(res.ptr()) && !PyList_Check(res.ptr())) res = nb::make_tuple(res);
    for (nb::handle h : res) {
      if (!h.is_none() && !nb::isinstance<Tensor>(h))
        throw nb::type_error((node_name + ": backward returned a " + std::string(nb::inst_name(h).c_str()) +
                              " where a Tensor or None was expected").c_str());
      out.push_back(h.is_none() ? Tensor() : nb::cast<Tensor>(h));
    }
    if (out.size() != next_edges.size())
      EMBER_RUNTIME_ERROR(node_name, ": backward returned ", out.size(), " gradients, expected ", next_edges.size());
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].defined() && out[i].shape() != input_meta[i].shape && shape_numel(out[i].shape()) != shape_numel(input_meta[i].shape))
        EMBER_RUNTIME_ERROR(node_name, ": backward returned a gradient of shape ", out[i].shape(), " for input ", i,
                            " of shape ", input_meta[i].shape);
    return out;
  }
  void release_saved() override {
    nb::gil_scoped_acquire gil;
    backward_fn = nb::none();  // also breaks ctx -> saved output -> node cycles
  }
};

struct HookHandle {
  std::weak_ptr<Node> node;
  uint64_t id;
  void remove() {
    if (auto n = node.lock()) n->remove_hook(id);
  }
};

TensorList optional_tensors(nb::list l) {
  TensorList out;
  for (nb::handle h : l) out.push_back(h.is_none() ? Tensor() : nb::cast<Tensor>(h));
  return out;
}

// The hook's result must be None or a Tensor of the gradient's dtype (as PyTorch checks).
autograd::Hook make_hook(nb::object py_fn) {
  auto holder = std::make_shared<GilSafeObject>(std::move(py_fn));
  return [holder](const Tensor& g) -> Tensor {
    nb::gil_scoped_acquire gil;
    nb::handle fn = holder->obj;
    nb::object r = fn(g);
    if (r.is_none()) return Tensor();
    auto hook_name = [&] {
      nb::object n = nb::getattr(fn, "__name__", nb::none());
      return std::string(nb::str(n.is_none() ? nb::repr(fn) : n).c_str());
    };
    if (!nb::isinstance<Tensor>(r))
      throw nb::type_error(("hook '" + hook_name() + "' returned a " + std::string(nb::inst_name(r).c_str()) +
                            " where a Tensor or None was expected").c_str());
    Tensor t = nb::cast<Tensor>(r);
    if (t.dtype() != g.dtype())
      EMBER_RUNTIME_ERROR("hook '", hook_name(), "' has changed the type of value (was ", dtype_name(g.dtype()), " got ",
                          dtype_name(t.dtype()), ")");
    return t;
  };
}

// Anomaly mode's Python side: the stack at node creation, and a warning when a node fails.
std::string python_stack() {
  if (!nb::is_alive()) return {};
  nb::gil_scoped_acquire gil;
  nb::object lines = nb::module_::import_("traceback").attr("format_stack")();
  return nb::cast<std::string>(nb::str("").attr("join")(lines));
}

void warn_anomaly(const Node& node, const std::string&) {
  if (!nb::is_alive()) return;
  nb::gil_scoped_acquire gil;
  std::string msg = "anomaly mode: " + node.name() + " failed in backward; ";
  msg += node.forward_trace ? "the forward call that created it:\n" + *node.forward_trace
                            : "it was created before anomaly mode was on, so its forward stack "
                              "is unknown";
  // under warnings-as-errors the warning is dropped: the backward's own error is the one to see
  if (PyErr_WarnEx(PyExc_UserWarning, msg.c_str(), 1) < 0) PyErr_Clear();
}

}  // namespace

void init_autograd(nb::module_& m) {
  autograd::set_anomaly_hooks({python_stack, warn_anomaly});
  m.def("_set_anomaly_enabled", &autograd::AnomalyMode::set, "mode"_a, "check_nan"_a = true);
  m.def("_is_anomaly_enabled", &autograd::AnomalyMode::enabled);
  m.def("_is_anomaly_check_nan_enabled", &autograd::AnomalyMode::check_nan);

  nb::class_<Node>(m, "Node", "A backward function in the autograd graph (a tensor's grad_fn).")
      .def("name", &Node::name)
      .def_prop_ro("next_functions", [](const Node& n) {
        nb::list l;
        for (auto& e : n.next_edges) l.append(nb::make_tuple(e.fn ? nb::cast(e.fn) : nb::none(), e.input_nr));
        return nb::tuple(l);
      })
      .def("register_hook", [](Node& n, nb::object fn) {
        // node hooks see the gradients flowing into the node's outputs (output 0)
        auto id = n.add_hook(0, make_hook(fn));
        return HookHandle{n.weak_from_this(), id};
      })
      // graph drawing: (shape, dtype, device) of each output, the leaf behind an AccumulateGrad
      .def_prop_ro("_output_meta", [](const Node& n) {
        nb::list l;
        for (auto& o : n.output_meta)
          l.append(nb::make_tuple(nb::tuple(nb::cast(o.shape)), o.dtype, device_name(o.device)));
        return l;
      })
      .def_prop_ro("variable", [](const Node& n) -> nb::object {
        auto* acc = dynamic_cast<const autograd::AccumulateGrad*>(&n);
        if (!acc)
          throw nb::attribute_error(("'" + n.name() + "' object has no attribute 'variable'").c_str());
        auto impl = acc->leaf.lock();
        return impl ? nb::cast(Tensor(impl)) : nb::none();
      })
      .def_prop_ro("_node_id", [](const Node& n) { return reinterpret_cast<uintptr_t>(&n); },
                   "A stable identity for this node while it lives.")
      .def_prop_ro("_forward_trace", [](const Node& n) -> nb::object {
        return n.forward_trace ? nb::cast(*n.forward_trace) : nb::none();
      }, "The Python stack that created this node (recorded in anomaly mode only).")
      .def("__repr__", [](const Node& n) { return "<" + n.name() + " object>"; });

  nb::class_<HookHandle>(m, "RemovableHandle").def("remove", &HookHandle::remove);

  m.def("is_grad_enabled", &autograd::GradMode::enabled);
  m.def("_set_grad_enabled", &autograd::GradMode::set_enabled, "mode"_a);

  // The engine runs without the GIL (hooks and Python nodes take it back), so other Python
  // threads, e.g. DDP's gradient all-reduce, run during backward.
  m.def("_backward", [](const TensorList& roots, nb::list grads, bool retain, bool create, const TensorList& inputs) {
    TensorList g = optional_tensors(grads);
    nb::gil_scoped_release nogil;
    autograd::backward(roots, g, retain, create, inputs);
  }, "tensors"_a, "grad_tensors"_a, "retain_graph"_a, "create_graph"_a, "inputs"_a);
  m.def("_grad", [](const TensorList& outs, const TensorList& ins, nb::list gouts, bool retain, bool create, bool unused) {
    TensorList g = optional_tensors(gouts), r;
    {
      nb::gil_scoped_release nogil;
      r = autograd::grad(outs, ins, g, retain, create, unused);
    }
    nb::list l;
    for (auto& t : r) l.append(t.defined() ? nb::cast(t) : nb::none());
    return nb::tuple(l);
  }, "outputs"_a, "inputs"_a, "grad_outputs"_a, "retain_graph"_a, "create_graph"_a, "allow_unused"_a);

  nb::handle cls = nb::type<Tensor>();
  cls.attr("grad_fn") = nb::module_::import_("builtins").attr("property")(nb::cpp_function(
      [](const Tensor& t) -> nb::object {
        auto fn = t.grad_fn();
        return fn ? nb::cast(fn) : nb::none();
      },
      nb::is_method()));
  // which tensor an AccumulateGrad's `variable` is (each call wraps the impl in a new handle)
  cls.attr("_impl_id") = nb::module_::import_("builtins").attr("property")(nb::cpp_function(
      [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl_ptr().get()); },
      nb::is_method()));
  cls.attr("retains_grad") = nb::module_::import_("builtins").attr("property")(nb::cpp_function(
      [](const Tensor& t) { return t.impl()->autograd && t.impl()->autograd->retains_grad; }, nb::is_method()));
  nb::cpp_function_def(
      [](Tensor& t) {
        if (!t.requires_grad()) EMBER_RUNTIME_ERROR("retain_grad: can't retain_grad on Tensor that has requires_grad=False");
        if (t.is_leaf()) return;
        auto& meta = t.autograd_meta();
        if (meta.retains_grad) return;
        meta.retains_grad = true;
        meta.grad_fn->retained.push_back({meta.output_nr, t.impl_ptr()});
      },
      nb::is_method(), nb::name("retain_grad"), nb::scope(cls));
  nb::cpp_function_def(
      [](Tensor& t, nb::object fn) {
        if (!t.requires_grad())
          EMBER_RUNTIME_ERROR("register_hook: cannot register a hook on a tensor that doesn't require gradient");
        autograd::Edge e = autograd::gradient_edge(t);
        uint64_t id = e.fn->add_hook(e.input_nr, make_hook(fn));
        return HookHandle{e.fn, id};
      },
      nb::is_method(), nb::name("register_hook"), nb::scope(cls), "hook"_a);
  nb::cpp_function_def(
      [](Tensor& t, nb::object fn) {
        if (!t.requires_grad())
          EMBER_RUNTIME_ERROR("register_post_accumulate_grad_hook: cannot register a hook on a tensor ",
                              "that doesn't require gradient");
        if (!t.is_leaf())
          EMBER_RUNTIME_ERROR("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be ",
                              "registered on non-leaf tensors");
        auto acc = std::static_pointer_cast<autograd::AccumulateGrad>(autograd::gradient_edge(t).fn);
        auto held = std::make_shared<GilSafeObject>(std::move(fn));
        uint64_t id = acc->add_post_hook([held](const Tensor& leaf) {
          nb::gil_scoped_acquire gil;
          held->obj(leaf);
        });
        return HookHandle{acc, id};
      },
      nb::is_method(), nb::name("register_post_accumulate_grad_hook"), nb::scope(cls), "hook"_a,
      "Call hook(tensor) after this leaf's .grad has been accumulated in a backward pass.");
  m.def("_queue_backward_callback", [](nb::object fn) {
    auto held = std::make_shared<GilSafeObject>(std::move(fn));
    autograd::queue_callback([held] {
      nb::gil_scoped_acquire gil;
      held->obj();
    });
  }, "callback"_a, "Run callback() when the backward pass running on this thread finishes.");

  // ember.autograd.Function: wire outputs to a node calling `backward_fn`.
  m.def("_function_apply", [](const std::string& name, nb::object backward_fn, const TensorList& inputs,
                              const TensorList& outputs, const std::vector<bool>& differentiable) {
    auto node = std::make_shared<PyFunctionNode>();
    node->node_name = name;
    node->backward_fn = backward_fn;
    TensorList outs;
    for (size_t i = 0; i < outputs.size(); ++i) {
      // fresh handles: an output that is also an input must not have its history rewritten
      outs.push_back(alias_detached(outputs[i]));
    }
    TensorList diff_outs;
    autograd::set_history(node, inputs, {});
    uint32_t nr = 0;
    for (size_t i = 0; i < outs.size(); ++i) {
      node->output_meta.push_back({outs[i].shape(), outs[i].dtype(), outs[i].device()});
      if (differentiable[i] && is_floating(outs[i].dtype())) {
        auto& meta = outs[i].autograd_meta();
        meta.requires_grad = true;
        meta.grad_fn = node;
        meta.output_nr = nr;
      }
      nr++;
    }
    return outs;
  }, "name"_a, "backward_fn"_a, "inputs"_a, "outputs"_a, "differentiable"_a);
}

}  // namespace ember::py
