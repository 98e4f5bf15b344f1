#include "autograd/node.h"

#include "ops/ops.h"

namespace ember::autograd {

namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_next_seq{0};
std::atomic<uint64_t> g_next_hook{1};
}  // namespace

bool GradMode::enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool on) { t_grad_enabled = on; }

Node::Node() : seq(g_next_seq++) {}

uint64_t Node::add_hook(uint32_t output_nr, Hook fn) {
  uint64_t id = g_next_hook++;
  pre_hooks.push_back({id, output_nr, std::move(fn)});
  return id;
}

uint64_t AccumulateGrad::add_post_hook(PostAccumulateHook fn) {
  uint64_t id = g_next_hook++;
  post_hooks.push_back({id, std::move(fn)});
  return id;
}

bool AccumulateGrad::remove_hook(uint64_t id) {
  for (auto it = post_hooks.begin(); it != post_hooks.end(); ++it)
    if (it->first == id) {
      post_hooks.erase(it);
      return true;
    }
  return Node::remove_hook(id);
}

void AccumulateGrad::run_post_hooks(const Tensor& leaf_tensor) {
  // a copy: a hook may remove itself
  auto hooks = post_hooks;
  for (auto& [id, fn] : hooks) fn(leaf_tensor);
}

bool Node::remove_hook(uint64_t id) {
  for (auto it = pre_hooks.begin(); it != pre_hooks.end(); ++it)
    if (it->id == id) {
      pre_hooks.erase(it);
      return true;
    }
  return false;
}

SavedTensor::SavedTensor(const Tensor& t, bool output) : is_output(output) {
  if (!t.defined()) return;
  version = t.version();
  requires_grad = t.requires_grad();
  if (output) {
    data = alias_detached(t);
    weak_fn = t.grad_fn();
    output_nr = t.output_nr();
  } else {
    data = t;
  }
}

Tensor SavedTensor::unpack(const Node& owner) const {
  if (!data.defined()) return data;
  if (data.version() != version)
    EMBER_RUNTIME_ERROR(
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [", dtype_name(data.dtype()), " ", shape_str(data.shape()), "], which is output 0 of ",
        owner.name(), ", is at version ", data.version(), "; expected version ", version, " instead.");
  if (!is_output) return data;
  // re-link an output to its node so double backward can flow through it
  Tensor t = alias_detached(data);
  if (requires_grad) {
    auto& m = t.autograd_meta();
    m.requires_grad = true;
    m.grad_fn = weak_fn.lock();
    m.output_nr = output_nr;
  }
  return t;
}

TensorList FunctionNode::apply(TensorList&& grads) {
  if (released)
    EMBER_RUNTIME_ERROR(
        "Trying to backward through the graph a second time (or directly access saved tensors after "
        "they have already been freed) in ", node_name,
        ". Specify retain_graph=True if you need to backward through the graph a second time.");
  TensorList unpacked;
  unpacked.reserve(saved.size());
  for (auto& s : saved) unpacked.push_back(s.unpack(*this));
  std::vector<bool> needs(next_edges.size());
  for (size_t i = 0; i < needs.size(); ++i) needs[i] = next_edges[i].valid();
  return fn(grads, unpacked, needs);
}

void FunctionNode::release_saved() {
  if (saved.empty()) return;
  saved.clear();
  released = true;
}

TensorList AccumulateGrad::apply(TensorList&& grads) {
  auto impl = leaf.lock();
  if (!impl) return {};
  Tensor var(impl);
  Tensor g = std::move(grads[0]);
  auto& meta = var.autograd_meta();
  Tensor old = meta.grad;
  if (!old.defined()) {
    // keep the incoming buffer only when nobody else can see it (an add node hands the same
    // gradient to both inputs); otherwise copy, so later in-place accumulation stays private
    if (!GradMode::enabled() && (g.impl_ptr().use_count() > 1 || g.storage().use_count() > 1 ||
                                 !g.is_contiguous() || g.requires_grad()))
      g = clone(detach(g));
    meta.grad = GradMode::enabled() ? g : detach(g);
  } else if (GradMode::enabled()) {
    meta.grad = old + g;  // create_graph: keep the sum differentiable
  } else {
    binary_(BinaryOp::Add, old, g);
  }
  if (!post_hooks.empty()) run_post_hooks(var);
  return {};
}

bool any_requires_grad_list(const TensorList& ts) {
  if (!GradMode::enabled()) return false;
  for (auto& t : ts)
    if (needs_grad(t)) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  auto& m = const_cast<Tensor&>(t).autograd_meta();
  if (m.grad_fn) return {m.grad_fn, m.output_nr};
  if (!m.grad_accumulator) {
    auto acc = std::make_shared<AccumulateGrad>();
    acc->leaf = t.impl_ptr();
    acc->input_meta = {{t.shape(), t.dtype(), t.device()}};
    acc->output_meta = {{t.shape(), t.dtype(), t.device()}};
    m.grad_accumulator = acc;
  }
  return {m.grad_accumulator, 0};
}

void set_history(const std::shared_ptr<Node>& node, const TensorList& inputs, const TensorList& outputs) {
  node->next_edges.reserve(inputs.size());
  node->input_meta.reserve(inputs.size());
  for (auto& in : inputs) {
    node->next_edges.push_back(gradient_edge(in));
    node->input_meta.push_back(in.defined() ? TensorMeta{in.shape(), in.dtype(), in.device()} : TensorMeta{{}, Dtype::Float32});
  }
  uint32_t nr = 0;
  for (auto& out : outputs) {
    node->output_meta.push_back({out.shape(), out.dtype(), out.device()});
    if (is_floating(out.dtype())) {
      auto& m = const_cast<Tensor&>(out).autograd_meta();
      m.requires_grad = true;
      m.grad_fn = node;
      m.output_nr = nr;
    }
    nr++;
  }
}

void record(const char* name, const TensorList& inputs, const TensorList& outputs, const TensorList& saved,
            BackwardFn fn) {
  auto node = std::make_shared<FunctionNode>();
  node->node_name = name;
  node->fn = std::move(fn);
  set_history(node, inputs, outputs);
  node->saved.reserve(saved.size());
  for (auto& s : saved) {
    bool is_out = false;
    for (auto& o : outputs) is_out |= s.defined() && o.same(s);
    node->saved.emplace_back(s, is_out);
  }
}

}  // namespace ember::autograd
