// scaled_dot_product_attention: checks, the flash kernels (backend/cpu/attention_impl.h) and a
// backward node that recomputes score tiles from the saved log-sum-exp. With create_graph, or
// when a float mask needs its gradient, the backward is the composite formula in ember ops.
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "backend/kernels_attention.h"
#include "ops/ops.h"

namespace ember {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

// [..., H, T, D] (or [T, D]) as [N, H, T, D]; heads = 1 for 2-D inputs.
Tensor as4d(const Tensor& t) {
  const Shape& s = t.shape();
  const int64_t nd = t.dim();
  const int64_t H = nd >= 3 ? s[nd - 3] : 1;
  int64_t N = 1;
  for (int64_t d = 0; d + 3 < nd; ++d) N *= s[d];
  Tensor r = nd == 4 ? t : reshape(t, {N, H, s[nd - 2], s[nd - 1]});
  return r.strides()[3] == 1 || r.shape()[3] <= 1 ? r : contiguous(r);
}

// The dropout keep-scale of every score, materialized (only the composite formula needs it).
Tensor dropout_scale(const AttentionParams& p, Dtype cd) {
  Tensor z = empty({p.N, p.H, p.L, p.S}, Dtype::Float64);
  double* zp = static_cast<double*>(z.raw_data());
  const uint32_t threshold = attention_dropout_threshold(p.dropout_p);
  const double keep = p.dropout_p >= 1 ? 0.0 : 1.0 / (1.0 - p.dropout_p);
  for (int64_t row = 0; row < p.N * p.H * p.L; ++row) {
    const uint32_t rh = attention_row_hash(p.seed, uint64_t(row));
    for (int64_t j = 0; j < p.S; ++j) zp[row * p.S + j] = attention_col_hash(rh, uint32_t(j)) >= threshold ? keep : 0;
  }
  return to_dtype(z, cd);
}

// Key/value heads repeated for their query heads: [N, Hk, S, D] -> [N, H, S, D].
Tensor repeat_heads(const Tensor& t, int64_t rep) {
  if (rep == 1) return t;
  const Shape& s = t.shape();
  return reshape(expand(unsqueeze(t, 2), {s[0], s[1], rep, s[2], s[3]}), {s[0], s[1] * rep, s[2], s[3]});
}

// Gradients of q, k, v (4-D, compute dtype) and of the additive mask (already [N, H, L, S]
// broadcast view or undefined), as differentiable ember ops.
TensorList attention_backward_composite(const Tensor& g, const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& mask, const AttentionParams& p) {
  const int64_t rep = p.H / p.Hk;
  Tensor kx = repeat_heads(k, rep), vx = repeat_heads(v, rep);
  Tensor s = matmul(q, transpose(kx, -2, -1)) * p.scale;
  if (p.causal) {
    Tensor keep = tril(ones({p.L, p.S}, Dtype::Bool, q.device()));
    s = masked_fill(s, unary(UnaryOp::LogicalNot, keep), Scalar(-std::numeric_limits<double>::infinity()));
  }
  if (mask.defined()) s = s + mask;
  Tensor P = softmax(s, -1);
  P = where(unary(UnaryOp::IsNan, detach(P)), zeros({}, P.dtype(), P.device()), P);  // nothing to attend: 0
  Tensor dP = matmul(g, transpose(vx, -2, -1));
  Tensor Pd = P;
  if (p.dropout_p > 0) {
    Tensor z = dropout_scale(p, P.dtype());
    Pd = P * z;
    dP = dP * z;
  }
  Tensor dv = matmul(transpose(Pd, -2, -1), g);
  Tensor dS = P * (dP - sum(dP * P, Dims{-1}, true));
  Tensor dq = matmul(dS, kx) * p.scale;
  Tensor dk = matmul(transpose(dS, -2, -1), q) * p.scale;
  if (rep > 1) {  // sum the repeated heads back
    dk = sum(reshape(dk, {p.N, p.Hk, rep, p.S, p.E}), Dims{2});
    dv = sum(reshape(dv, {p.N, p.Hk, rep, p.S, p.Ev}), Dims{2});
  }
  return {dq, dk, dv, dS};
}

// attn_mask (bool: True = may attend; float: added) as an additive [N, H, L, S] view in dtype cd.
Tensor additive_mask(const Tensor& m0, const Shape& full_shape, const AttentionParams& p, Dtype cd) {
  Tensor add = m0.dtype() == Dtype::Bool
                   ? masked_fill(full(m0.shape(), Scalar(-std::numeric_limits<double>::infinity()), cd, m0.device()), m0,
                                 Scalar(0.0))
                   : to_dtype(m0, cd);
  Tensor e = expand(add, full_shape);
  return full_shape.size() == 4 ? e : reshape(e, {p.N, p.H, p.L, p.S});
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, bool enable_gqa) {
  const Tensor &q0 = query, &k0 = key, &v0 = value;
  if (!is_floating(q0.dtype()) || q0.dtype() != k0.dtype() || q0.dtype() != v0.dtype())
    EMBER_TYPE_ERROR(kOp, ": expected query, key and value of the same floating point dtype, got ",
                     dtype_name(q0.dtype()), ", ", dtype_name(k0.dtype()), " and ", dtype_name(v0.dtype()));
  const int64_t nd = q0.dim();
  if (nd < 2 || k0.dim() != nd || v0.dim() != nd)
    EMBER_VALUE_ERROR(kOp, ": expected query [..., L, E], key [..., S, E] and value [..., S, Ev] with the same ",
                      "number of dims (at least 2), got ", q0.shape(), ", ", k0.shape(), " and ", v0.shape());
  const Shape &qs = q0.shape(), &ks = k0.shape(), &vs = v0.shape();
  bool ok = qs[nd - 1] == ks[nd - 1] && ks[nd - 2] == vs[nd - 2];
  for (int64_t d = 0; d + 3 < nd; ++d) ok = ok && qs[d] == ks[d] && qs[d] == vs[d];
  if (nd >= 3) {
    const int64_t hq = qs[nd - 3], hk = ks[nd - 3];
    ok = ok && hk == vs[nd - 3];
    if (hq != hk && !(enable_gqa && hk > 0 && hq % hk == 0)) {
      if (enable_gqa)
        EMBER_VALUE_ERROR(kOp, ": ", hq, " query heads are not a multiple of ", hk, " key/value heads (query ", qs,
                          ", key ", ks, ")");
      ok = false;
    }
  }
  if (!ok)
    EMBER_VALUE_ERROR(kOp, ": shapes do not match: query ", qs, " [..., L, E], key ", ks, " [..., S, E], value ", vs,
                      " [..., S, Ev]");
  if (is_causal && attn_mask.defined())
    EMBER_VALUE_ERROR(kOp, ": pass either attn_mask or is_causal=True, not both");
  if (!(dropout_p >= 0 && dropout_p <= 1))
    EMBER_VALUE_ERROR(kOp, ": dropout_p must be in [0, 1], got ", dropout_p);
  if (q0.device() != k0.device() || q0.device() != v0.device())
    EMBER_VALUE_ERROR(kOp, ": query, key and value must be on the same device");

  const Dtype cd = q0.dtype() == Dtype::Float64 ? Dtype::Float64 : Dtype::Float32;  // 16-bit: computed in f32
  Tensor q = as4d(to_dtype(detach(q0), cd)), k = as4d(to_dtype(detach(k0), cd)), v = as4d(to_dtype(detach(v0), cd));
  AttentionParams p;
  p.N = q.shape()[0], p.H = q.shape()[1], p.Hk = k.shape()[1];
  p.L = q.shape()[2], p.S = k.shape()[2], p.E = q.shape()[3], p.Ev = v.shape()[3];
  p.scale = scale ? *scale : (p.E > 0 ? 1.0 / std::sqrt(double(p.E)) : 1.0);
  p.causal = is_causal;
  p.dropout_p = dropout_p;
  if (dropout_p > 0) p.seed = default_generator().next();

  // the mask as an additive [N, H, L, S] view in the compute dtype
  Tensor mask;
  Shape full_shape(qs.begin(), qs.end() - 1);
  full_shape.push_back(p.S);
  if (attn_mask.defined()) {
    const Tensor m0 = attn_mask;
    if (m0.dtype() != Dtype::Bool && !is_floating(m0.dtype()))
      EMBER_TYPE_ERROR(kOp, ": attn_mask must be bool or floating point, got ", dtype_name(m0.dtype()));
    if (m0.dim() > nd || broadcast_shapes(m0.shape(), full_shape, kOp) != full_shape)
      EMBER_VALUE_ERROR(kOp, ": attn_mask of shape ", m0.shape(), " does not broadcast to the scores' shape ",
                        full_shape);
    mask = additive_mask(detach(m0), full_shape, p, cd);
  }

  Tensor out4 = empty({p.N, p.H, p.L, p.Ev}, cd, q.device());
  Tensor lse = empty({p.N, p.H, p.L}, cd, q.device());
  if (out4.numel() > 0) {
    if (p.S == 0) {  // no keys: every row is fully masked
      out4 = zeros(out4.shape(), cd, q.device());
      lse = full(lse.shape(), Scalar(std::numeric_limits<double>::infinity()), cd, q.device());
    } else {
      kernel::attention_forward(q.device())(out4, lse, q, k, detach(v), mask.defined() ? detach(mask) : mask, p);
    }
  }
  Shape out_shape(qs.begin(), qs.end() - 1);
  out_shape.push_back(p.Ev);
  Tensor out = to_dtype(reshape(out4, out_shape), q0.dtype());

  const bool mask_grad = attn_mask.defined() && attn_mask.requires_grad();
  if (autograd::any_requires_grad(query, key, value, attn_mask)) {
    const Dtype dt = q0.dtype();
    const Shape kshape = ks, vshape = vs, qshape = qs;
    const Shape mshape = attn_mask.defined() ? attn_mask.shape() : Shape{};
    autograd::record(
        "ScaledDotProductFlashAttentionBackward0", {query, key, value, attn_mask}, {out},
        {q, k, v, out4, lse, mask, query, key, value, attn_mask},
        [p, dt, cd, kshape, vshape, qshape, mshape, mask_grad, full_shape](
            const TensorList& g, const TensorList& s, const std::vector<bool>& needs) -> TensorList {
          Tensor g4 = to_dtype(reshape(g[0], {p.N, p.H, p.L, p.Ev}), cd);
          TensorList r(4);
          if (autograd::GradMode::enabled() || mask_grad) {  // differentiable formula
            Tensor m = s[9].defined() ? additive_mask(s[9], full_shape, p, cd) : Tensor();
            TensorList c = attention_backward_composite(g4, as4d(to_dtype(s[6], cd)), as4d(to_dtype(s[7], cd)),
                                                        as4d(to_dtype(s[8], cd)), m, p);
            r = {c[0], c[1], c[2], Tensor()};
            if (needs.size() > 3 && needs[3])
              r[3] = sum_to(reshape(c[3], full_shape), mshape);
          } else {
            const Device dev = s[0].device();
            r[0] = empty({p.N, p.H, p.L, p.E}, cd, dev);
            r[1] = empty({p.N, p.Hk, p.S, p.E}, cd, dev);
            r[2] = empty({p.N, p.Hk, p.S, p.Ev}, cd, dev);
            if (p.L == 0 || p.S == 0 || p.N * p.H == 0 || p.Ev == 0) {  // (no lse was computed)
              for (int i = 0; i < 3; ++i) r[i] = zeros(r[i].shape(), cd, dev);
            } else {
              kernel::attention_backward(s[0].device())(r[0], r[1], r[2], contiguous(g4), s[0], s[1], s[2], s[3],
                                                        s[4], s[5], p);
            }
          }
          r[0] = to_dtype(reshape(r[0], qshape), dt);
          r[1] = to_dtype(reshape(r[1], kshape), dt);
          r[2] = to_dtype(reshape(r[2], vshape), dt);
          return r;
        });
  }
  return out;
}

}  // namespace ember
