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

void check_cell(const char* op, const Tensor& gates, int64_t ngates, const char* gname,
                const Tensor& state, const char* sname) {
  if (!is_floating(gates.dtype()))
    EMBER_TYPE_ERROR(op, ": expected floating point ", gname, ", got ", dtype_name(gates.dtype()));
  if (gates.dim() != 2 || state.dim() != 2 || gates.shape()[1] != ngates * state.shape()[1] ||
      gates.shape()[0] != state.shape()[0])
    EMBER_VALUE_ERROR(op, ": expected ", gname, " [B, ", ngates, " * H] and ", sname,
                      " [B, H], got shapes ", gates.shape(), " and ", state.shape());
  if (state.dtype() != gates.dtype())
    EMBER_TYPE_ERROR(op, ": ", gname, " and ", sname, " must have the same dtype, got ",
                     dtype_name(gates.dtype()), " and ", dtype_name(state.dtype()));
}

Tensor plain(const Tensor& t) { return contiguous(detach(t)); }

}  // namespace

std::pair<Tensor, Tensor> lstm_cell_pointwise(const Tensor& gates, const Tensor& c_prev) {
  check_cell("lstm_cell", gates, 4, "gates", c_prev, "cx");
  const Tensor g = plain(gates),
               cp = plain(c_prev);  // (the backward saves the originals: double backward)
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
            Tensor i = sig(block(g, 0, H)), f = sig(block(g, 1, H)), gg = th(block(g, 2, H)),
                   o = sig(block(g, 3, H));
            Tensor tc = th(f * cp + i * gg);
            Tensor dc = gr[1] + gr[0] * o * (1.0 - tc * tc);
            Tensor dg = cat({dc * gg * i * (1.0 - i), dc * cp * f * (1.0 - f),
                             dc * i * (1.0 - gg * gg), gr[0] * tc * o * (1.0 - o)},
                            1);
            return {dg, dc * f};
          }
          Tensor dg = empty(g.shape(), g.dtype(), g.device()),
                 dcp = empty(cp.shape(), g.dtype(), g.device());
          kernel::lstm_cell_backward(g.device())(dg, dcp, plain(gr[0]), plain(gr[1]), act,
                                                 plain(cp), c);
          return {dg, dcp};
        });
  }
  return {h, c};
}

Tensor gru_cell_pointwise(const Tensor& gi, const Tensor& gh, const Tensor& h_prev) {
  check_cell("gru_cell", gi, 3, "input gates", h_prev, "hx");
  check_cell("gru_cell", gh, 3, "hidden gates", h_prev, "hx");
  const Tensor x = plain(gi), y = plain(gh), hp = plain(h_prev);
  Tensor h = empty(hp.shape(), x.dtype(), x.device()),
         act = empty(x.shape(), x.dtype(), x.device());
  kernel::gru_cell(x.device())(h, act, x, y, hp);
  if (autograd::any_requires_grad(gi, gh, h_prev)) {
    autograd::record(
        "GruCellBackward0", {gi, gh, h_prev}, {h}, {gi, gh, h_prev, act},
        [](const TensorList& gr, const TensorList& s, const std::vector<bool>&) -> TensorList {
          const Tensor &x = s[0], &y = s[1], &hp = s[2], &act = s[3];
          const int64_t H = hp.shape()[1];
          const Tensor& G = gr[0];
          if (autograd::GradMode::enabled()) {  // create_graph: the formula with ops
            Tensor r = sig(block(x, 0, H) + block(y, 0, H)),
                   z = sig(block(x, 1, H) + block(y, 1, H));
            Tensor yn = block(y, 2, H);
            Tensor n = th(block(x, 2, H) + r * yn);
            Tensor dn = G * (1.0 - z) * (1.0 - n * n);
            Tensor dz = G * (hp - n) * z * (1.0 - z);
            Tensor dr = dn * yn * r * (1.0 - r);
            return {cat({dr, dz, dn}, 1), cat({dr, dz, dn * r}, 1), G * z};
          }
          Tensor dx = empty(x.shape(), x.dtype(), x.device()),
                 dy = empty(x.shape(), x.dtype(), x.device());
          Tensor dh = empty(hp.shape(), x.dtype(), x.device());
          kernel::gru_cell_backward(x.device())(dx, dy, dh, plain(G), act, plain(y), plain(hp));
          return {dx, dy, dh};
        });
  }
  return h;
}

