// Fusion passes over a captured graph:
// - elementwise chains: consecutive float32 unary/binary kernel calls over the same number of
//   elements become one loop. A small interpreter runs the chain's instructions over blocks of
//   kBlock elements held in registers (arrays); only values used after the chain are stored.
// - GEMM epilogues: a bias-GEMM whose output only feeds relu/gelu takes the activation.
// Each formula is the eager kernel's (backend/cpu/elementwise_impl.h), so results match.
#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_set>

#include "backend/cpu/gemm.h"
#include "backend/cpu/isa.h"
#include "backend/cpu/threadpool.h"
#include "backend/kernels.h"
#include "backend/kernels_gemm.h"
#include "compile/graph.h"
#include "ops/ops.h"

// Block ops of the fused loop, compiled per ISA like the eager kernels (cmake/isa.cmake builds
// backend/cpu/fused_impl.h once per ISA), so the same formulas round the same way.
namespace ember::cpu {
EMBER_ISA_DECLARE(void fused_unary(ember::UnaryOp op, float* o, const float* x, int64_t n, float p0);
                  void fused_binary(ember::BinaryOp op, float* o, const float* a, const float* b, int64_t n);
                  void gelu_backward_colsum_f32(float* o, const float* g, const float* x, int64_t rows,
                                                int64_t cols, int64_t c0, int64_t c1, float* sum, bool tanh);
                  void gelu_backward_colsum_f64(double* o, const double* g, const double* x, int64_t rows,
                                                int64_t cols, int64_t c0, int64_t c1, double* sum, bool tanh);)
}  // namespace ember::cpu
namespace ember::compile {

namespace {

constexpr int64_t kBlock = 512;

// names from the op lists (backend/params.h)
const char* unary_name(int code) {
  return code >= 0 && code < int(std::size(op_tables::kUnaryNames)) ? op_tables::kUnaryNames[code] : "unary";
}
const char* binary_name(int code) {
  return code >= 0 && code < int(std::size(op_tables::kBinaryNames)) ? op_tables::kBinaryNames[code] : "binary";
}

bool fusable_unary(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Square: case UnaryOp::Relu: case UnaryOp::Exp:
    case UnaryOp::Tanh: case UnaryOp::Sigmoid: case UnaryOp::Erf: case UnaryOp::Silu: case UnaryOp::GeluErf:
    case UnaryOp::GeluTanh: case UnaryOp::Reciprocal: case UnaryOp::Sqrt: case UnaryOp::Rsqrt:
    case UnaryOp::Log: case UnaryOp::LeakyRelu: case UnaryOp::PowScalar:
      return true;
    default: return false;
  }
}
bool fusable_binary(BinaryOp op) {
  return op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul || op == BinaryOp::Div;
}

const auto apply_unary = [] { using namespace cpu; return EMBER_ISA_PICK(fused_unary); }();
const auto apply_binary = [] { using namespace cpu; return EMBER_ISA_PICK(fused_binary); }();

// One instruction of a fused chain; registers hold kBlock floats each.
struct Instr {
  enum Kind : uint8_t { Load, Broadcast, Unary, Binary, Store, StoreScalar } kind;
  // Broadcast: code 1 / 2 read a double / int64 (a Python number's 0-d constant)
  int code = 0;
  int out = -1, a = -1, b = -1;  // registers
  int tensor = -1;               // Load/Broadcast/Store: index into the program's tensors
  float p0 = 0;
};

struct Program {
  std::vector<Instr> code;
  std::vector<Tensor> tensors;  // graph-owned views (rebound on each call)
  int nregs = 0;
  int64_t numel = 0;

  void run_block(std::vector<float>& regs, const std::vector<float*>& ptr, int64_t i0, int64_t n) const {
    float* r = regs.data();
    for (const Instr& in : code) {
      switch (in.kind) {
        case Instr::Load: std::copy(ptr[in.tensor] + i0, ptr[in.tensor] + i0 + n, r + in.out * kBlock); break;
        case Instr::Broadcast: {
          const void* src = ptr[in.tensor];
          float v = in.code == 1   ? float(*static_cast<const double*>(src))
                    : in.code == 2 ? float(*static_cast<const int64_t*>(src))
                                   : *static_cast<const float*>(src);
          std::fill(r + in.out * kBlock, r + in.out * kBlock + n, v);
          break;
        }
        case Instr::Unary: apply_unary(UnaryOp(in.code), r + in.out * kBlock, r + in.a * kBlock, n, in.p0); break;
        case Instr::Binary:
          apply_binary(BinaryOp(in.code), r + in.out * kBlock, r + in.a * kBlock, r + in.b * kBlock, n);
          break;
        case Instr::Store: std::copy(r + in.a * kBlock, r + in.a * kBlock + n, ptr[in.tensor] + i0); break;
        case Instr::StoreScalar: *ptr[in.tensor] = r[in.a * kBlock]; break;
      }
    }
  }

