#pragma once
// The tape: each differentiable op attaches a Node to its outputs. A Node knows the edges to
// the Nodes that produced its inputs, and turns output grads into input grads (apply).
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/tensor.h"

namespace ember::autograd {

struct Node;

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return bool(fn); }
};

struct TensorMeta {
  Shape shape;
  Dtype dtype;
  Device device = Device::CPU;  // gradients are created and accumulated here
};

// Hooks see a gradient and may return a replacement (an undefined Tensor keeps it).
using Hook = std::function<Tensor(const Tensor&)>;
struct HookEntry {
  uint64_t id;
  uint32_t output_nr;
  Hook fn;
};

struct Node : std::enable_shared_from_this<Node> {
  std::vector<Edge> next_edges;       // one per forward input
  std::vector<TensorMeta> input_meta;  // grads are summed/cast back to these
  std::vector<TensorMeta> output_meta; // missing output grads become zeros of these
  std::vector<HookEntry> pre_hooks;    // tensor hooks, keyed by output number
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained;  // retain_grad()
  uint64_t seq;

  Node();
  virtual ~Node() = default;
  virtual std::string name() const = 0;
  // grads: one per output (never undefined). Returns one per input (undefined = no grad).
  virtual TensorList apply(TensorList&& grads) = 0;
  virtual void release_saved() {}
  virtual bool is_accumulate_grad() const { return false; }
  uint64_t add_hook(uint32_t output_nr, Hook fn);
  virtual bool remove_hook(uint64_t id);
};

// A tensor saved for backward. Inputs are kept as-is; outputs of the node that saves them are
// kept without their grad_fn (no reference cycle) and re-linked on unpack.
struct SavedTensor {
  Tensor data;
  std::weak_ptr<Node> weak_fn;
  uint32_t output_nr = 0;
  uint32_t version = 0;
  bool is_output = false;
  bool requires_grad = false;

  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  Tensor unpack(const Node& owner) const;
};

using BackwardFn = std::function<TensorList(const TensorList& grads, const TensorList& saved,
                                            const std::vector<bool>& needs)>;

// The node every op uses: a name, saved tensors and a backward lambda written with ember ops.
struct FunctionNode : Node {
  std::string node_name;
  std::vector<SavedTensor> saved;
  BackwardFn fn;
  bool released = false;
  std::string name() const override { return node_name; }
  TensorList apply(TensorList&& grads) override;
  void release_saved() override;
};

// Post-accumulate hooks see the leaf itself once its .grad holds this backward's sum.
using PostAccumulateHook = std::function<void(const Tensor&)>;

// Where a leaf's gradient lands.
struct AccumulateGrad : Node {
  std::weak_ptr<TensorImpl> leaf;
  std::vector<std::pair<uint64_t, PostAccumulateHook>> post_hooks;
  std::string name() const override { return "AccumulateGrad"; }
  TensorList apply(TensorList&& grads) override;
  bool is_accumulate_grad() const override { return true; }
  uint64_t add_post_hook(PostAccumulateHook fn);
  bool remove_hook(uint64_t id) override;
  void run_post_hooks(const Tensor& leaf_tensor);
};

// Whether an op with these inputs must record a graph.
inline bool needs_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }
template <class... Ts>
bool any_requires_grad(const Ts&... ts) {
  return GradMode::enabled() && (needs_grad(ts) || ...);
}
bool any_requires_grad_list(const TensorList& ts);

Edge gradient_edge(const Tensor& t);
// Attach `node` as grad_fn of outputs (floating ones), wiring edges to inputs.
void set_history(const std::shared_ptr<Node>& node, const TensorList& inputs, const TensorList& outputs);

// record("MulBackward0", {a, b}, {out}, {a, b}, fn): the one-liner ops use.
void record(const char* name, const TensorList& inputs, const TensorList& outputs,
            const TensorList& saved, BackwardFn fn);

// The engine (engine.cpp).
void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph, bool create_graph,
              const TensorList& inputs = {});
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool retain_graph, bool create_graph, bool allow_unused);
// Run `fn` once the backward pass now running on this thread has finished (DDP waits for its
// gradient all-reduces there). Raises when no backward is running.
void queue_callback(std::function<void()> fn);

}  // namespace ember::autograd
