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


@pytest.mark.parametrize("kind", ["bool2d", "bool4d", "additive"])
def test_sdpa_masks_match_cpu_and_torch(kind):
    # bool masks become additive masks through masked_fill with a CPU scalar value: it must join
    # the metal op as a scalar (as PyTorch treats 0-d CPU tensors), with no fallback
    torch = pytest.importorskip("torch")
    n, h, seq_l, seq_s, e = 2, 2, 7, 11, 8
    q, k, v = (
        rand((n, h, seq_l, e), seed=11),
        rand((n, h, seq_s, e), seed=12),
        rand((n, h, seq_s, e), seed=13),
    )
    g = rand((n, h, seq_l, e), seed=14)
    rng = np.random.default_rng(15)
    if kind == "additive":
        m = rng.standard_normal((seq_l, seq_s)).astype(np.float32)
    else:
        shape = (seq_l, seq_s) if kind == "bool2d" else (n, 1, seq_l, seq_s)
        m = rng.random(shape) < 0.6
        m[..., 0] = True  # every row attends somewhere (an all-False row is NaN in PyTorch)
    mask = ember.tensor(m)

    def run(dev):
        qd, kd, vd = (t.to(dev).detach().requires_grad_() for t in (q, k, v))
        y = F.scaled_dot_product_attention(qd, kd, vd, attn_mask=mask.to(dev))
        y.backward(g.to(dev))
        return y, qd.grad, kd.grad, vd.grad

    ref = [to_np(t) for t in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    assert fallbacks() == {}, fallbacks()
    qt, kt, vt = (torch.from_numpy(to_np(t)).requires_grad_() for t in (q, k, v))
    yt = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=torch.from_numpy(m))
    yt.backward(torch.from_numpy(to_np(g)))
    torch_ref = [yt.detach().numpy(), qt.grad.numpy(), kt.grad.numpy(), vt.grad.numpy()]
    for a, r, t in zip(got, ref, torch_ref):
        assert_close_dtype(a, r, "float32", scale=10.0)
        np.testing.assert_allclose(a, t, rtol=1e-4, atol=1e-4)


def test_masked_fill_with_cpu_scalar_value_on_metal():
    x = rand((3, 5), seed=16)
    m = ember.tensor(np.random.default_rng(17).random((3, 5)) < 0.5)
    reset_fallbacks()
    got = across_schedules(lambda: x.to("metal").masked_fill(m.to("metal"), ember.tensor(-2.5)))
    assert fallbacks() == {}, fallbacks()
    np.testing.assert_array_equal(got[0], to_np(x.masked_fill(m, -2.5)))
    # a 0-d CPU mask joins too; a CPU mask with dims is a device error naming the op
    got = across_schedules(lambda: x.to("metal").masked_fill(ember.tensor(True), 1.0))
    np.testing.assert_array_equal(got[0], np.ones((3, 5), dtype=np.float32))
    with pytest.raises(RuntimeError, match="masked_fill"):
        x.to("metal").masked_fill(m, 0.0)


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_dropout_matches_cpu_draws(causal):
    # the Metal kernels recompute the CPU kernels' counter-based dropout draws (seeded from the
    # default generator), so the same seed drops the same scores on both devices
    n, h, hk, seq_l, seq_s, e = 1, 2, 1, 9, 35, 8
    q, k, v = (
        rand((n, h, seq_l, e), seed=21),
        rand((n, hk, seq_s, e), seed=22),
        rand((n, hk, seq_s, e), seed=23),
    )
    g = rand((n, h, seq_l, e), seed=24)
    if causal:
        seq_s = seq_l
        k, v = k[:, :, :seq_l], v[:, :, :seq_l]

    def run(dev):
        ember.manual_seed(77)
        qd, kd, vd = (t.to(dev).detach().requires_grad_() for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            qd, kd, vd, dropout_p=0.4, is_causal=causal, enable_gqa=True
        )
        y.backward(g.to(dev))
        return y, qd.grad, kd.grad, vd.grad

    ref = [to_np(t) for t in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    assert fallbacks() == {}, fallbacks()
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, "float32", scale=10.0)
    ember.manual_seed(77)
    plain = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    assert not np.allclose(ref[0], to_np(plain))  # dropout did drop something