  void run() const {
    std::vector<float*> ptr(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) ptr[i] = static_cast<float*>(tensors[i].raw_data());
    const int64_t blocks = (numel + kBlock - 1) / kBlock;
    auto body = [&](int64_t b0, int64_t b1) {
      thread_local std::vector<float> regs;
      if (regs.size() < size_t(nregs * kBlock)) regs.resize(size_t(nregs * kBlock));
      for (int64_t b = b0; b < b1; ++b) run_block(regs, ptr, b * kBlock, std::min(kBlock, numel - b * kBlock));
    };
    if (numel < (1 << 15)) body(0, blocks);
    else cpu::parallel_for(0, blocks, 16, body);
  }
};

bool is_full(const Tensor& t, const Buffer& b) {
  return t.is_contiguous() && t.offset() == 0 && size_t(t.numel()) * 4 == b.nbytes;
}
bool same_layout(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.strides() == b.strides() && a.offset() == b.offset();
}
bool is_broadcast_scalar(const Tensor& t) {
  for (int64_t s : t.strides())
    if (s != 0) return false;
  return true;
}

}  // namespace

// ---- elementwise chains

void Graph::label_nodes() {
  for (Node& n : nodes) {  // what each node computes (graph_view, profile)
    if (n.op == "unary") n.label = unary_name(n.code);
    else if (n.op == "binary") n.label = binary_name(n.code);
  }
}

void Graph::fuse_elementwise() {
  // which nodes a member may be: float32, output a whole contiguous buffer, inputs of the
  // output's shape (contiguous) or broadcast scalars
  // a 0-d cast of a Python number (binary ops with a scalar operand) rides along
  auto scalar_copy = [&](const Node& n) -> bool {
    return n.op == "copy" && n.tensors.size() == 2 && n.tensors[0].numel() == 1 && n.tensors[1].numel() == 1 &&
           n.tensors[0].dtype() == Dtype::Float32 &&
           (n.tensors[1].dtype() == Dtype::Float32 || n.tensors[1].dtype() == Dtype::Float64 ||
            n.tensors[1].dtype() == Dtype::Int64) &&
           n.tensors[0].dim() == 0;
  };
  auto member = [&](const Node& n) -> bool {
    if (!n.run) return false;  // absorbed by a GEMM fusion
    bool un = n.op == "unary" && fusable_unary(UnaryOp(n.code));
    bool bin = n.op == "binary" && fusable_binary(BinaryOp(n.code));
    if (!(un || bin) || n.tensors.size() != (un ? 2u : 3u)) return false;
    const Tensor& out = n.tensors[0];
    if (out.dtype() != Dtype::Float32 || !is_full(out, buffers[n.bufs[0]])) return false;
    if (buffers[n.bufs[0]].kind == BufKind::Constant) return false;
    for (size_t i = 1; i < n.tensors.size(); ++i) {
      const Tensor& t = n.tensors[i];
      if (t.dtype() != Dtype::Float32) return false;
      if (!is_broadcast_scalar(t) && !(t.shape() == out.shape() && t.is_contiguous())) return false;
    }
    return true;
  };
  std::vector<int> use_count(buffers.size(), 0);  // nodes reading or writing each buffer
  for (const Node& n : nodes)
    for (int b : n.bufs)
      if (b >= 0) ++use_count[b];

  size_t k = 0;
  int group_id = 0;
  while (k < nodes.size()) {
    // the chain: members over the same element count, scalar casts among them
    size_t e = k;
    int64_t numel = -1;
    int big = 0;
    while (e < nodes.size()) {
      if (scalar_copy(nodes[e])) {
        ++e;
        continue;
      }
      if (!member(nodes[e])) break;
      if (numel < 0) numel = nodes[e].tensors[0].numel();
      if (nodes[e].tensors[0].numel() != numel) break;
      ++big;
      ++e;
    }
    while (e > k && scalar_copy(nodes[e - 1])) --e;  // trailing casts feed the next chain
    if (big < 2) {
      k = std::max(e, k + 1);
      continue;
    }
    // build the program of nodes [k, e)
    Program p;
    p.numel = numel;
    std::unordered_map<int, int> reg_of;  // buffer -> register with its latest value (in the chain)
    std::unordered_map<int, int> writer;  // buffer -> node that last wrote it (for the store)
    std::unordered_set<int> scalar_of;    // buffers holding a scalar cast by the chain
    std::vector<int> in_chain(buffers.size(), 0);
    for (size_t j = k; j < e; ++j)
      for (int b : nodes[j].bufs) ++in_chain[b];
    int nreg = 0;
    auto operand = [&](const Tensor& t, int b) -> int {
      auto r = reg_of.find(b);
      if (r != reg_of.end() && scalar_of.count(b)) return r->second;  // a scalar cast in the chain
      if (is_broadcast_scalar(t)) {
        p.tensors.push_back(t);
        p.code.push_back({Instr::Broadcast, 0, nreg, -1, -1, int(p.tensors.size()) - 1});
        return nreg++;
      }
      auto it = reg_of.find(b);
      if (it != reg_of.end() && is_full(t, buffers[b])) return it->second;
      p.tensors.push_back(t);
      p.code.push_back({Instr::Load, 0, nreg, -1, -1, int(p.tensors.size()) - 1});
      return nreg++;
    };
    bool ok = true;
    for (size_t j = k; j < e && ok; ++j) {
      Node& n = nodes[j];
      if (scalar_copy(n)) {
        p.tensors.push_back(n.tensors[1]);
        const Dtype sd = n.tensors[1].dtype();
        Instr in{Instr::Broadcast, sd == Dtype::Float64 ? 1 : sd == Dtype::Int64 ? 2 : 0, nreg, -1, -1,
                 int(p.tensors.size()) - 1};
        p.code.push_back(in);
        reg_of[n.bufs[0]] = nreg++;
        scalar_of.insert(n.bufs[0]);
        writer[n.bufs[0]] = int(j);
        continue;
      }
      // a partial view of something the chain writes would read stale memory
      for (size_t i = 1; i < n.tensors.size(); ++i)
        if (reg_of.count(n.bufs[i]) && !scalar_of.count(n.bufs[i]) && !is_full(n.tensors[i], buffers[n.bufs[i]]))
          ok = false;
      if (!ok) break;
      Instr in{};
      in.kind = n.op == "unary" ? Instr::Unary : Instr::Binary;
      in.code = n.code;
      in.a = operand(n.tensors[1], n.bufs[1]);
      if (in.kind == Instr::Binary) in.b = operand(n.tensors[2], n.bufs[2]);
      else in.p0 = n.scalars.empty() ? 0.0f : float(n.scalars[0]);
      in.out = nreg++;
      p.code.push_back(in);
      reg_of[n.bufs[0]] = in.out;
      writer[n.bufs[0]] = int(j);
    }
    if (!ok) {
      k = k + 1;
      continue;
    }
    // stores: values someone outside the chain reads, or memory that outlives the call
    std::vector<int> kept_in_registers;
    for (auto& [b, reg] : reg_of) {
      const Buffer& buf = buffers[b];
      bool outside = use_count[b] > in_chain[b] || buf.kind != BufKind::Arena;
      if (outside) {
        p.tensors.push_back(nodes[writer[b]].tensors[0]);
        p.code.push_back({scalar_of.count(b) ? Instr::StoreScalar : Instr::Store, 0, -1, reg, -1,
                          int(p.tensors.size()) - 1});
      } else {
        kept_in_registers.push_back(b);
      }
    }
    // registers: reuse each one after its last reader (a 1000-op chain needs a handful)
    std::vector<int> last(nreg, -1);
    for (size_t i = 0; i < p.code.size(); ++i) {
      const Instr& in = p.code[i];
      if (in.a >= 0) last[in.a] = int(i);
      if (in.b >= 0) last[in.b] = int(i);
    }
    std::vector<int> phys(nreg, -1), free_regs;
    int used = 0;
    for (size_t i = 0; i < p.code.size(); ++i) {
      Instr& in = p.code[i];
      if (in.a >= 0) in.a = phys[in.a];
      if (in.b >= 0) in.b = phys[in.b];
      if (in.out >= 0) {
        int v = in.out;
        int reg;
        if (!free_regs.empty()) {
          reg = free_regs.back();
          free_regs.pop_back();
        } else reg = used++;
        phys[v] = reg;
        in.out = reg;
        if (last[v] < 0) free_regs.push_back(reg);  // never read (a store-only value: kept below)
      }
      // free the registers of virtual values whose last use was here
      for (int v = 0; v < nreg; ++v)
        if (last[v] == int(i) && phys[v] >= 0) free_regs.push_back(phys[v]);
    }
    p.nregs = std::max(used, 1);
    // install: the last member runs the program, the others are absorbed
    for (size_t j = k; j < e; ++j) {
      nodes[j].group = group_id;
      nodes[j].run = nullptr;
    }
    Node& last_node = nodes[e - 1];
    auto prog = std::make_shared<Program>(std::move(p));
    last_node.run = [prog] { prog->run(); };
    for (int b : kept_in_registers) buffers[b].fused_away = true;
    stats.fused_groups += 1;
    stats.fused_nodes += int64_t(e - k);
    ++group_id;
    k = e;
  }
  next_group_ = group_id;
}

