#pragma once
// Recording one kernel call into the active trace (called from backend/registry.h's KernelCall):
// the node keeps a copy of every argument, each tensor replaced by a view the graph owns, so a
// replay can point those views at new storages and call the kernel again with no Python.
#include <functional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "compile/hooks.h"
#include "core/tensor.h"

namespace ember::compile {

struct Node;
Node& add_node(const char* op);           // appends a node to this thread's trace
Tensor capture(Node& n, const Tensor& t);  // a graph-owned view of t, registered as n's argument
void set_run(Node& n, std::function<void()> run);
void note_code(Node& n, int code);      // the op enum of unary/binary/reduce kernels
void note_scalar(Node& n, double v);    // numeric arguments (unary p0..p2)

template <class T>
T capture_arg(Node& n, const T& v) {
  if constexpr (std::is_same_v<T, Tensor>) {
    return capture(n, v);
  } else if constexpr (std::is_same_v<T, TensorList>) {
    TensorList out;
    out.reserve(v.size());
    for (const Tensor& t : v) out.push_back(capture(n, t));
    return out;
  } else if constexpr (requires { v.bias; }) {  // GemmEpilogue: its bias is an argument too
    T c = v;
    c.bias = capture(n, v.bias);
    if constexpr (requires { v.pre; })
      if (v.pre.defined()) c.pre = capture(n, v.pre);  // set only by the fused graph itself
    if constexpr (requires { v.alpha, v.beta, v.act; }) {  // read by the epilogue fusion
      note_scalar(n, double(v.alpha));
      note_scalar(n, double(v.beta));
      note_code(n, int(v.act));
    }
    return c;
  } else {
    if constexpr (std::is_enum_v<T>) note_code(n, int(v));
    if constexpr (std::is_same_v<T, double> || std::is_same_v<T, bool>) note_scalar(n, double(v));
    if constexpr (std::is_same_v<T, Scalar>) note_scalar(n, v.to_double());  // fill's value
    return v;
  }
}

// Non-void kernels hand a value back to the host (a norm, a data-dependent size): graph break.
template <class R, class... P, class... A>
void record_kernel(const char* op, R (*fn)(P...), const A&... args) {
  if constexpr (!std::is_void_v<R>) {
    graph_break(op);
  } else {
    Node& n = add_node(op);
    std::tuple<A...> tup{capture_arg(n, args)...};  // braces: left to right (outputs first)
    set_run(n, [fn, tup = std::move(tup)] { std::apply([fn](const A&... a) { fn(a...); }, tup); });
  }
}

// Kernels running inside a traced call are part of that call, not nodes of their own.
struct DepthScope {
  bool on = g_tracing;
  DepthScope() {
    if (on) ++t_depth;
  }
  ~DepthScope() {
    if (on) --t_depth;
  }
  DepthScope(const DepthScope&) = delete;
  DepthScope& operator=(const DepthScope&) = delete;
};

// An op whose host-side work a kernel-level trace would freeze (optimizer step counters, target
// checks) is recorded whole: replay calls `run` again on the rebound tensors of `lists`. Runs it
// now in either case.
void record_op(const char* op, const std::vector<TensorList>& lists,
               const std::function<void(const std::vector<TensorList>&)>& run);

}  // namespace ember::compile
