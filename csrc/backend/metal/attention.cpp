// Metal launch code of flash attention (metal/attention.metal): float32, head dims <= 128,
// causal and additive masks, grouped key/value heads, dropout (the CPU kernels' draws).
#include "attention_params.h"
#include "backend/kernels_attention.h"
#include "backend/metal/family_util.h"

namespace ember::metal {
namespace {

bool attn_supported(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                    const AttentionParams& a) {
  if (q.dtype() != Dtype::Float32 || a.E > EMBER_ATTN_MAX_E || a.Ev > EMBER_ATTN_MAX_E)
    return false;
  if (a.N * a.H * a.L >= (int64_t(1) << 31) || a.N * a.Hk * a.S >= (int64_t(1) << 31)) return false;
  for (const Tensor* t : {&q, &k, &v, &mask})
    if (t->defined() && !offsets_fit_int32(*t)) return false;
  return true;
}

AttnParams make_params(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                       const AttentionParams& a) {
  AttnParams p{};
  p.N = uint(a.N), p.H = uint(a.H), p.Hk = uint(a.Hk), p.L = uint(a.L), p.S = uint(a.S);
  p.E = uint(a.E), p.Ev = uint(a.Ev), p.scale = float(a.scale), p.causal = a.causal,
  p.has_mask = mask.defined();
  auto st = [](const Tensor& t, int d) { return int(t.strides()[d]); };
  p.q_n = st(q, 0), p.q_h = st(q, 1), p.q_l = st(q, 2);
  p.k_n = st(k, 0), p.k_h = st(k, 1), p.k_s = st(k, 2);
  p.v_n = st(v, 0), p.v_h = st(v, 1), p.v_s = st(v, 2);
  if (mask.defined())
    p.m_n = st(mask, 0), p.m_h = st(mask, 1), p.m_l = st(mask, 2), p.m_s = st(mask, 3);
  p.has_dropout = a.dropout_p > 0;
  p.drop_threshold = attention_dropout_threshold(a.dropout_p);
  p.seed_lo = uint(a.seed), p.seed_hi = uint(a.seed >> 32);
  p.keep_scale = a.dropout_p >= 1 ? 0.0f : float(1.0 / (1.0 - a.dropout_p));
  return p;
}

const char* fwd_declines(const Tensor&, const Tensor&, const Tensor& q, const Tensor& k,
                         const Tensor& v, const Tensor& mask, const AttentionParams& a) {
  return attn_supported(q, k, v, mask, a) ? nullptr : "scaled_dot_product_attention";
}

void fwd_metal(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
               const Tensor& v, const Tensor& mask, const AttentionParams& a) {
  const uint32_t rows = uint32_t(a.N * a.H * a.L);
  if (rows == 0) return;
  if (a.S == 0 || a.E == 0 ||
      a.Ev == 0) {  // degenerate shapes: the CPU kernel (nothing to emulate)
    synchronize();
    kernel::attention_forward.host()(out, lse, q, k, v, mask, a);
    return;
  }
  AttnParams p = make_params(q, k, v, mask, a);
  Dispatch("attn_fwd")
      .buffer(0, q.raw_data())
      .buffer(1, k.raw_data())
      .buffer(2, v.raw_data())
      .buffer(3, mask.defined() ? mask.raw_data() : q.raw_data())
      .buffer(4, out.raw_data())
      .buffer(5, lse.raw_data())
      .value(6, p)
      .threadgroups({rows, 1, 1}, {32, 1, 1});
}

const char* bwd_declines(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor& q, const Tensor& k, const Tensor& v, const Tensor&,
                         const Tensor&, const Tensor& mask, const AttentionParams& a) {
  return attn_supported(q, k, v, mask, a) && a.S > 0 && a.E > 0 && a.Ev > 0
             ? nullptr
             : "scaled_dot_product_attention_backward";
}

void bwd_metal(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& g,
               const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
               const Tensor& lse, const Tensor& mask, const AttentionParams& a) {
  const uint32_t rows = uint32_t(a.N * a.H * a.L), krows = uint32_t(a.N * a.Hk * a.S);
  AttnParams p = make_params(q, k, v, mask, a);
  const void* mp = mask.defined() ? mask.raw_data() : q.raw_data();
  if (rows == 0) {  // no queries: dk = dv = 0
    if (krows) {
      synchronize();
      kernel::attention_backward.host()(dq, dk, dv, g, q, k, v, out, lse, mask, a);
    }
    return;
  }
  Scratch delta(size_t(rows) * sizeof(float));
  Dispatch("attn_bwd_delta")
      .buffer(0, g.raw_data())
      .buffer(1, out.raw_data())
      .buffer(2, delta.p)
      .value(3, p)
      .threadgroups({rows, 1, 1}, {32, 1, 1});
  Dispatch("attn_bwd_dq")
      .buffer(0, q.raw_data())
      .buffer(1, k.raw_data())
      .buffer(2, v.raw_data())
      .buffer(3, mp)
      .buffer(4, g.raw_data())
      .buffer(5, lse.raw_data())
      .buffer(6, delta.p)
      .buffer(7, dq.raw_data())
      .value(8, p)
      .threadgroups({rows, 1, 1}, {32, 1, 1});
  Dispatch("attn_bwd_dkv")
      .buffer(0, q.raw_data())
      .buffer(1, k.raw_data())
      .buffer(2, v.raw_data())
      .buffer(3, mp)
      .buffer(4, g.raw_data())
      .buffer(5, lse.raw_data())
      .buffer(6, delta.p)
      .buffer(7, dk.raw_data())
      .buffer(8, dv.raw_data())
      .value(9, p)
      .threadgroups({krows, 1, 1}, {32, 1, 1});
}

}  // namespace

EMBER_REGISTER_KERNEL(attention_forward, Metal, fwd_metal);
EMBER_REGISTER_DECLINES(attention_forward, Metal, fwd_declines);
EMBER_REGISTER_KERNEL(attention_backward, Metal, bwd_metal);
EMBER_REGISTER_DECLINES(attention_backward, Metal, bwd_declines);

}  // namespace ember::metal