// ---- GEMM epilogues: gemm(+bias) -> relu/gelu. When the GEMM's output feeds nothing else it
// lives only in registers; when the backward reads it too (the pre-activation GELU's backward
// needs), the GEMM's epilogue stores it next to the activation, so neither takes its own pass.

void gemm_act_pre(const Tensor& out, const Tensor& pre, const Tensor& a, const Tensor& b, const Tensor& bias,
                  double alpha, double beta, GemmAct act) {
  const auto geom = [](const Tensor& t) {
    return detail::cat(dtype_name(t.dtype()), t.shape(), " strides ", t.strides());
  };
  EMBER_CHECK(out.dim() == 3 && a.dim() == 3 && b.dim() == 3 && out.shape()[0] == a.shape()[0] &&
                  out.shape()[0] == b.shape()[0] && out.shape()[1] == a.shape()[1] &&
                  out.shape()[2] == b.shape()[2] && a.shape()[2] == b.shape()[1],
              "gemm_act_pre: expected out [B, M, N], a [B, M, K], b [B, K, N], got out ", geom(out), ", a ",
              geom(a), ", b ", geom(b));
  for (const Tensor* t : {&out, &pre, &a, &b})
    EMBER_CHECK_KIND(t->dtype() == Dtype::Float32 && t->device() == Device::CPU, Type,
                     "gemm_act_pre: float32 CPU tensors only, got ", geom(*t));
  EMBER_CHECK(pre.shape() == out.shape() && pre.strides() == out.strides() && out.strides()[2] == 1,
              "gemm_act_pre: pre must have out's shape and strides (unit column stride), got out ", geom(out),
              ", pre ", geom(pre));
  EMBER_CHECK(!bias.defined() || (bias.dtype() == Dtype::Float32 && bias.dim() == 1 &&
                                  bias.numel() == out.shape()[2] && bias.is_contiguous()),
              "gemm_act_pre: bias must be a contiguous float32 [", out.shape()[2], "], got ", geom(bias));
  EMBER_CHECK(act == GemmAct::None || out.numel() == 0 || pre.raw_data() != out.raw_data(),
              "gemm_act_pre: pre and out must not be the same memory");
  kernel::GemmEpilogue ep;
  ep.alpha = alpha;
  ep.beta = beta;
  ep.bias = bias;
  ep.act = GemmActivation(act);
  ep.pre = pre;
  kernel::gemm.host()(out, a, b, ep);
}

