// The backward engine: count how many grads each Node waits for, then run Nodes in reverse
// creation order once all their grads have arrived, summing grads that meet at an input.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "ops/ops.h"

namespace ember::autograd {
namespace {

// Latest-created node first; a leaf's AccumulateGrad as soon as it is ready (its gradient is
// final then, and post-accumulate hooks, e.g. DDP's all-reduce, can start during backward).
struct BySeq {
  bool operator()(const Node* a, const Node* b) const {
    bool la = a->is_accumulate_grad(), lb = b->is_accumulate_grad();
    if (la != lb) return lb;
    return a->seq < b->seq;
  }
};

// Make an incoming grad match what the Node's input was: sum broadcast dims, cast the dtype.
Tensor conform(Tensor g, const TensorMeta& meta, const Node& producer) {
  if (g.shape() != meta.shape) {
    g = sum_to(g, meta.shape);
    if (g.shape() != meta.shape)
      EMBER_RUNTIME_ERROR("backward: ", producer.name(), " returned a gradient of shape ", shape_str(g.shape()),
                          " for an input of shape ", shape_str(meta.shape));
  }
  if (g.dtype() != meta.dtype && is_floating(meta.dtype)) g = to_dtype(g, meta.dtype);
  return g;
}

Tensor run_hooks(Node& node, uint32_t nr, Tensor g) {
  for (auto& h : node.pre_hooks) {
    if (h.output_nr != nr) continue;
    Tensor r = h.fn(g);
    if (r.defined() && r.shape() != g.shape())
      EMBER_RUNTIME_ERROR("register_hook: a hook on ", node.name(), " returned a gradient of shape ", shape_str(r.shape()),
                          " for a gradient of shape ", shape_str(g.shape()), " (hooks must not change the shape)");
    if (r.defined()) g = r;
  }
  for (auto& [onr, weak] : node.retained) {
    if (onr != nr) continue;
    if (auto impl = weak.lock()) {
      Tensor t(impl);
      Tensor old = t.grad();
      t.set_grad(old.defined() ? old + g : (GradMode::enabled() ? g : clone(detach(g))));
    }
  }
  return g;
}

// Anomaly mode: check the grads a node returned for NaN/inf, and on any error in the node let
// the bindings show the Python stack of the forward call that created it, then rethrow.
TensorList apply_checked(Node& node, TensorList&& grads) {
  try {
    TensorList outs;
    {
      AnomalyParentGuard parent(&node);
      outs = node.apply(std::move(grads));
    }
    if (!AnomalyMode::check_nan()) return outs;
    GradModeGuard no_grad(false);
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!outs[i].defined() || !is_floating(outs[i].dtype())) continue;
      const char* bad = nullptr;
      if (any(unary(UnaryOp::IsNan, outs[i])).item().to_int()) bad = "nan";
      else if (any(unary(UnaryOp::IsInf, outs[i])).item().to_int()) bad = "inf";
      if (!bad) continue;
      std::string where = node.forward_trace
                              ? "Traceback of forward call that created it:\n" + *node.forward_trace
                              : std::string("(no forward traceback: the node was created before "
                                            "anomaly mode was enabled)");
      EMBER_RUNTIME_ERROR("Function '", node.name(), "' returned ", bad, " values in its ", i,
                          "th output.\n", where);
    }
    return outs;
  } catch (const std::exception& e) {
    report_anomaly(node, e.what());
    throw;
  }
}

struct GraphTask {
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, TensorList> buffers;
  std::unordered_map<Node*, std::vector<std::pair<uint32_t, size_t>>> captures;  // grad(): node input -> slot
  std::unordered_set<Node*> needed;  // grad(): nodes leading to a captured input
  bool prune = false;
};

// A gradient buffer nothing else sees (a fresh result of the pass, not a grad that also went to
// another edge, not borrowed memory) takes the next one in place: no new buffer per sum. Not
// when the backward itself is recorded (create_graph).
bool can_accumulate_in_place(const Tensor& acc, const Tensor& g) {
  const auto& st = acc.storage();
  return !GradMode::enabled() && acc.impl_ptr().use_count() == 1 && st.use_count() == 1 && !st->deleter &&
         !st->read_only && acc.dtype() == g.dtype() && acc.shape() == g.shape() && acc.device() == g.device();
}

