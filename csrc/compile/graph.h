#pragma once
// The captured graph of ember.compile: nodes (kernel calls or whole ops, in program order),
// buffers (one per storage they touch, with a kind that says where its memory comes from on
// replay), the function's inputs and outputs, and the .grad side effects on leaves.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/params.h"
#include "compile/record.h"

namespace ember::compile {

enum class BufKind : uint8_t {
  Input,       // storage of argument `index`, rebound on every call
  GradIn,      // a leaf's .grad before the call (leaf `index`), rebound on every call
  Persistent,  // existed before the trace (parameters, optimizer state): used in place
  Constant,    // filled on the host during the trace (scalars, arange): kept
  Arena,       // a temporary: a slot of the planned arena, reused by buffers that do not overlap
  Fresh,       // escapes (an output, a new .grad): new memory on every call
};
const char* kind_name(BufKind k);

struct Buffer {
  std::shared_ptr<Storage> storage;  // the memory replay uses (rebound for Input/GradIn/Fresh)
  size_t nbytes = 0;
  BufKind kind = BufKind::Persistent;
  int index = -1;                       // Input: argument number; GradIn: leaf number
  bool created = false, host_init = false, output = false, grad_after = false;
  bool fused_away = false;  // lives only in a fused chain's registers: no memory
  int alias_of = -1;        // a temporary whose copy into this Fresh buffer was dropped: shares its memory
  std::vector<int> aliases;  // the temporaries living in this buffer's memory (bound with it)
  std::vector<char> initial;  // Constant: its bytes when the trace first used it (restored per call)
  int first = -1, last = -1;            // first and last node touching it
  int slot = -1;                        // Arena: the arena slot
  std::vector<std::shared_ptr<TensorImpl>> views;  // every graph-owned view of it
};

struct Node {
  std::string op;      // kernel slot ("gemm", "unary", ...), whole op ("adam_step") or "fused"
  int code = -1;       // op enum (UnaryOp, BinaryOp, ...) where the kernel takes one
  std::vector<double> scalars;
  std::vector<Tensor> tensors;  // graph-owned views, kernel argument order (outputs first)
  std::vector<int> bufs;        // buffer of each tensor (-1: undefined tensor)
  std::function<void()> run;
  int group = -1;      // fusion group (elementwise chain or GEMM epilogue), -1: none
  int n_out = 1;       // leading tensors the node writes
  std::string label;   // what the node computes ("relu", "add", "gemm+bias+gelu")
  // run == nullptr: absorbed into a fused group (the group's last node runs the whole group)
};

struct GradEffect {
  std::shared_ptr<TensorImpl> leaf;
  std::shared_ptr<Storage> leaf_storage;  // the leaf's own data: replaced means retrace
  Tensor before, after;                   // graph-owned views of .grad (undefined: None)
  int before_buf = -1;                    // the GradIn buffer rebound to the leaf's .grad
};

struct GraphStats {
  int64_t nodes = 0, kernels = 0, fused_groups = 0, fused_nodes = 0;
  int64_t arena_bytes = 0;     // planned temporaries (the peak of what replay keeps)
  int64_t unplanned_bytes = 0; // the same temporaries without reuse (what eager allocates)
  int64_t fresh_bytes = 0;     // outputs and new grads, allocated per call
  int64_t arena_slots = 0, temporaries = 0;
};

class Graph {
 public:
  std::vector<Node> nodes;
  std::vector<Buffer> buffers;
  std::vector<Tensor> inputs, outputs;  // graph-owned views (geometry of each)
  std::vector<int> input_buf;           // buffer of each input
  std::vector<Device> input_device;
  std::vector<GradEffect> grads;
  GraphStats stats;
  std::vector<std::string> escapes;  // temporaries something outside keeps (replay can't honor)

  // Checks the guards the graph owns (tensor geometry, aliasing, leaves' grads, that state it
  // reads is still alive), runs it and returns the outputs. A failed guard returns false with
  // `why` naming it; nothing has run then.
  // `times`: when given, the seconds each node took.
  bool replay(const TensorList& args, TensorList& outs, std::string& why, std::vector<double>* times = nullptr);

  // Fusion and the buffer plan; called once by the tracer.
  void finalize(bool fuse);

 private:
  std::mutex mu_;
  void bind(int buf, const std::shared_ptr<Storage>& s);
  int next_group_ = 0;
  void label_nodes();
  void fuse_elementwise();
  void fuse_gemm_epilogues();
  void fuse_gemm_accumulate();
  void fuse_gelu_bias_grad();
  void coalesce_copies();
  void fuse_zero_padded_sums();
  void forward_copies();
  void fuse_mask_mul();
  void plan_buffers();
};

// out = act(alpha * a @ b + beta * out + bias) with pre = the same before the activation, in one
// float32 CPU GEMM (the fused forward of a bias + activation whose input the backward reads).
// out [B, M, N] (unit column stride), pre with out's shape and strides, a [B, M, K], b [B, K, N];
// bias: undefined or contiguous [N].
void gemm_act_pre(const Tensor& out, const Tensor& pre, const Tensor& a, const Tensor& b, const Tensor& bias,
                  double alpha, double beta, GemmAct act);

// The recording state of one trace (thread-local while active).
struct Tracer {
  std::unique_ptr<Graph> graph = std::make_unique<Graph>();
  std::unordered_map<const Storage*, int> buf_of;
  std::unordered_set<const Storage*> created, host_written;
  std::unordered_map<const TensorImpl*, int> leaf_of;
  std::string broken;  // why the trace stopped (graph break), empty while fine
  bool fullgraph = false;
  std::function<std::string()> where;  // the user's source line (set by the bindings)
  std::string break_site;

  int buffer_for(const std::shared_ptr<Storage>& s);
  Tensor own_view(const Tensor& t, int buf);
  void start(const TensorList& args);
  void stop();
  // Ends the trace: classifies buffers, then fuses and plans. Outputs are the function's.
  std::unique_ptr<Graph> finish(const TensorList& outs, bool fuse);
  void on_break(const std::string& reason);
};

}  // namespace ember::compile
