// ember.compile's C++ half: the tracer (start, stop, finish) and the captured graph (replay,
// stats, a plain description for printing and drawing). The Python half is ember/_compile.py.
#include <nanobind/stl/function.h>
#include <nanobind/stl/unique_ptr.h>

#include "bindings/common.h"
#include "compile/graph.h"
#include "core/storage.h"

namespace ember::py {

using compile::Graph;
using compile::Tracer;

static nb::dict graph_stats(const Graph& g) {
  nb::dict d;
  d["nodes"] = g.stats.nodes;
  d["kernels"] = g.stats.kernels;
  d["fused_groups"] = g.stats.fused_groups;
  d["fused_nodes"] = g.stats.fused_nodes;
  d["temporaries"] = g.stats.temporaries;
  d["arena_slots"] = g.stats.arena_slots;
  d["peak_bytes"] = g.stats.arena_bytes;
  d["unplanned_bytes"] = g.stats.unplanned_bytes;
  d["fresh_bytes"] = g.stats.fresh_bytes;
  d["grad_effects"] = int64_t(g.grads.size());
  return d;
}

// Nodes and buffers as dicts: ember/_compile.py turns them into graph_view() rows.
static nb::dict describe(const Graph& g) {
  nb::list nodes, buffers;
  for (const compile::Node& n : g.nodes) {
    nb::dict d;
    d["op"] = n.label.empty() ? n.op : n.label;
    d["kernel"] = n.op;
    d["group"] = n.group;
    nb::list outs, ins;
    for (size_t i = 0; i < n.bufs.size(); ++i) {
      if (n.bufs[i] < 0) continue;
      (int(i) < n.n_out ? outs : ins).append(n.bufs[i]);
    }
    d["outs"] = outs;
    d["ins"] = ins;
    const Tensor* first = nullptr;
    for (const Tensor& t : n.tensors)
      if (t.defined()) { first = &t; break; }
    d["shape"] = first ? nb::cast(first->shape()) : nb::cast(Shape{});
    d["dtype"] = first ? std::string(dtype_name(first->dtype())) : std::string("");
    nodes.append(d);
  }
  for (const compile::Buffer& b : g.buffers) {
    nb::dict d;
    d["kind"] = compile::kind_name(b.kind);
    d["index"] = b.index;
    d["nbytes"] = int64_t(b.nbytes);
    d["data_ptr"] = b.storage ? int64_t(reinterpret_cast<intptr_t>(b.storage->data)) : int64_t(0);
    d["slot"] = b.slot;
    buffers.append(d);
  }
  nb::list outputs, inputs;
  for (const Tensor& o : g.outputs) outputs.append(nb::make_tuple(o.shape(), std::string(dtype_name(o.dtype()))));
  for (int b : g.input_buf) inputs.append(b);
  nb::dict r;
  r["nodes"] = nodes;
  r["buffers"] = buffers;
  r["outputs"] = outputs;
  r["inputs"] = inputs;
  std::vector<int> out_bufs;
  for (size_t i = 0; i < g.buffers.size(); ++i)
    if (g.buffers[i].output) out_bufs.push_back(int(i));
  r["output_buffers"] = out_bufs;
  return r;
}

void init_compile(nb::module_& m) {
  nb::class_<Graph>(m, "_CompiledGraph")
      .def(
          "replay",
          [](Graph& g, const TensorList& args) -> nb::object {
            TensorList outs;
            std::string why;
            bool ok;
            {
              nb::gil_scoped_release release;
              ok = g.replay(args, outs, why);
            }
            if (!ok) return nb::str(why.c_str());
            return nb::cast(outs);
          },
          "args"_a, "Runs the graph on new tensor arguments; returns the outputs, or why a guard failed (str).")
      .def(
          "profile",
          [](Graph& g, const TensorList& args) -> nb::object {
            TensorList outs;
            std::string why;
            std::vector<double> times;
            if (!g.replay(args, outs, why, &times)) return nb::str(why.c_str());
            nb::list rows;
            for (size_t i = 0; i < times.size(); ++i) {
              const auto& n = g.nodes[i];
              rows.append(nb::make_tuple(n.label.empty() ? n.op : n.label, times[i]));
            }
            return rows;
          },
          "args"_a, "Replays once, timing every node: [(op, seconds)].")
      .def("stats", &graph_stats)
      .def("describe", &describe)
      .def_prop_ro("escapes", [](const Graph& g) { return g.escapes; });

  nb::class_<Tracer>(m, "_Tracer")
      .def(nb::init<>())
      .def(
          "start",
          [](Tracer& t, const TensorList& args, bool fullgraph, nb::object where) {
            t.fullgraph = fullgraph;
            t.where = [where]() {
              nb::gil_scoped_acquire gil;
              return nb::cast<std::string>(where());
            };
            t.start(args);
          },
          "args"_a, "fullgraph"_a, "where"_a)
      .def("stop", &Tracer::stop)
      .def_prop_ro("broken", [](const Tracer& t) { return t.broken; })
      .def_prop_ro("break_site", [](const Tracer& t) { return t.break_site; })
      .def("finish", [](Tracer& t, const TensorList& outs, bool fuse) { return t.finish(outs, fuse); }, "outputs"_a,
           "fuse"_a);
  m.def(
      "_gemm_act_pre",
      [](const Tensor& out, const Tensor& pre, const Tensor& a, const Tensor& b, std::optional<Tensor> bias,
         double alpha, double beta, int act) {
        EMBER_CHECK(act >= 0 && act <= 3,
                    "_gemm_act_pre: act must be 0 (none), 1 (relu), 2 (gelu) or 3 (gelu tanh), got ", act);
        nb::gil_scoped_release release;
        compile::gemm_act_pre(out, pre, a, b, bias ? *bias : Tensor(), alpha, beta, GemmAct(act));
      },
      "out"_a, "pre"_a, "a"_a, "b"_a, "bias"_a.none(), "alpha"_a = 1.0, "beta"_a = 0.0, "act"_a = 0,
      "Test hook of the GEMM epilogue that also stores the pre-activation (ember.compile's fused "
      "bias + activation in training): out = act(alpha a @ b + beta out + bias), pre = the same "
      "before act.");
  m.def("_compile_tracing", [] { return compile::t_tracer != nullptr; });
}

}  // namespace ember::py