void Graph::fuse_gemm_epilogues() {
  std::vector<int> use_count(buffers.size(), 0);
  for (const Node& n : nodes)
    for (int b : n.bufs)
      if (b >= 0) ++use_count[b];
  for (size_t k = 0; k + 1 < nodes.size(); ++k) {
    Node& g = nodes[k];
    Node& a = nodes[k + 1];
    if (g.op != "gemm" || a.op != "unary" || !g.run || !a.run) continue;
    GemmActivation act = a.code == int(UnaryOp::Relu)       ? GemmActivation::Relu
                         : a.code == int(UnaryOp::GeluErf)  ? GemmActivation::Gelu
                         : a.code == int(UnaryOp::GeluTanh) ? GemmActivation::GeluTanh
                                                            : GemmActivation::None;
    if (act == GemmActivation::None || g.tensors.size() != 4 || a.tensors.size() != 2) continue;
    const int gout = g.bufs[0], ain = a.bufs[1], aout = a.bufs[0];
    const Tensor& go = g.tensors[0];
    if (gout != ain || aout == gout || buffers[gout].kind != BufKind::Arena) continue;
    // only the activation reads the product: it never reaches memory; else it is kept (pre_act)
    const bool keep_pre = use_count[gout] > 2;
    if (!is_full(go, buffers[gout]) || !is_full(a.tensors[1], buffers[gout]) || !is_full(a.tensors[0], buffers[aout]))
      continue;
    if (go.dtype() != Dtype::Float32 || g.tensors[3].defined() == false) continue;  // bias epilogues only
    // record.h noted the epilogue's alpha, beta and activation
    if (g.scalars.size() < 2 || g.scalars[1] != 0 || g.code != int(GemmActivation::None)) continue;
    const Tensor bias = g.tensors[3];
    if (keep_pre && (go.device() != Device::CPU || bias.dtype() != Dtype::Float32 || !bias.is_contiguous() ||
                     bias.dim() != 1 || bias.numel() != go.shape().back() || go.dim() != 3))
      continue;
    // the GEMM writes the activation straight into the unary's output
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = a.tensors[0].storage();
    impl->shape = go.shape();
    impl->strides = go.strides();
    impl->dtype = go.dtype();
    impl->refresh();
    buffers[aout].views.push_back(impl);
    Tensor out(impl);
    Tensor ga = g.tensors[1], gb = g.tensors[2];
    const double alpha = g.scalars[0];
    kernel::GemmEpilogue ep;
    ep.alpha = alpha;
    ep.beta = 0;
    ep.bias = bias;
    ep.act = act;
    if (keep_pre) {
      ep.pre = go;
      // outputs first: the activation and the kept pre-activation
      g.tensors = {out, go, ga, gb, bias};
      g.bufs = {aout, gout, g.bufs[1], g.bufs[2], g.bufs[3]};
      g.n_out = 2;
    } else {
      g.tensors[0] = out;
      g.bufs[0] = aout;
      buffers[gout].fused_away = true;
    }
    auto fn = kernel::gemm.host();
    g.run = [fn, out, ga, gb, ep] { fn(out, ga, gb, ep); };
    g.label = std::string("gemm+bias+") + unary_name(a.code) + (keep_pre ? "+pre" : "");
    a.run = nullptr;
    a.group = g.group = next_group_;
    a.label = unary_name(a.code);
    ++next_group_;
    ++stats.fused_groups;
    stats.fused_nodes += 2;
  }
}

// ---- gradient accumulation: gemm -> T, then G += T (a .grad accumulating, bias-free GEMM)
// becomes one GEMM with beta = 1 writing into G, when nothing between touches G and T feeds
// nothing else. Within one K block the GEMM adds the finished product to G, as the add did, so
// only products over several K blocks (K > 256) would round differently: those are left alone.

