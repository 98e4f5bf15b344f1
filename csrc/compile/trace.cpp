// Tracing: the hooks the core calls, and how a trace turns storages into buffers. A trace runs
// the function eagerly (results are the eager ones) while every kernel call is also recorded.
#include "autograd/grad_mode.h"
#include "compile/graph.h"
#include "core/error.h"
#include "core/storage.h"

namespace ember::compile {

thread_local Tracer* t_tracer = nullptr;
thread_local int t_depth = 0;

const char* kind_name(BufKind k) {
  static const char* names[] = {"input", "grad", "persistent", "constant", "arena", "fresh"};
  return names[int(k)];
}

// ---- hooks (compile/hooks.h)

void note_allocate(const Storage* s) {
  if (!t_tracer || !t_tracer->broken.empty()) return;
  t_tracer->created.insert(s);
  t_tracer->host_written.erase(s);  // a new storage at an address seen before
}

void note_host_access(const Storage* s) {
  Tracer* t = t_tracer;
  if (!t || t_depth > 0 || !t->broken.empty()) return;
  auto it = t->buf_of.find(s);
  if (it == t->buf_of.end()) {
    // a storage born in the trace and filled on the host before any kernel saw it: a constant
    if (t->created.count(s)) t->host_written.insert(s);
    else t->on_break("reads tensor data on the host (.item(), .tolist(), .numpy(), bool(), print)");
    return;
  }
  Buffer& b = t->graph->buffers[it->second];
  if (b.host_init && b.first < 0) return;
  t->on_break("reads tensor data on the host (.item(), .tolist(), .numpy(), bool(), print)");
}

void note_set_grad(const Tensor& leaf) {
  Tracer* t = t_tracer;
  if (!t || t_depth > 0 || !t->broken.empty()) return;
  if (t->leaf_of.count(leaf.impl())) return;
  GradEffect e;
  e.leaf = leaf.impl_ptr();
  e.leaf_storage = leaf.storage();
  Tensor g = leaf.grad();
  if (g.defined()) {
    int b = t->buffer_for(g.storage());
    Buffer& buf = t->graph->buffers[b];
    if (buf.kind == BufKind::Persistent && !buf.created) {
      buf.kind = BufKind::GradIn;
      buf.index = int(t->graph->grads.size());
    }
    e.before = t->own_view(g, b);
    if (buf.kind == BufKind::GradIn) e.before_buf = b;
  }
  t->leaf_of[leaf.impl()] = int(t->graph->grads.size());
  t->graph->grads.push_back(std::move(e));
}

void graph_break(const char* reason) {
  if (t_tracer && t_depth == 0 && t_tracer->broken.empty()) t_tracer->on_break(reason);
}

// ---- node recording (compile/record.h)

Node& add_node(const char* op) {
  Graph& g = *t_tracer->graph;
  g.nodes.emplace_back();
  g.nodes.back().op = op;
  return g.nodes.back();
}

Tensor capture(Node& n, const Tensor& t) {
  Tracer& tr = *t_tracer;
  if (!t.defined()) {
    n.tensors.emplace_back();
    n.bufs.push_back(-1);
    return Tensor();
  }
  int b = tr.buffer_for(t.storage());
  Buffer& buf = tr.graph->buffers[b];
  const int k = int(tr.graph->nodes.size()) - 1;
  if (buf.first < 0) buf.first = k;
  buf.last = k;
  Tensor v = tr.own_view(t, b);
  n.tensors.push_back(v);
  n.bufs.push_back(b);
  return v;
}

void set_run(Node& n, std::function<void()> run) { n.run = std::move(run); }
void note_code(Node& n, int code) { n.code = code; }
void note_scalar(Node& n, double v) { n.scalars.push_back(v); }

void record_op(const char* op, const std::vector<TensorList>& lists,
               const std::function<void(const std::vector<TensorList>&)>& run) {
  if (recording()) {
    Node& n = add_node(op);
    std::vector<TensorList> captured;
    for (const TensorList& l : lists) captured.push_back(capture_arg(n, l));
    n.n_out = int(n.tensors.size());  // conservatively: it may write any of them
    n.run = [run, captured] { run(captured); };
  }
  DepthScope depth;
  run(lists);
}

// ---- the tracer

int Tracer::buffer_for(const std::shared_ptr<Storage>& s) {
  auto it = buf_of.find(s.get());
  if (it != buf_of.end()) return it->second;
  Buffer b;
  b.storage = s;
  b.nbytes = s->nbytes;
  b.created = created.count(s.get()) > 0;
  b.host_init = b.created && host_written.count(s.get()) > 0;
  if (b.host_init && s->data) {  // a kernel may update it in place later: keep what the host wrote
    const char* p = static_cast<const char*>(s->data);
    b.initial.assign(p, p + s->nbytes);
  }
  graph->buffers.push_back(std::move(b));
  int id = int(graph->buffers.size()) - 1;
  buf_of[s.get()] = id;
  return id;
}

Tensor Tracer::own_view(const Tensor& t, int buf) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = t.shape();
  impl->strides = t.strides();
  impl->offset = t.offset();
  impl->dtype = t.dtype();
  impl->wrapped_number = t.impl()->wrapped_number;
  impl->refresh();
  graph->buffers[buf].views.push_back(impl);
  return Tensor(impl);
}