void add_grad(GraphTask& task, Node* fn, size_t nslots, uint32_t slot, Tensor g) {
  auto& buf = task.buffers[fn];
  if (buf.size() < nslots) buf.resize(nslots);
  Tensor& acc = buf[slot];
  if (!acc.defined()) acc = std::move(g);
  else if (can_accumulate_in_place(acc, g)) binary_(BinaryOp::Add, acc, g);
  else acc = acc + g;
}

// queue_callback(): callbacks of the backward pass running on this thread (nested passes
// each keep their own list).
thread_local std::vector<std::function<void()>>* t_callbacks = nullptr;

struct CallbackScope {
  std::vector<std::function<void()>> list;
  std::vector<std::function<void()>>* prev;
  CallbackScope() : prev(t_callbacks) { t_callbacks = &list; }
  ~CallbackScope() { t_callbacks = prev; }
  void run() {
    for (size_t i = 0; i < list.size(); ++i) list[i]();  // a callback may queue another
  }
};

void execute(const TensorList& roots, const TensorList& grad_roots, bool keep_graph, bool create_graph,
             const std::vector<Edge>& capture_edges, TensorList* captured) {
  GradModeGuard mode(create_graph);
  GraphTask task;
  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    Edge e = gradient_edge(roots[i]);
    if (!e.valid())
      EMBER_RUNTIME_ERROR("backward: element ", i, " of tensors does not require grad and does not have a grad_fn");
    root_edges.push_back(e);
  }
  // dependency counts over everything reachable from the roots
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  for (auto& e : root_edges)
    if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  std::vector<Node*> order;  // discovery order, for pruning
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (auto& e : n->next_edges) {
      if (!e.valid()) continue;
      task.deps[e.fn.get()]++;
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }
  if (captured) {
    captured->assign(capture_edges.size(), Tensor());
    for (size_t i = 0; i < capture_edges.size(); ++i)
      if (capture_edges[i].valid()) task.captures[capture_edges[i].fn.get()].push_back({capture_edges[i].input_nr, i});
    // a node is needed when a captured input is reachable from it: iterate to a fixed point
    task.prune = true;
    for (auto& [n, _] : task.captures) task.needed.insert(n);
    for (bool changed = true; changed;) {
      changed = false;
      for (Node* n : order) {
        if (task.needed.count(n)) continue;
        for (auto& e : n->next_edges)
          if (e.valid() && task.needed.count(e.fn.get())) {
            task.needed.insert(n);
            changed = true;
            break;
          }
      }
    }
  }
  for (size_t i = 0; i < roots.size(); ++i) {
    Node* fn = root_edges[i].fn.get();
    add_grad(task, fn, fn->output_meta.size(), root_edges[i].input_nr, grad_roots[i]);
  }
  std::priority_queue<Node*, std::vector<Node*>, BySeq> ready;
  std::unordered_set<Node*> queued;
  for (auto& e : root_edges)
    if (task.deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push(e.fn.get());

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    if (!task.buffers.count(node)) {
      // no gradient reached this node (e.g. a custom backward returned None): nothing flows on,
      // so a leaf behind it keeps grad None, as in PyTorch
      if (!keep_graph) node->release_saved();
      for (auto& e : node->next_edges)
        if (e.valid() && --task.deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push(e.fn.get());
      continue;
    }
    TensorList grads = std::move(task.buffers[node]);
    task.buffers.erase(node);
    grads.resize(node->output_meta.size());
    for (uint32_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) grads[i] = zeros(node->output_meta[i].shape, node->output_meta[i].dtype, node->output_meta[i].device);
      if (!node->pre_hooks.empty() || !node->retained.empty()) grads[i] = run_hooks(*node, i, grads[i]);
    }
    if (captured) {
      auto it = task.captures.find(node);
      if (it != task.captures.end())
        for (auto& [nr, slot] : it->second) (*captured)[slot] = grads[nr];
    }
    bool run = !task.prune || (task.needed.count(node) && !node->is_accumulate_grad());
    if (!run) continue;
    TensorList outs = AnomalyMode::enabled() ? apply_checked(*node, std::move(grads))
                                             : node->apply(std::move(grads));
    if (!keep_graph) node->release_saved();
    for (size_t i = 0; i < node->next_edges.size() && i < outs.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid()) continue;
      Node* next = e.fn.get();
      if (outs[i].defined()) {
        add_grad(task, next, next->output_meta.size(), e.input_nr, conform(std::move(outs[i]), node->input_meta[i], *node));
      }
      if (--task.deps[next] == 0 && queued.insert(next).second) ready.push(next);
    }
    // nodes that received nothing still need their dependents decremented: handled above by
    // decrementing per edge whether or not a grad was produced
  }
}

}  // namespace