void Graph::fuse_gemm_accumulate() {
  std::vector<int> use_count(buffers.size(), 0);
  for (const Node& n : nodes)
    for (int b : n.bufs)
      if (b >= 0) ++use_count[b];
  for (size_t k = 0; k < nodes.size(); ++k) {
    Node& g = nodes[k];
    if (g.op != "gemm" || !g.run || g.tensors.size() != 4 || g.tensors[3].defined()) continue;
    if (g.scalars.size() < 2 || g.scalars[1] != 0 || g.code != int(GemmActivation::None)) continue;
    const int t = g.bufs[0];
    const Tensor& go = g.tensors[0];
    if (buffers[t].kind != BufKind::Arena || use_count[t] != 2 || !is_full(go, buffers[t])) continue;
    if (go.dtype() != Dtype::Float32 || go.dim() != 3 || go.shape()[0] != 1) continue;
    if (g.tensors[1].shape().back() > 256) continue;  // K: one K block of the GEMM
    // the add reading T, and that nothing before it touches its accumulator
    size_t j = k + 1;
    while (j < nodes.size() && std::find(nodes[j].bufs.begin(), nodes[j].bufs.end(), t) == nodes[j].bufs.end()) ++j;
    if (j == nodes.size()) continue;
    Node& a = nodes[j];
    if (a.op != "binary" || a.code != int(BinaryOp::Add) || !a.run || a.tensors.size() != 3) continue;
    const int acc = a.bufs[0];
    const int other = a.bufs[1] == t ? 2 : 1;
    if (a.bufs[3 - other] != t || a.bufs[other] != acc || acc == t) continue;
    const Tensor& ao = a.tensors[0];
    if (!same_layout(ao, a.tensors[other]) || !same_layout(a.tensors[3 - other], ao) || !ao.is_contiguous() ||
        ao.numel() != go.numel() || ao.dtype() != go.dtype())
      continue;
    bool touched = false;
    for (size_t m = k + 1; m < j && !touched; ++m)
      touched = std::find(nodes[m].bufs.begin(), nodes[m].bufs.end(), acc) != nodes[m].bufs.end();
    if (touched) continue;
    // the GEMM's output view, on the accumulator's memory
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = ao.storage();
    impl->shape = go.shape();
    impl->strides = go.strides();
    impl->offset = ao.offset();
    impl->dtype = go.dtype();
    impl->refresh();
    buffers[acc].views.push_back(impl);
    Tensor out(impl);
    Tensor ga = g.tensors[1], gb = g.tensors[2];
    kernel::GemmEpilogue ep;
    ep.alpha = g.scalars[0];
    ep.beta = 1;
    auto fn = kernel::gemm.host();
    g.run = [fn, out, ga, gb, ep] { fn(out, ga, gb, ep); };
    g.tensors[0] = out;
    g.bufs[0] = acc;
    g.label = "gemm+accumulate";
    a.run = nullptr;
    a.label = "add";
    a.group = g.group = next_group_++;
    buffers[t].fused_away = true;
    ++stats.fused_groups;
    stats.fused_nodes += 2;
  }
}

// ---- GELU backward + bias gradient: gelu_backward -> G, later sum(G over rows) -> the bias
// gradient of the linear layer before the GELU. One pass writes G and accumulates the column
// sums (in the reduce kernel's column-path order, so the sums round alike).

namespace {
// x views G [rows, cols] as [cols, reduced...] with the reduced dims walking rows in order
bool walks_rows(const Tensor& x, const Tensor& g, int64_t cols) {
  if (x.dim() < 2 || x.shape()[0] != cols || x.strides()[0] != 1 || x.offset() != g.offset()) return false;
  int64_t expect = cols, rows = 1;
  for (int d = int(x.dim()) - 1; d >= 1; --d) {
    if (x.strides()[d] != expect && x.shape()[d] != 1) return false;
    expect *= x.shape()[d];
    rows *= x.shape()[d];
  }
  return rows * cols == g.numel();
}
}  // namespace

void Graph::fuse_gelu_bias_grad() {
  std::vector<int> use_count(buffers.size(), 0);
  for (const Node& n : nodes)
    for (int b : n.bufs)
      if (b >= 0) ++use_count[b];
  for (size_t k = 0; k < nodes.size(); ++k) {
    Node& gb = nodes[k];
    if (gb.op != "gelu_backward" || !gb.run || gb.tensors.size() != 3 || gb.scalars.size() != 1) continue;
    const Tensor& G = gb.tensors[0];
    const Dtype dt = G.dtype();
    if ((dt != Dtype::Float32 && dt != Dtype::Float64) || G.dim() < 1 || !G.is_contiguous()) continue;
    const int64_t cols = G.shape().back();
    if (cols < 16 || G.numel() == 0) continue;  // smaller outputs take the reduce's row path
    // the sum over rows of G: the first later node reading G that is a plain column Sum
    size_t j = k + 1;
    for (; j < nodes.size(); ++j) {
      const Node& r = nodes[j];
      if (r.op == "reduce" && r.run && r.code == int(ReduceOp::Sum) && r.tensors.size() == 3 &&
          r.bufs[2] == gb.bufs[0] && !r.tensors[1].defined() && r.tensors[0].dim() == 1 &&
          r.tensors[0].numel() == cols && r.tensors[0].is_contiguous() && r.tensors[0].dtype() == dt &&
          walks_rows(r.tensors[2], G, cols))
        break;
    }
    if (j == nodes.size()) continue;
    Node& r = nodes[j];
    const int sum_buf = r.bufs[0];
    if (sum_buf == gb.bufs[0] || buffers[sum_buf].kind != BufKind::Arena) continue;
    bool touched = false;  // the sum's memory is written earlier now: nothing between may use it
    for (size_t m = k + 1; m < j && !touched; ++m)
      touched = std::find(nodes[m].bufs.begin(), nodes[m].bufs.end(), sum_buf) != nodes[m].bufs.end();
    if (touched) continue;
    const Tensor out = G, grad = gb.tensors[1], x = gb.tensors[2], sum = r.tensors[0];
    const bool tanh = gb.scalars[0] != 0;
    const int64_t rows = G.numel() / cols;
    static const auto f32 = [] { using namespace cpu; return EMBER_ISA_PICK(gelu_backward_colsum_f32); }();
    static const auto f64 = [] { using namespace cpu; return EMBER_ISA_PICK(gelu_backward_colsum_f64); }();
    gb.run = [=] {
      // column blocks of 64 (a cache line of floats or two) split over the threads
      const int64_t blocks = (cols + 63) / 64;
      auto body = [&](int64_t b0, int64_t b1) {
        const int64_t c0 = b0 * 64, c1 = std::min(cols, b1 * 64);
        if (dt == Dtype::Float32)
          f32(static_cast<float*>(out.raw_data()), static_cast<const float*>(grad.raw_data()),
              static_cast<const float*>(x.raw_data()), rows, cols, c0, c1, static_cast<float*>(sum.raw_data()), tanh);
        else
          f64(static_cast<double*>(out.raw_data()), static_cast<const double*>(grad.raw_data()),
              static_cast<const double*>(x.raw_data()), rows, cols, c0, c1, static_cast<double*>(sum.raw_data()),
              tanh);
      };
      if (rows * cols < (1 << 15)) body(0, blocks);
      else cpu::parallel_for(0, blocks, 1, body);
    };
    gb.tensors.insert(gb.tensors.begin() + 1, sum);  // a second output: its lifetime starts here now
    gb.bufs.insert(gb.bufs.begin() + 1, sum_buf);
    gb.n_out = 2;
    gb.label = "gelu_backward+sum";
    r.run = nullptr;
    r.label = "sum";
    gb.group = r.group = next_group_++;
    ++stats.fused_groups;
    stats.fused_nodes += 2;
  }
}

