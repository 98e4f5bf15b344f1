// Fused recurrent cells: the pointwise math of one LSTM / GRU step (the gate GEMMs stay in
// addmm). One kernel forward, one kernel backward; under create_graph the backward is the same
// formula written with ops, so higher-order gradients work.
#include "autograd/node.h"
#include "backend/kernels_rnn.h"
#include "ops/ops.h"

namespace ember {

namespace {

Tensor sig(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
Tensor th(const Tensor& x) { return unary(UnaryOp::Tanh, x); }
Tensor block(const Tensor& t, int64_t k, int64_t H) { return narrow(t, 1, k * H, H); }

void check_cell(const char* op, const Tensor& gates, int64_t ngates, const char* gname, const Tensor& state,
                const char* sname) {
  if (!is_floating(gates.dtype()))
    EMBER_TYPE_ERROR(op, ": expected floating point ", gname, ", got ", dtype_name(gates.dtype()));
  if (gates.dim() != 2 || state.dim() != 2 || gates.shape()[1] != ngates * state.shape()[1] ||
      gates.shape()[0] != state.shape()[0])
    EMBER_VALUE_ERROR(op, ": expected ", gname, " [B, ", ngates, " * H] and ", sname, " [B, H], got shapes ",
                      gates.shape(), " and ", state.shape());
  if (state.dtype() != gates.dtype())
    EMBER_TYPE_ERROR(op, ": ", gname, " and ", sname, " must have the same dtype, got ", dtype_name(gates.dtype()),
                     " and ", dtype_name(state.dtype()));
}

Tensor plain(const Tensor& t) { return contiguous(detach(t)); }

}  // namespace

std::pair<Tensor, Tensor> lstm_cell_pointwise(const Tensor& gates, const Tensor& c_prev) {
  check_cell("lstm_cell", gates, 4, "gates", c_prev, "cx");
  const Tensor g = plain(gates), cp = plain(c_prev);  // (the backward saves the originals: double backward)
  const Shape hs = cp.shape();
  Tensor h = empty(hs, g.dtype(), g.device()), c = empty(hs, g.dtype(), g.device());
  Tensor act = empty(g.shape(), g.dtype(), g.device());
  kernel::lstm_cell(g.device())(h, c, act, g, cp);
  if (autograd::any_requires_grad(gates, c_prev)) {
    autograd::record(
        "LstmCellBackward0", {gates, c_prev}, {h, c}, {gates, c_prev, act, c},
        [](const TensorList& gr, const TensorList& s, const std::vector<bool>&) -> TensorList {
          const Tensor &g = s[0], &cp = s[1], &act = s[2], &c = s[3];
          const int64_t H = cp.shape()[1];
          if (autograd::GradMode::enabled()) {  // create_graph: the formula with ops
            Tensor i = sig(block(g, 0, H)), f = sig(block(g, 1, H)), gg = th(block(g, 2, H)), o = sig(block(g, 3, H));
            Tensor tc = th(f * cp + i * gg);
            Tensor dc = gr[1] + gr[0] * o * (1.0 - tc * tc);
            Tensor dg = cat({dc * gg * i * (1.0 - i), dc * cp * f * (1.0 - f), dc * i * (1.0 - gg * gg),
                             gr[0] * tc * o * (1.0 - o)},
                            1);
            return {dg, dc * f};
          }
          Tensor dg = empty(g.shape(), g.dtype(), g.device()), dcp = empty(cp.shape(), g.dtype(), g.device());
          kernel::lstm_cell_backward(g.device())(dg, dcp, plain(gr[0]), plain(gr[1]), act, plain(cp), c);
          return {dg, dcp};
        });
  }
  return {h, c};
}

Tensor gru_cell_pointwise(const Tensor& gi, const Tensor& gh, const Tensor& h_prev) {
  check_cell("gru_cell", gi, 3, "input gates", h_prev, "hx");
  check_cell("gru_cell", gh, 3, "hidden gates", h_prev, "hx");
  const Tensor x = plain(gi), y = plain(gh), hp = plain(h_prev);
  Tensor h = empty(hp.shape(), x.dtype(), x.device()), act = empty(x.shape(), x.dtype(), x.device());
  kernel::gru_cell(x.device())(h, act, x, y, hp);
  if (autograd::any_requires_grad(gi, gh, h_prev)) {
    autograd::record(
        "GruCellBackward0", {gi, gh, h_prev}, {h}, {gi, gh, h_prev, act},
        [](const TensorList& gr, const TensorList& s, const std::vector<bool>&) -> TensorList {
          const Tensor &x = s[0], &y = s[1], &hp = s[2], &act = s[3];
          const int64_t H = hp.shape()[1];
          const Tensor& G = gr[0];
          if (autograd::GradMode::enabled()) {  // create_graph: the formula with ops
            Tensor r = sig(block(x, 0, H) + block(y, 0, H)), z = sig(block(x, 1, H) + block(y, 1, H));
            Tensor yn = block(y, 2, H);
            Tensor n = th(block(x, 2, H) + r * yn);
            Tensor dn = G * (1.0 - z) * (1.0 - n * n);
            Tensor dz = G * (hp - n) * z * (1.0 - z);
            Tensor dr = dn * yn * r * (1.0 - r);
            return {cat({dr, dz, dn}, 1), cat({dr, dz, dn * r}, 1), G * z};
          }
          Tensor dx = empty(x.shape(), x.dtype(), x.device()), dy = empty(x.shape(), x.dtype(), x.device());
          Tensor dh = empty(hp.shape(), x.dtype(), x.device());
          kernel::gru_cell_backward(x.device())(dx, dy, dh, plain(G), act, plain(y), plain(hp));
          return {dx, dy, dh};
        });
  }
  return h;
}

}  // namespace ember