void Tracer::start(const TensorList& args) {
  EMBER_CHECK(!t_tracer, "ember.compile: a trace is already running on this thread");
  for (size_t i = 0; i < args.size(); ++i) {
    int b = buffer_for(args[i].storage());
    Buffer& buf = graph->buffers[b];
    if (buf.kind != BufKind::Input) {
      buf.kind = BufKind::Input;
      buf.index = int(i);
    }
    graph->inputs.push_back(own_view(args[i], b));
    graph->input_buf.push_back(b);
    graph->input_device.push_back(args[i].device());
  }
  t_tracer = this;
  t_depth = 0;
  g_tracing = true;
}

void Tracer::stop() {
  if (t_tracer == this) t_tracer = nullptr;
  g_tracing = false;
}

void Tracer::on_break(const std::string& reason) {
  broken = reason;
  if (where) break_site = where();
  if (fullgraph) {
    stop();
    EMBER_RUNTIME_ERROR("ember.compile(fullgraph=True): graph break", break_site.empty() ? "" : " at ",
                        break_site, ": the function ", reason);
  }
}

std::unique_ptr<Graph> Tracer::finish(const TensorList& outs, bool fuse) {
  stop();
  Graph& g = *graph;
  for (const Tensor& o : outs) {
    int b = buffer_for(o.storage());
    g.buffers[b].output = true;
    g.outputs.push_back(own_view(o, b));
  }
  for (GradEffect& e : g.grads) {
    Tensor after = Tensor(e.leaf).grad();
    if (!after.defined()) continue;
    int b = buffer_for(after.storage());
    g.buffers[b].grad_after = true;
    e.after = own_view(after, b);
  }
  for (size_t i = 0; i < g.buffers.size(); ++i) {
    Buffer& b = g.buffers[i];
    if (b.kind == BufKind::Input || b.kind == BufKind::GradIn) continue;
    if (!b.created) {
      b.kind = BufKind::Persistent;
      continue;
    }
    if (b.host_init) {
      b.kind = BufKind::Constant;
      continue;
    }
    // who else holds it: ours are the buffer's pointer and one per view
    const long others = b.storage.use_count() - 1 - long(b.views.size());
    if (b.output || b.grad_after) b.kind = BufKind::Fresh;
    else if (others > 0) {
      b.kind = BufKind::Persistent;
      g.escapes.push_back("a " + std::to_string(b.nbytes) + "-byte tensor made in the function is kept outside it");
    } else b.kind = BufKind::Arena;
  }
  g.finalize(fuse);
  return std::move(graph);
}

}  // namespace ember::compile