// ---- copies into fresh memory: a temporary T copied whole into a Fresh buffer F (a new .grad,
// an output) as T's last use, before anything else touches F. T then lives in F's memory (bound
// with it on every call) and the copy goes: whatever wrote T wrote F.

void Graph::coalesce_copies() {
  std::vector<int> first(buffers.size(), -1), last(buffers.size(), -1);
  for (size_t k = 0; k < nodes.size(); ++k)
    for (int b : nodes[k].bufs)
      if (b >= 0) {
        if (first[b] < 0) first[b] = int(k);
        last[b] = int(k);
      }
  for (size_t j = 0; j < nodes.size(); ++j) {
    Node& c = nodes[j];
    if (c.op != "copy" || !c.run || c.tensors.size() != 2 || c.bufs.size() != 2) continue;
    const int f = c.bufs[0], t = c.bufs[1];
    if (f < 0 || t < 0 || f == t) continue;
    Buffer &F = buffers[f], &T = buffers[t];
    const Tensor &dst = c.tensors[0], &src = c.tensors[1];
    if (F.kind != BufKind::Fresh || T.kind != BufKind::Arena || T.fused_away || T.alias_of >= 0) continue;
    if (!F.aliases.empty() || F.nbytes != T.nbytes || dst.dtype() != src.dtype() || dst.numel() != src.numel())
      continue;
    const size_t es = size_t(itemsize(dst.dtype()));
    auto whole = [&](const Tensor& x, const Buffer& b) {
      return x.is_contiguous() && x.offset() == 0 && size_t(x.numel()) * es == b.nbytes;
    };
    if (!whole(dst, F) || !whole(src, T) || first[f] != int(j) || last[t] != int(j) || first[t] >= int(j)) continue;
    T.alias_of = f;
    T.fused_away = true;  // no arena slot: F's memory
    F.aliases.push_back(t);
    c.run = nullptr;
    c.label = "copy (coalesced)";
    ++stats.fused_nodes;
  }
}

// ---- sums of zero-padded pieces: fill(Z_i, 0), copy(Z_i[slice_i], x_i), then Z_1 + Z_2 + ...
// (the backward of unbind, or of pieces taken by slicing; split's is one cat) with disjoint slices covering the whole result R:
// each x_i is copied straight into R[slice_i]; the fills and adds go (0 + x == x).

namespace {
// A graph-owned view of buffer `buf` with t's geometry.
Tensor view_on(std::vector<Buffer>& buffers, int buf, const Shape& shape, const Shape& strides, int64_t offset,
               Dtype dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = buffers[buf].storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  impl->refresh();
  buffers[buf].views.push_back(impl);
  return Tensor(impl);
}

std::vector<std::vector<int>> touching(const std::vector<Node>& nodes, size_t nbuf) {
  std::vector<std::vector<int>> t(nbuf);
  for (size_t k = 0; k < nodes.size(); ++k)
    for (int b : nodes[k].bufs)
      if (b >= 0 && (t[b].empty() || t[b].back() != int(k))) t[b].push_back(int(k));
  return t;
}

bool whole_contiguous(const Tensor& x, const Buffer& b) {
  return x.is_contiguous() && x.offset() == 0 && size_t(x.numel() * itemsize(x.dtype())) == b.nbytes;
}
}  // namespace

