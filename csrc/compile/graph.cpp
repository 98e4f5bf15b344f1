// Replaying a captured graph, and the buffer plan: temporaries get slots of one arena, reused
// by temporaries whose lifetimes (first to last node touching them) do not overlap.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "autograd/grad_mode.h"
#include "compile/graph.h"
#include "core/error.h"
#include "core/storage.h"

namespace ember::compile {

namespace {

// (devices are compared separately: an unbound graph view has no storage)
bool same_geometry(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.strides() == b.strides() && a.offset() == b.offset() &&
         a.dtype() == b.dtype();
}

std::string geometry(const Tensor& t) {
  return detail::cat("shape ", t.shape(), " strides ", t.strides(), " offset ", t.offset(), " ",
                     dtype_name(t.dtype()));
}

Tensor fresh_view(const Tensor& v) {
  return make_view(v, v.shape(), v.strides(), v.offset());  // a new handle on the same memory
}

}  // namespace

void Graph::bind(int buf, const std::shared_ptr<Storage>& s) {
  Buffer& b = buffers[buf];
  b.storage = s;
  for (auto& v : b.views) v->storage = s;
  for (int a : b.aliases) bind(a, s);
}

void Graph::finalize(bool fuse) {
  label_nodes();
  if (fuse) {
    fuse_gemm_epilogues();
    fuse_gemm_accumulate();
    fuse_gelu_bias_grad();
    fuse_zero_padded_sums();
    forward_copies();
    fuse_mask_mul();
    fuse_elementwise();
    coalesce_copies();
  }
  // Lifetimes: an absorbed member of a fused chain touches its buffers when the chain runs (at
  // its last member), so every buffer of the chain is live there and none shares a slot.
  std::vector<int> at(nodes.size());
  for (int k = int(nodes.size()) - 1; k >= 0; --k)
    at[k] = (!nodes[k].run && k + 1 < int(nodes.size()) && nodes[k].group >= 0 &&
             nodes[k + 1].group == nodes[k].group)
                ? at[k + 1]
                : k;
  for (Buffer& b : buffers) b.first = b.last = -1;
  for (size_t k = 0; k < nodes.size(); ++k)
    for (int id : nodes[k].bufs) {
      if (id < 0) continue;
      Buffer& b = buffers[id];
      if (b.first < 0 || at[k] < b.first) b.first = at[k];
      b.last = std::max(b.last, at[k]);
    }
  plan_buffers();
  stats.nodes = int64_t(nodes.size());
}

void Graph::plan_buffers() {
  // Greedy in program order: a temporary takes the smallest free slot that fits (or grows the
  // largest free one), and gives it back after its last node.
  struct Slot {
    size_t bytes = 0;
    int free_at = -1;  // the node after which the slot is free again
  };
  std::vector<Slot> slots;
  std::vector<int> order;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].kind == BufKind::Arena && buffers[i].first >= 0 && !buffers[i].fused_away) order.push_back(int(i));
  std::sort(order.begin(), order.end(), [&](int a, int b) { return buffers[a].first < buffers[b].first; });
  for (int id : order) {
    Buffer& b = buffers[id];
    int best = -1;
    for (size_t s = 0; s < slots.size(); ++s) {
      if (slots[s].free_at >= b.first) continue;
      if (best < 0) { best = int(s); continue; }
      bool fits = slots[s].bytes >= b.nbytes, best_fits = slots[best].bytes >= b.nbytes;
      if (fits != best_fits ? fits : (fits ? slots[s].bytes < slots[best].bytes : slots[s].bytes > slots[best].bytes))
        best = int(s);
    }
    if (best < 0) {
      slots.push_back({});
      best = int(slots.size()) - 1;
    }
    slots[best].bytes = std::max(slots[best].bytes, b.nbytes);
    slots[best].free_at = b.last;
    b.slot = best;
    stats.unplanned_bytes += int64_t(b.nbytes);
    ++stats.temporaries;
  }
  std::vector<std::shared_ptr<Storage>> memory;
  for (const Slot& s : slots) {
    memory.push_back(Storage::allocate(s.bytes));
    stats.arena_bytes += int64_t(s.bytes);
  }
  stats.arena_slots = int64_t(slots.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    Buffer& b = buffers[i];
    if (b.kind == BufKind::Arena) {
      if (b.slot >= 0) bind(int(i), memory[b.slot]);
      else b.storage.reset();  // touched by no remaining node (fused away)
    } else if (b.kind == BufKind::Fresh) {
      stats.fresh_bytes += int64_t(b.nbytes);
      bind(int(i), nullptr);
    } else if (b.kind == BufKind::Input || b.kind == BufKind::GradIn) {
      bind(int(i), nullptr);  // do not keep the trace's arguments alive
    }
  }
  int64_t kernels = 0;
  for (const Node& n : nodes) kernels += n.run ? 1 : 0;
  stats.kernels = kernels;
}

