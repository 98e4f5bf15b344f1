"""Metal flash attention (metal/attention.metal) forward and backward vs the CPU backend: causal,
additive and boolean masks, grouped key/value heads, lengths that are not multiples of the tile,
and a causal transformer block that runs without any CPU fallback."""

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from conftest import to_np
from metal_util import (
    across_schedules,
    assert_close_dtype,
    fallbacks,
    rand,
    requires_metal,
    reset_fallbacks,
)

pytestmark = requires_metal

CASES = [
    # N, H, Hk, L, S, E, Ev, causal, mask
    (1, 1, 1, 1, 1, 4, 4, False, None),
    (2, 2, 2, 37, 37, 8, 8, True, None),
    (1, 4, 2, 5, 41, 16, 12, False, "float"),
    (1, 2, 1, 33, 33, 8, 8, False, "inf"),
]


@pytest.mark.parametrize("case", CASES)
def test_attention_forward_backward(case):
    n, h, hk, seq_l, seq_s, e, ev, causal, mask_kind = case
    q, k, v = (
        rand((n, h, seq_l, e), seed=1),
        rand((n, hk, seq_s, e), seed=2),
        rand((n, hk, seq_s, ev), seed=3),
    )
    g = rand((n, h, seq_l, ev), seed=4)
    mask = None
    if mask_kind == "float":
        mask = rand((seq_l, seq_s), seed=5)
    elif mask_kind == "inf":  # -inf entries, and a row that attends to nothing
        m = np.where(np.random.default_rng(6).random((seq_l, seq_s)) < 0.7, 0.0, -np.inf)
        m[3, :] = -np.inf
        mask = ember.tensor(m.astype(np.float32))

    def run(dev):
        qd, kd, vd = (t.to(dev).detach().requires_grad_() for t in (q, k, v))
        md = None if mask is None else mask.to(dev)
        y = F.scaled_dot_product_attention(
            qd, kd, vd, attn_mask=md, is_causal=causal, enable_gqa=h != hk
        )
        y.backward(g.to(dev))
        return y, qd.grad, kd.grad, vd.grad

    ref = [to_np(t) for t in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, "float32", scale=10.0)
    assert not any(k.startswith("scaled_dot") for k in fallbacks()), fallbacks()


def test_causal_transformer_block_has_no_fallback():
    ember.manual_seed(0)
    d, heads = 16, 2

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.ReLU(), nn.Linear(4 * d, d))

        def forward(self, x):  # x [B, T, d]
            b, t, _ = x.shape
            qkv = self.qkv(self.ln1(x)).reshape(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
            return x + self.mlp(self.ln2(x))

    block = Block()
    x = rand((2, 9, d), seed=7)
    ref_loss = block(x).pow(2).mean()
    ref_loss.backward()
    ref_grads = [to_np(p.grad) for p in block.parameters()]
    block.zero_grad()
    block.to("metal")
    reset_fallbacks()
    loss = block(x.to("metal")).pow(2).mean()
    loss.backward()
    assert fallbacks() == {}, f"ops fell back to the CPU: {fallbacks()}"
    np.testing.assert_allclose(float(loss.item()), float(ref_loss.item()), rtol=1e-5)
    for p, r in zip(block.parameters(), ref_grads):
        np.testing.assert_allclose(to_np(p.grad), r, rtol=1e-4, atol=1e-5)