void Graph::fuse_zero_padded_sums() {
  const auto touch = touching(nodes, buffers.size());
  std::unordered_map<int, std::vector<int>> pieces;  // buffer -> copy nodes whose sum it holds
  std::unordered_map<int, int> sum_add;              // sum buffer -> the add that wrote it
  for (size_t b = 0; b < buffers.size(); ++b) {       // Z: fill 0, one copy into it, one add reads it
    const auto& t = touch[b];
    if (buffers[b].kind != BufKind::Arena || t.size() != 3) continue;
    const Node &f = nodes[t[0]], &c = nodes[t[1]], &a = nodes[t[2]];
    if (f.op != "fill" || !f.run || f.scalars.size() != 1 || f.scalars[0] != 0 || f.bufs[0] != int(b) ||
        !whole_contiguous(f.tensors[0], buffers[b]))
      continue;
    if (c.op != "copy" || !c.run || c.bufs.size() != 2 || c.bufs[0] != int(b) || c.bufs[1] == int(b)) continue;
    if (a.op != "binary" || a.code != int(BinaryOp::Add) || !a.run || a.bufs[0] == int(b)) continue;
    if (c.tensors[0].dtype() != f.tensors[0].dtype()) continue;
    pieces[int(b)] = {t[1]};
  }
  if (pieces.empty()) return;
  std::unordered_set<int> consumed;  // sum-like buffers read by a later fused add
  std::vector<int> adds;
  for (size_t k = 0; k < nodes.size(); ++k) {
    Node& a = nodes[k];
    if (a.op != "binary" || a.code != int(BinaryOp::Add) || !a.run || a.tensors.size() != 3) continue;
    const int o = a.bufs[0], x = a.bufs[1], y = a.bufs[2];
    if (x == y || !pieces.count(x) || !pieces.count(y) || pieces.count(o)) continue;
    if (buffers[o].kind != BufKind::Arena || touch[o].front() != int(k)) continue;
    const Tensor &out = a.tensors[0], &tx = a.tensors[1], &ty = a.tensors[2];
    if (!whole_contiguous(out, buffers[o]) || !whole_contiguous(tx, buffers[x]) || !whole_contiguous(ty, buffers[y]) ||
        tx.shape() != out.shape() || ty.shape() != out.shape() || out.dtype() != tx.dtype() ||
        out.dtype() != ty.dtype())
      continue;
    // an intermediate sum must feed only this add
    bool ok = true;
    for (int in : {x, y})
      if (sum_add.count(in) && touch[in].size() != 2) ok = false;
    if (!ok) continue;
    std::vector<int> p = pieces[x];
    p.insert(p.end(), pieces[y].begin(), pieces[y].end());
    pieces[o] = p;
    sum_add[o] = int(k);
    consumed.insert(x);
    consumed.insert(y);
    adds.push_back(int(k));
  }
  for (auto& [r, add_k] : sum_add) {
    if (consumed.count(r)) continue;  // not a root
    const std::vector<int>& p = pieces[r];
    const Tensor& R = nodes[add_k].tensors[0];
    // the slices: disjoint and covering R (elements marked once each)
    std::vector<char> seen(size_t(R.numel()), 0);
    int64_t covered = 0;
    bool ok = true;
    for (int ci : p) {
      const Tensor& d = nodes[ci].tensors[0];
      if (d.dtype() != R.dtype()) ok = false;
      const int64_t n = d.numel();
      for (int64_t e = 0; e < n && ok; ++e) {  // offset of element e of the view
        int64_t off = d.offset(), rem = e;
        for (int64_t dd = d.dim() - 1; dd >= 0; --dd) {
          off += (rem % d.shape()[dd]) * d.strides()[dd];
          rem /= d.shape()[dd];
        }
        if (off < 0 || off >= R.numel() || seen[size_t(off)]) ok = false;
        else seen[size_t(off)] = 1;
      }
      covered += n;
    }
    if (!ok || covered != R.numel()) continue;
    // rewrite: each piece's copy writes R; the fills, adds and padded buffers go
    auto copy_fn = kernel::copy.host();
    for (int ci : p) {
      Node& c = nodes[ci];
      const int z = c.bufs[0];
      const Tensor& d = c.tensors[0];
      Tensor dst = view_on(buffers, r, d.shape(), d.strides(), d.offset(), d.dtype());
      Tensor src = c.tensors[1];
      c.run = [copy_fn, dst, src] { copy_fn(dst, src); };
      c.tensors[0] = dst;
      c.bufs[0] = r;
      c.label = "copy (into sum)";
      Node& f = nodes[touch[z][0]];
      f.run = nullptr;
      f.label = "fill (dropped)";
      buffers[z].fused_away = true;
    }
    // the adds of this sum: every add whose output's pieces are a subset of r's
    std::unordered_set<int> mine(p.begin(), p.end());
    for (int k : adds) {
      Node& a = nodes[k];
      if (!a.run || !mine.count(pieces[a.bufs[0]].front())) continue;
      a.run = nullptr;
      a.label = "add (dropped)";
      if (a.bufs[0] != r) buffers[a.bufs[0]].fused_away = true;
    }
    ++stats.fused_groups;
    stats.fused_nodes += int64_t(3 * p.size() - 1);
  }
}

// ---- copy chains: copy(T, x) then copy(D, T) where T is a whole temporary read only there
// (a transpose made contiguous, then placed in a slice): x goes straight into D, viewed with T's
// shape, when D's strides allow that view.

namespace {
// Strides that view (shape, strides) as new_shape with the same element order, if any: walk
// the old dims from the innermost, cutting them into runs that are contiguous among themselves;
// the new dims must tile each run exactly.
std::optional<Shape> view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape) {
  Shape out(new_shape.size(), 1);
  int64_t nd = int64_t(new_shape.size()) - 1;
  if (shape.empty()) {
    for (int64_t s : new_shape)
      if (s != 1) return std::nullopt;
    return out;
  }
  int64_t run_stride = strides.back(), run_numel = 1, new_numel = 1;
  for (int64_t od = int64_t(shape.size()) - 1; od >= 0; --od) {
    run_numel *= shape[od];
    const bool run_ends = od == 0 || (shape[od - 1] != 1 && strides[od - 1] != run_numel * run_stride);
    if (!run_ends) continue;
    while (nd >= 0 && (new_numel < run_numel || new_shape[nd] == 1)) {
      out[nd] = new_numel * run_stride;
      new_numel *= new_shape[nd];
      --nd;
    }
    if (new_numel != run_numel) return std::nullopt;
    if (od > 0) {
      run_stride = strides[od - 1];
      run_numel = new_numel = 1;
    }
  }
  if (nd != -1) return std::nullopt;
  return out;
}
}  // namespace

