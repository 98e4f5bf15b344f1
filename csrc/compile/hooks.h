#pragma once
// The few hooks ember.compile's tracer needs from the core and the op layer. Each is one test of
// a global flag when no trace is running; the tracer itself is in compile/trace.{h,cpp}.
#include <cstdint>

namespace ember {
struct Storage;
class Tensor;
}  // namespace ember

namespace ember::compile {

struct Tracer;
inline bool g_tracing = false;        // some thread is tracing (the cheap first test)
extern thread_local Tracer* t_tracer;  // the trace recording on this thread, or null
extern thread_local int t_depth;       // > 0: inside a recorded kernel or op (not recorded again)

inline bool recording() { return g_tracing && t_tracer && t_depth == 0; }

// Op-layer or Python code touches tensor data on the host (outside a kernel): a host write into
// a fresh tensor makes a constant; a host read of computed data is a graph break.
void note_host_access(const Storage* s);
void note_allocate(const Storage* s);    // a storage born during the trace
void note_set_grad(const Tensor& leaf);  // leaf.grad is about to be replaced
void graph_break(const char* reason);    // something the graph cannot replay (random draws, ...)

}  // namespace ember::compile