bool Graph::replay(const TensorList& args, TensorList& outs, std::string& why, std::vector<double>* times) {
  std::lock_guard<std::mutex> lock(mu_);
  if (args.size() != inputs.size()) {
    why = detail::cat("got ", args.size(), " tensor arguments, traced with ", inputs.size());
    return false;
  }
  // guards: every argument as traced, aliasing as traced, leaves' grads as traced
  for (size_t i = 0; i < args.size(); ++i) {
    if (!same_geometry(args[i], inputs[i]) || args[i].device() != input_device[i]) {
      why = detail::cat("tensor argument ", i, ": ", geometry(inputs[i]), " -> ", geometry(args[i]));
      return false;
    }
  }
  for (const GradEffect& e : grads) {
    if (e.leaf->storage != e.leaf_storage) {
      why = "a parameter's data was replaced";
      return false;
    }
    const Tensor g = e.leaf->autograd ? e.leaf->autograd->grad : Tensor();
    if (g.defined() != e.before.defined() || (g.defined() && !same_geometry(g, e.before))) {
      why = "a parameter's .grad changed (None, shape or layout)";
      return false;
    }
  }
  for (const Buffer& b : buffers)
    if (b.kind == BufKind::Persistent && b.storage.use_count() <= long(1 + b.views.size())) {
      why = "a tensor the graph reads (parameter or state) was replaced";
      return false;
    }
  // bind the arguments; two that shared a storage when traced must share one now, and only then
  for (size_t i = 0; i < args.size(); ++i) {
    const Storage* s = args[i].storage().get();
    for (size_t j = 0; j < i; ++j)
      if ((input_buf[j] == input_buf[i]) != (args[j].storage().get() == s)) {
        why = detail::cat("tensor arguments ", j, " and ", i, " alias differently than when traced");
        return false;
      }
  }
  for (size_t i = 0; i < args.size(); ++i) bind(input_buf[i], args[i].storage());
  for (const GradEffect& e : grads)
    if (e.before_buf >= 0) bind(e.before_buf, e.leaf->autograd->grad.storage());
  for (size_t b = 0; b < buffers.size(); ++b)
    if (buffers[b].kind == BufKind::Fresh) bind(int(b), Storage::allocate(buffers[b].nbytes));
    else if (buffers[b].kind == BufKind::Constant && !buffers[b].initial.empty())
      std::memcpy(buffers[b].storage->data, buffers[b].initial.data(), buffers[b].initial.size());
  {
    autograd::GradModeGuard no_grad(false);
    DepthScope depth;
    if (!times) {
      for (Node& n : nodes)
        if (n.run) n.run();
    } else {
      for (Node& n : nodes) {
        if (!n.run) {
          times->push_back(0);
          continue;
        }
        auto t0 = std::chrono::steady_clock::now();
        n.run();
        times->push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    }
  }
  for (GradEffect& e : grads) {
    Tensor leaf(e.leaf);
    leaf.set_grad(e.after.defined() ? fresh_view(e.after) : Tensor());
  }
  outs.clear();
  for (const Tensor& o : outputs) outs.push_back(fresh_view(o));
  // let go of the caller's memory until the next call
  for (size_t b = 0; b < buffers.size(); ++b)
    if (buffers[b].kind == BufKind::Input || buffers[b].kind == BufKind::GradIn || buffers[b].kind == BufKind::Fresh)
      bind(int(b), nullptr);
  return true;
}


}  // namespace ember::compile