void Graph::forward_copies() {
  const auto touch = touching(nodes, buffers.size());
  for (size_t b = 0; b < buffers.size(); ++b) {
    const auto& t = touch[b];
    if (buffers[b].kind != BufKind::Arena || buffers[b].fused_away || t.size() != 2) continue;
    Node &first = nodes[t[0]], &second = nodes[t[1]];
    if (first.op != "copy" || second.op != "copy" || !first.run || !second.run) continue;
    if (first.bufs[0] != int(b) || second.bufs[1] != int(b) || second.bufs[0] == int(b) || first.bufs[1] == int(b) ||
        first.bufs[1] == second.bufs[0])
      continue;
    const Tensor &tw = first.tensors[0], &tr = second.tensors[1], &d = second.tensors[0];
    if (!whole_contiguous(tw, buffers[b]) || !whole_contiguous(tr, buffers[b]) || tw.dtype() != d.dtype() ||
        tr.dtype() != d.dtype() || tr.shape() != d.shape() || first.tensors[1].dtype() != tw.dtype() ||
        d.numel() == 0)
      continue;
    const int target = second.bufs[0];
    // nothing between the two copies may touch D's buffer (it is written earlier now)
    bool touched = false;
    for (int k = t[0] + 1; k < t[1] && !touched; ++k)
      if (nodes[k].run || nodes[k].group >= 0)  // dropped nodes run nothing
        for (int bb : nodes[k].bufs) touched |= bb == target;
    if (touched) continue;
    auto st = view_strides(d.shape(), d.strides(), tw.shape());
    if (!st) continue;
    Tensor dst = view_on(buffers, target, tw.shape(), *st, d.offset(), d.dtype());
    Tensor src = first.tensors[1];
    auto copy_fn = kernel::copy.host();
    first.run = [copy_fn, dst, src] { copy_fn(dst, src); };
    first.tensors[0] = dst;
    first.bufs[0] = target;
    first.label = "copy (forwarded)";
    second.run = nullptr;
    second.label = "copy (dropped)";
    buffers[b].fused_away = true;
    ++stats.fused_nodes;
  }
}

// ---- ReLU's backward: m = x > s (bool), f = float(m), out = g * f (or f * g) become one pass,
// out = g * (x > s ? 1 : 0): the same products (NaN and inf in g propagate as in eager).

void Graph::fuse_mask_mul() {
  const auto touch = touching(nodes, buffers.size());
  for (size_t k = 0; k + 2 < nodes.size(); ++k) {
    Node &gt = nodes[k], &cast = nodes[k + 1], &mul = nodes[k + 2];
    if (gt.op != "binary" || gt.code != int(BinaryOp::Gt) || !gt.run || gt.tensors.size() != 3) continue;
    if (cast.op != "copy" || !cast.run || cast.bufs.size() != 2 || cast.bufs[1] != gt.bufs[0]) continue;
    if (mul.op != "binary" || mul.code != int(BinaryOp::Mul) || !mul.run || mul.tensors.size() != 3) continue;
    const int m = gt.bufs[0], f = cast.bufs[0];
    const int fi = mul.bufs[1] == f ? 1 : mul.bufs[2] == f ? 2 : -1;
    if (fi < 0 || mul.bufs[3 - fi] == f) continue;
    if (buffers[m].kind != BufKind::Arena || buffers[f].kind != BufKind::Arena || touch[m].size() != 2 ||
        touch[f].size() != 2)
      continue;
    const Tensor &x = gt.tensors[1], &s = gt.tensors[2], &g = mul.tensors[3 - fi], &out = mul.tensors[0];
    const int64_t n = out.numel();
    auto plain = [&](const Tensor& t) { return t.dtype() == Dtype::Float32 && t.is_contiguous() && t.numel() == n; };
    if (!plain(x) || !plain(g) || !plain(out) || !plain(cast.tensors[0]) || !plain(mul.tensors[fi]) ||
        s.dtype() != Dtype::Float32 || !is_broadcast_scalar(s) || x.shape() != out.shape() ||
        g.shape() != out.shape() || cast.tensors[1].numel() != n || !cast.tensors[1].is_contiguous() ||
        gt.tensors[0].numel() != n)
      continue;
    mul.run = [out, x, s, g, n] {
      float* o = static_cast<float*>(out.raw_data());
      const float* xp = static_cast<const float*>(x.raw_data());
      const float* gp = static_cast<const float*>(g.raw_data());
      const float thr = *static_cast<const float*>(s.raw_data());
      auto body = [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) o[i] = gp[i] * (xp[i] > thr ? 1.0f : 0.0f);
      };
      if (n < (1 << 16)) body(0, n);
      else cpu::parallel_for(0, n, 1 << 14, body);
    };
    // x and the threshold are read when the last node runs now
    mul.tensors.push_back(x);
    mul.bufs.push_back(gt.bufs[1]);
    mul.tensors.push_back(s);
    mul.bufs.push_back(gt.bufs[2]);
    mul.label = "relu_backward (gt*mul)";
    gt.run = cast.run = nullptr;
    gt.group = cast.group = mul.group = next_group_++;
    buffers[m].fused_away = buffers[f].fused_away = true;
    ++stats.fused_groups;
    stats.fused_nodes += 3;
  }
}

}  // namespace ember::compile