namespace {

// The LSTM sequence backward written with ops (create_graph): out and cs are the node's saved
// outputs, so a second backward flows through the node again; the gates are recomputed.
TensorList lstm_sequence_backward_ops(const TensorList& gr, const TensorList& s, bool reverse) {
  const Tensor &xw = s[0], &h0 = s[1], &c0 = s[2], &w = s[3], &out = s[4], &cs = s[5];
  const int64_t T = xw.shape()[0], H = h0.shape()[1];
  Tensor dh = gr[2], dc = gr[3], dw;
  TensorList dgs(T);
  for (int64_t st = T - 1; st >= 0; --st) {
    const int64_t t = reverse ? T - 1 - st : st, tp = reverse ? t + 1 : t - 1;
    Tensor hp = st == 0 ? h0 : select(out, 0, tp), cp = st == 0 ? c0 : select(cs, 0, tp);
    Tensor g = select(xw, 0, t) + matmul(hp, transpose(w, 0, 1));
    Tensor i = sig(block(g, 0, H)), f = sig(block(g, 1, H)), gg = th(block(g, 2, H)),
           o = sig(block(g, 3, H));
    Tensor tc = th(select(cs, 0, t));
    dh = dh + select(gr[0], 0, t);
    Tensor dct = dc + select(gr[1], 0, t) + dh * o * (1.0 - tc * tc);
    Tensor dg = cat({dct * gg * i * (1.0 - i), dct * cp * f * (1.0 - f), dct * i * (1.0 - gg * gg),
                     dh * tc * o * (1.0 - o)},
                    1);
    dgs[t] = dg;
    dc = dct * f;
    dh = matmul(dg, w);
    Tensor dwt = matmul(transpose(dg, 0, 1), hp);
    dw = dw.defined() ? dw + dwt : dwt;
  }
  return {stack(dgs, 0), dh, dc, dw};
}

}  // namespace

std::vector<Tensor> lstm_sequence(const Tensor& xw, const Tensor& h0, const Tensor& c0,
                                  const Tensor& w_hh, bool reverse) {
  if (xw.dim() != 3 || h0.dim() != 2 || c0.dim() != 2 || w_hh.dim() != 2 || xw.shape()[0] < 1 ||
      h0.shape() != c0.shape() || xw.shape()[1] != h0.shape()[0] ||
      xw.shape()[2] != 4 * h0.shape()[1] || w_hh.shape()[0] != xw.shape()[2] ||
      w_hh.shape()[1] != h0.shape()[1])
    EMBER_VALUE_ERROR(
        "lstm: expected xw [T >= 1, B, 4H], h0 and c0 [B, H], w_hh [4H, H], got shapes ",
        xw.shape(), ", ", h0.shape(), ", ", c0.shape(), " and ", w_hh.shape());
  const Dtype dt = xw.dtype();
  if ((dt != Dtype::Float32 && dt != Dtype::Float64) || h0.dtype() != dt || c0.dtype() != dt ||
      w_hh.dtype() != dt)
    EMBER_TYPE_ERROR("lstm: the fused sequence takes float32 or float64 tensors of one dtype, got ",
                     dtype_name(xw.dtype()), ", ", dtype_name(h0.dtype()), ", ",
                     dtype_name(c0.dtype()), " and ", dtype_name(w_hh.dtype()));
  const Tensor x = plain(xw), hp = plain(h0), cp = plain(c0), w = plain(w_hh);
  const int64_t T = x.shape()[0], B = x.shape()[1], H = hp.shape()[1];
  const bool grad = autograd::any_requires_grad(xw, h0, c0, w_hh);
  Tensor out = empty({T, B, H}, dt, x.device()), cs = empty({T, B, H}, dt, x.device());
  Tensor act = grad ? empty(x.shape(), dt, x.device()) : empty({B, 4 * H}, dt, x.device());
  kernel::lstm_seq(x.device())(out, cs, act, x, hp, cp, w, reverse);
  const int64_t last = reverse ? 0 : T - 1;
  Tensor hT = clone(select(out, 0, last)), cT = clone(select(cs, 0, last));
  if (grad) {
    autograd::record(
        "LstmBackward0", {xw, h0, c0, w_hh}, {out, cs, hT, cT}, {xw, h0, c0, w_hh, out, cs, act},
        [reverse](const TensorList& gr, const TensorList& s,
                  const std::vector<bool>& needs) -> TensorList {
          if (autograd::GradMode::enabled()) return lstm_sequence_backward_ops(gr, s, reverse);
          const Tensor &x = s[0], &act = s[6];
          const Dtype dt = x.dtype();
          const Shape hs = s[1].shape();
          Tensor dxw = empty(x.shape(), dt, x.device()), dh0 = empty(hs, dt, x.device());
          Tensor dc0 = empty(hs, dt, x.device());
          Tensor dw = needs[3] ? empty(s[3].shape(), dt, x.device()) : Tensor();
          kernel::lstm_seq_backward(x.device())(
              dxw, dh0, dc0, dw, plain(gr[0]), plain(gr[1]), plain(gr[2]), plain(gr[3]), act,
              plain(s[4]), plain(s[5]), plain(s[1]), plain(s[2]), plain(s[3]), reverse);
          return {dxw, dh0, dc0, dw};
        });
  }
  return {out, cs, hT, cT};
}

}  // namespace ember