void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph, bool create_graph,
              const TensorList& inputs) {
  TensorList grads = grad_roots;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i].requires_grad())
      EMBER_RUNTIME_ERROR("backward: element ", i, " of tensors does not require grad and does not have a grad_fn");
    if (i >= grads.size()) grads.resize(i + 1);
    if (!grads[i].defined()) {
      if (roots[i].numel() != 1)
        EMBER_RUNTIME_ERROR("backward: grad can be implicitly created only for scalar outputs (got a tensor of shape ",
                            shape_str(roots[i].shape()), "); pass `gradient`");
      grads[i] = full(roots[i].shape(), Scalar(1.0), roots[i].dtype(), roots[i].device());
    } else if (grads[i].shape() != roots[i].shape()) {
      EMBER_VALUE_ERROR("backward: gradient has shape ", shape_str(grads[i].shape()), " but the output has shape ",
                        shape_str(roots[i].shape()));
    }
  }
  CallbackScope callbacks;
  if (inputs.empty()) {
    execute(roots, grads, retain_graph, create_graph, {}, nullptr);
    callbacks.run();
    return;
  }
  // backward(inputs=...): accumulate only into the given leaves
  std::vector<Edge> edges;
  for (auto& t : inputs) edges.push_back(gradient_edge(t));
  TensorList got;
  execute(roots, grads, retain_graph, create_graph, edges, &got);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!got[i].defined()) continue;
    Tensor t = inputs[i];
    Tensor old = t.grad();
    t.set_grad(old.defined() ? old + got[i] : (create_graph ? got[i] : clone(detach(got[i]))));
    if (auto* acc = dynamic_cast<AccumulateGrad*>(edges[i].fn.get()); acc && !acc->post_hooks.empty())
      acc->run_post_hooks(t);
  }
  callbacks.run();
}

void queue_callback(std::function<void()> fn) {
  if (!t_callbacks) EMBER_RUNTIME_ERROR("queue_callback: no backward pass is running on this thread");
  t_callbacks->push_back(std::move(fn));
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool retain_graph, bool create_graph, bool allow_unused) {
  TensorList grads = grad_outputs;
  grads.resize(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].requires_grad())
      EMBER_RUNTIME_ERROR("grad: element ", i, " of tensors does not require grad and does not have a grad_fn");
    if (!grads[i].defined()) {
      if (outputs[i].numel() != 1)
        EMBER_RUNTIME_ERROR("grad: grad can be implicitly created only for scalar outputs (got shape ",
                            shape_str(outputs[i].shape()), "); pass grad_outputs");
      grads[i] = full(outputs[i].shape(), Scalar(1.0), outputs[i].dtype(), outputs[i].device());
    } else if (grads[i].shape() != outputs[i].shape()) {
      EMBER_VALUE_ERROR("grad: grad_outputs[", i, "] has shape ", shape_str(grads[i].shape()), " but the output has shape ",
                        shape_str(outputs[i].shape()));
    }
  }
  std::vector<Edge> edges;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad())
      EMBER_RUNTIME_ERROR("grad: input ", i, " does not require grad");
    edges.push_back(gradient_edge(inputs[i]));
  }
  TensorList got;
  CallbackScope callbacks;
  execute(outputs, grads, retain_graph, create_graph, edges, &got);
  callbacks.run();
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].defined() && !allow_unused)
      EMBER_RUNTIME_ERROR("grad: one of the differentiated tensors (input ", i,
                          ") appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior.");
    if (got[i].defined() && !create_graph) got[i] = detach(got[i]);
  }
  return got;
}

}  // namespace ember::autograd
