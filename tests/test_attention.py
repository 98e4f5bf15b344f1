"""Fused scaled_dot_product_attention (csrc/ops/attention.cpp) against PyTorch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from conftest import requires_torch, torch
from ember.testing import gradcheck, gradgradcheck

pytestmark = requires_torch


def _pair(rng, shape, dtype=np.float64):
    a = rng.standard_normal(shape).astype(dtype)
    return ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _run(shapes, mask=None, rtol=1e-6, atol=1e-8, dtype=np.float64, seed=0, **kw):
    """Forward and all gradients vs torch.nn.functional.scaled_dot_product_attention."""
    rng = np.random.default_rng(seed)
    (eq, tq), (ek, tk), (ev, tv) = (_pair(rng, s, dtype) for s in shapes)
    em = tm = None
    if mask is not None:
        em, tm = ember.tensor(mask), torch.tensor(mask)
    eo = F.scaled_dot_product_attention(eq, ek, ev, attn_mask=em, **kw)
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, **kw)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    g = rng.standard_normal(tuple(to.shape)).astype(dtype)
    eo.backward(ember.tensor(g))
    to.backward(torch.tensor(g))
    for e, t in ((eq, tq), (ek, tk), (ev, tv)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=rtol * 10, atol=atol * 10)
    return eo


@pytest.mark.parametrize("L,S", [(1, 1), (7, 7), (13, 67), (67, 13), (130, 130)])
@pytest.mark.parametrize("D", [1, 8, 64, 65])
def test_matches_torch(L, S, D):
    _run([(2, 3, L, D), (2, 3, S, D), (2, 3, S, D + 1)])


@pytest.mark.parametrize("L,S", [(1, 1), (7, 7), (13, 67), (67, 13), (129, 129), (200, 70)])
def test_causal_top_left(L, S):
    _run([(2, 2, L, 8), (2, 2, S, 8), (2, 2, S, 8)], is_causal=True)


@pytest.mark.parametrize(
    "mshape", [(13, 67), (1, 67), (13, 1), (2, 1, 13, 67), (3, 13, 67), (2, 3, 13, 67)]
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_masks_broadcast(mshape, kind):
    rng = np.random.default_rng(1)
    if kind == "bool":
        mask = rng.random(mshape) > 0.3
    else:
        mask = rng.standard_normal(mshape)
        mask[rng.random(mshape) < 0.2] = -np.inf
    _run([(2, 3, 13, 8), (2, 3, 67, 8), (2, 3, 67, 5)], mask=mask)


def test_fully_masked_rows_are_zero():
    mask = np.ones((7, 9), dtype=bool)
    mask[2] = False
    mask[5] = False
    out = _run([(2, 7, 4), (2, 9, 4), (2, 9, 3)], mask=mask)
    assert np.all(out.detach().numpy()[:, [2, 5]] == 0)
    fmask = np.where(mask, 0.0, -np.inf)
    _run([(2, 7, 4), (2, 9, 4), (2, 9, 3)], mask=fmask)


def test_scale_and_3d_and_5d():
    _run([(4, 7, 6), (4, 9, 6), (4, 9, 2)], scale=0.3)
    _run([(2, 2, 3, 7, 6), (2, 2, 3, 9, 6), (2, 2, 3, 9, 2)], is_causal=True)
    _run([(7, 6), (9, 6), (9, 2)])


def test_gqa():
    _run([(2, 8, 13, 16), (2, 2, 13, 16), (2, 2, 13, 16)], enable_gqa=True, is_causal=True)
    _run([(1, 6, 5, 4), (1, 3, 7, 4), (1, 3, 7, 4)], enable_gqa=True)


def test_float32_and_half_dtypes():
    rng = np.random.default_rng(3)
    shapes = [(2, 4, 100, 64), (2, 4, 100, 64), (2, 4, 100, 64)]
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ref = torch.nn.functional.scaled_dot_product_attention(
        *[torch.tensor(a, dtype=torch.float64) for a in arrs], is_causal=True
    ).numpy()
    out = F.scaled_dot_product_attention(*[ember.tensor(a) for a in arrs], is_causal=True)
    assert out.dtype == ember.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-5)
    for dt, tol in ((ember.float16, 2e-2), (ember.bfloat16, 5e-2)):
        out = F.scaled_dot_product_attention(
            *[ember.tensor(a).to(dt) for a in arrs], is_causal=True
        )
        assert out.dtype == dt
        np.testing.assert_allclose(out.to(ember.float32).numpy(), ref, rtol=tol, atol=tol)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 11, 3 * 24))
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def heads(lib_x, split):
        q, k, v = split(lib_x)
        return [t.reshape(2, 11, 3, 8).transpose(1, 2) for t in (q, k, v)]

    eo = F.scaled_dot_product_attention(*heads(ex, lambda t: t.split(24, 2)), is_causal=True)
    to = torch.nn.functional.scaled_dot_product_attention(
        *heads(tx, lambda t: t.split(24, 2)), is_causal=True
    )
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-6, atol=1e-8)
    eo.sum().backward()
    to.sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-8)
    # a transposed last dim (non-unit stride)
    q = rng.standard_normal((2, 3, 8, 5))
    ref = torch.nn.functional.scaled_dot_product_attention(
        *[torch.tensor(q).transpose(-1, -2)] * 3
    ).numpy()
    out = F.scaled_dot_product_attention(*[ember.tensor(q).transpose(-1, -2)] * 3)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-8)


def test_empty_and_zero_head_dim():
    for shapes in (
        [(0, 3, 5, 4), (0, 3, 6, 4), (0, 3, 6, 4)],
        [(2, 3, 0, 4), (2, 3, 6, 4), (2, 3, 6, 4)],
        [(2, 3, 5, 4), (2, 3, 0, 4), (2, 3, 0, 4)],
        [(2, 3, 5, 0), (2, 3, 6, 0), (2, 3, 6, 0)],
        [(2, 3, 5, 0), (2, 3, 6, 0), (2, 3, 6, 4)],
    ):
        _run(shapes)


def test_gradcheck_float64():
    rng = np.random.default_rng(5)
    q, k, v = (
        ember.tensor(rng.standard_normal(s), requires_grad=True)
        for s in ((1, 2, 5, 3), (1, 2, 6, 3), (1, 2, 6, 2))
    )
    mask = ember.tensor(rng.standard_normal((5, 6)), requires_grad=True)
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (q, k, v))
    assert gradcheck(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v)
    )
    assert gradcheck(
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v, mask)
    )
    assert gradgradcheck(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v)
    )


def test_dropout_reproducible_and_statistics():
    rng = np.random.default_rng(6)
    q, k, v = (ember.tensor(rng.standard_normal((2, 2, 64, 16))) for _ in range(3))
    ember.manual_seed(123)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    ember.manual_seed(123)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    # v = identity rows: the output row is the dropped, rescaled attention row itself
    S = 256
    eye = ember.tensor(np.eye(S, dtype=np.float32).reshape(1, 1, S, S))
    qz = ember.zeros(1, 1, 200, 4)
    kz = ember.zeros(1, 1, S, 4)
    w = F.scaled_dot_product_attention(qz, kz, eye, dropout_p=0.25).numpy()
    kept = w != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(w[kept], 1.0 / S / 0.75, rtol=1e-5)
    assert np.all(F.scaled_dot_product_attention(qz, kz, eye, dropout_p=1.0).numpy() == 0)


def test_dropout_backward_consistent():
    # same seed: the gradient equals the gradient of the (linear in v) dropped output
    rng = np.random.default_rng(7)
    q, k = (ember.tensor(rng.standard_normal((1, 2, 9, 4))) for _ in range(2))
    v = ember.tensor(rng.standard_normal((1, 2, 9, 3)), requires_grad=True)
    q.requires_grad_(True)
    ember.manual_seed(5)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)
    g = ember.tensor(rng.standard_normal((1, 2, 9, 3)))
    out.backward(g)
    # out is linear in v: <g, out> == <dv, v>
    np.testing.assert_allclose(
        (g * out).sum().item(), (v.grad * v).sum().item(), rtol=1e-9, atol=1e-12
    )
    # first-order grads vs the composite (double-backward) path with the same draws
    q2 = q.detach().requires_grad_(True)
    ember.manual_seed(5)
    out2 = F.scaled_dot_product_attention(q2, k, v.detach(), dropout_p=0.4)
    (gq,) = ember.autograd.grad(out2, [q2], g, create_graph=True)
    np.testing.assert_allclose(gq.detach().numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_bad_input():
    q = ember.randn(2, 3, 5, 4)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*\(2, 3, 6, 5\)"):
        F.scaled_dot_product_attention(q, ember.randn(2, 3, 6, 5), ember.randn(2, 3, 6, 5))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*\[2, 3, 6, 5\]"):
        ember._C.scaled_dot_product_attention(q, ember.randn(2, 3, 6, 5), ember.randn(2, 3, 6, 5))
    with pytest.raises(TypeError, match="scaled_dot_product_attention.*float64"):
        F.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(ValueError, match="scaled_dot_product_attention.*not a multiple"):
        F.scaled_dot_product_attention(
            q, ember.randn(2, 2, 5, 4), ember.randn(2, 2, 5, 4), enable_gqa=True
        )
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(q, ember.randn(2, 1, 5, 4), ember.randn(2, 1, 5, 4))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*\[4, 5\]"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(4, 5, dtype=ember.bool))
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(
            q, q, q, attn_mask=ember.ones(5, 5, dtype=ember.bool), is_causal=True
        )
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)
    with pytest.raises(TypeError, match="attn_mask"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(5, 5, dtype=ember.int64))


def test_modules_use_fused_op():
    x = ember.randn(2, 9, 16, requires_grad=True)
    attn = ember.nn.CausalSelfAttention(16, 4)
    y = attn(x)
    names = []
    stack = [y.grad_fn]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        names.append(n.name())
        stack.extend(f for f, _ in n.next_functions)
    assert "ScaledDotProductFlashAttentionBackward0" in names


# ---- the f32 fast path (no dropout): tiles of 48 query rows x 96 keys, register tiles of 6 rows
# x 16 columns (AVX2), head dims padded to whole register tiles; masks added per register tile


def _run_f32(shapes, seed=0, scale_q=1.0, mask=None, **kw):
    """f32 forward and gradients vs torch in float64 (the fast path's error is f32 rounding)."""
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    arrs[0] = (arrs[0] * scale_q).astype(np.float32)
    g = rng.standard_normal(shapes[0][:-1] + (shapes[2][-1],)).astype(np.float32)
    tq, tk, tv = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrs)
    tm = em = None
    if mask is not None:
        tm = torch.tensor(mask if mask.dtype == bool else mask.astype(np.float64))
        em = ember.tensor(mask if mask.dtype == bool else mask.astype(np.float32))
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, **kw)
    to.backward(torch.tensor(g, dtype=torch.float64))
    eq, ek, ev = (ember.tensor(a, requires_grad=True) for a in arrs)
    eo = F.scaled_dot_product_attention(eq, ek, ev, attn_mask=em, **kw)
    eo.backward(ember.tensor(g))
    assert eo.dtype == ember.float32
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=1e-4, atol=2e-5)
    for e, t in ((eq, tq), (ek, tk), (ev, tv)):
        ref = t.grad.numpy()
        atol = 5e-5 * max(1.0, np.abs(ref).max())
        np.testing.assert_allclose(e.grad.numpy(), ref, rtol=1e-3, atol=atol)
    return eo


@pytest.mark.parametrize(
    "L,S", [(1, 1), (1, 50), (47, 47), (48, 48), (49, 49), (97, 200), (300, 97)]
)
@pytest.mark.parametrize("causal", [False, True])
def test_f32_fast_path_tile_boundaries(L, S, causal):
    _run_f32([(2, 2, L, 16), (2, 2, S, 16), (2, 2, S, 16)], is_causal=causal)


@pytest.mark.parametrize("D,Dv", [(1, 1), (7, 3), (33, 65), (64, 64), (65, 17), (130, 128)])
def test_f32_fast_path_head_dims(D, Dv):
    _run_f32([(1, 3, 61, D), (1, 3, 61, D), (1, 3, 61, Dv)], is_causal=True)
    _run_f32([(1, 3, 61, D), (1, 3, 29, D), (1, 3, 29, Dv)], scale=0.7)


def test_f32_fast_path_large_logits_gqa_and_views():
    # peaked rows: logits in the hundreds (the running max must keep exp in range)
    _run_f32([(2, 2, 100, 32), (2, 2, 100, 32), (2, 2, 100, 32)], scale_q=40.0, is_causal=True)
    _run_f32([(1, 8, 70, 16), (1, 2, 70, 16), (1, 2, 70, 16)], enable_gqa=True, is_causal=True)
    # heads split off one projection: strided (non-contiguous) q, k, v
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 53, 3 * 40)).astype(np.float32)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    outs = []
    for lib, t in ((ember, xe), (torch, xt)):
        q, k, v = (u.reshape(2, 53, 5, 8).transpose(1, 2) for u in t.split(40, 2))
        o = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        o.sum().backward()
        outs.append(o.detach().numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 1, 700, 16), (1, 2, 301, 8), (2, 3, 50, 8)])
def test_f32_few_heads_and_thread_counts(shape):
    # few heads: the forward splits each head into runs of query blocks claimed by the threads;
    # every output row and every gradient is computed by one thread whatever the thread count,
    # so 1 and 2 threads agree exactly
    rng = np.random.default_rng(11)
    q, k, v, g = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    res = []
    old = ember.get_num_threads()
    try:
        for th in (1, 2):
            ember.set_num_threads(th)
            eq, ek, ev = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
            o = F.scaled_dot_product_attention(eq, ek, ev, is_causal=True)
            o.backward(ember.tensor(g))
            res.append([t.numpy() for t in (o.detach(), eq.grad, ek.grad, ev.grad)])
    finally:
        ember.set_num_threads(old)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)
    tq, tk, tv = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (q, k, v))
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    to.backward(torch.tensor(g, dtype=torch.float64))
    np.testing.assert_allclose(res[0][0], to.detach().numpy(), rtol=1e-4, atol=2e-5)
    for e, t in zip(res[0][1:], (tq, tk, tv)):
        ref = t.grad.numpy()
        np.testing.assert_allclose(e, ref, rtol=1e-3, atol=5e-5 * max(1.0, np.abs(ref).max()))


def test_f32_nan_and_masked_rows():
    rng = np.random.default_rng(9)
    q, k, v = (rng.standard_normal((1, 2, 60, 8)).astype(np.float32) for _ in range(3))
    q[0, 1, 7, 3] = np.nan  # a NaN query row gives a NaN output row, as in PyTorch
    out = F.scaled_dot_product_attention(*(ember.tensor(a) for a in (q, k, v)), is_causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), is_causal=True
    ).numpy()
    assert np.isnan(out.numpy()[0, 1, 7]).all()
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=2e-5)
    # fully masked rows give 0 with a mask on the fast path too
    mask = np.ones((60, 60), dtype=bool)
    mask[[3, 59]] = False
    out = _run([(1, 2, 60, 8)] * 3, mask=mask, rtol=1e-4, atol=2e-5, dtype=np.float32)
    assert np.all(out.detach().numpy()[:, :, [3, 59]] == 0)


def test_f32_fast_path_isa_builds(tmp_path):
    """Each ISA build of the fast path (EMBER_CPU_ISA in a subprocess) against torch."""
    code = textwrap.dedent(
        """
        import sys, numpy as np, ember, ember.nn.functional as F
        rng = np.random.default_rng(0)
        out = {}
        cfgs = ((37, 37, 24, True, False), (50, 101, 16, False, False), (53, 77, 16, False, True))
        for i, (L, S, D, causal, masked) in enumerate(cfgs):
            arrs = [rng.standard_normal((1, 2, n, D)).astype(np.float32) for n in (L, S, S)]
            mask = rng.random((L, S)) > 0.4
            mask[:, 20:60] = False
            q, k, v = (ember.tensor(a, requires_grad=True) for a in arrs)
            m = ember.tensor(mask) if masked else None
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal)
            o.sum().backward()
            for name, t in (("o", o), ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)):
                out[f"{i}{name}"] = t.detach().numpy()
            for j, a in enumerate(arrs):
                out[f"{i}in{j}"] = a
            out[f"{i}mask"] = mask
        np.savez(sys.argv[1], **out)
        """
    )
    base = os.path.dirname(os.path.dirname(ember.__file__))
    for isa in ("scalar", "avx2", "avx512"):
        path = str(tmp_path / f"{isa}.npz")
        env = dict(os.environ, EMBER_CPU_ISA=isa, PYTHONPATH=base)
        r = subprocess.run(
            [sys.executable, "-c", code, path], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr[-2000:]
        got = np.load(path)
        for i, (causal, masked) in enumerate(((True, False), (False, False), (False, True))):
            t = [
                torch.tensor(got[f"{i}in{j}"], dtype=torch.float64, requires_grad=True)
                for j in range(3)
            ]
            m = torch.tensor(got[f"{i}mask"]) if masked else None
            o = torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=m, is_causal=causal)
            o.sum().backward()
            np.testing.assert_allclose(got[f"{i}o"], o.detach().numpy(), rtol=1e-4, atol=2e-5)
            for name, tt in zip(("dq", "dk", "dv"), t):
                np.testing.assert_allclose(got[f"{i}{name}"], tt.grad.numpy(), rtol=1e-3, atol=1e-4)


# ---- masks on the f32 fast path: added in each register tile's epilogue; tiles masked
# throughout (-inf everywhere) are skipped, so their layout against the 6 x 16 register tiles
# and the 48 x 96 / 48 x 288 blocks matters


def _causal_mask(L, S):
    return np.tril(np.ones((L, S), dtype=bool))


@pytest.mark.parametrize(
    "L,S", [(1, 1), (5, 50), (47, 47), (48, 49), (97, 200), (300, 97), (290, 290)]
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_f32_mask_tile_boundaries(L, S, kind):
    rng = np.random.default_rng(L * 1000 + S)
    if kind == "bool":
        mask = rng.random((L, S)) > 0.4
    else:
        mask = rng.standard_normal((L, S)).astype(np.float32)
        mask[rng.random((L, S)) < 0.3] = -np.inf
    _run_f32([(2, 2, L, 16), (2, 2, S, 16), (2, 2, S, 24)], mask=mask)


@pytest.mark.parametrize(
    "mshape",
    [(61, 77), (1, 77), (61, 1), (2, 1, 61, 77), (3, 61, 77), (2, 3, 61, 77), (2, 1, 1, 77)],
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_f32_mask_broadcast(mshape, kind):
    rng = np.random.default_rng(3)
    if kind == "bool":
        mask = rng.random(mshape) > 0.3
    else:
        mask = (rng.standard_normal(mshape) * 2).astype(np.float32)
        mask[rng.random(mshape) < 0.2] = -np.inf
    _run_f32([(2, 3, 61, 8), (2, 3, 77, 8), (2, 3, 77, 5)], mask=mask)


@pytest.mark.parametrize("L,S", [(1, 1), (49, 49), (130, 130), (300, 300), (70, 200), (200, 70)])
def test_f32_causal_mask_matches_is_causal(L, S):
    # a tril bool mask (and its -inf float twin) gives is_causal's result: skipped tiles and all
    mask = _causal_mask(L, S)
    shapes = [(1, 4, L, 32), (1, 4, S, 32), (1, 4, S, 32)]
    a = _run_f32(shapes, mask=mask).detach().numpy()
    b = _run_f32(shapes, mask=np.where(mask, 0.0, -np.inf).astype(np.float32)).detach().numpy()
    c = _run_f32(shapes, is_causal=True).detach().numpy()
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, c, rtol=1e-5, atol=1e-6)


def test_f32_mask_fully_masked_rows_and_blocks():
    # rows masked throughout (zeros, zero gradients), whole 6 x 16 tiles and whole 48-row
    # blocks masked, padding masks over keys (key padding: the last keys of some batch rows)
    L, S = 130, 300
    mask = np.ones((2, 1, L, S), dtype=bool)
    mask[0, :, :, 100:] = False  # key padding of batch 0
    mask[1, :, 3] = False
    mask[1, :, 48:96] = False  # a whole block of query rows
    mask[1, :, 100:106, 16:64] = False
    shapes = [(2, 2, L, 16), (2, 2, S, 16), (2, 2, S, 16)]
    out = _run_f32(shapes, mask=mask).detach().numpy()
    assert np.all(out[1, :, 3] == 0) and np.all(out[1, :, 48:96] == 0)
    fmask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    fmask[0, :, :, :50] += 1.5  # finite additive values next to -inf
    _run_f32(shapes, mask=fmask)
    # the gradients of fully masked rows are zero
    rng = np.random.default_rng(4)
    q, k, v = (
        ember.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes
    )
    F.scaled_dot_product_attention(q, k, v, attn_mask=ember.tensor(mask)).sum().backward()
    assert np.all(q.grad.numpy()[1, :, 48:96] == 0)
    assert np.isfinite(k.grad.numpy()).all() and np.isfinite(v.grad.numpy()).all()


def test_f32_mask_gqa_scale_and_views():
    rng = np.random.default_rng(5)
    mask = rng.random((1, 8, 70, 90)) > 0.5
    _run_f32([(1, 8, 70, 16), (1, 2, 90, 16), (1, 2, 90, 16)], mask=mask, enable_gqa=True)
    _run_f32([(2, 2, 40, 33), (2, 2, 57, 33), (2, 2, 57, 7)], mask=mask[0, :2, :40, :57], scale=0.3)
    fm = (rng.standard_normal((90, 70)) * 3).astype(np.float32).T  # non-contiguous float mask
    _run_f32([(1, 2, 70, 16), (1, 2, 90, 16), (1, 2, 90, 16)], mask=fm)
    # peaked rows: large logits next to large additive values
    fm2 = (rng.standard_normal((70, 90)) * 50).astype(np.float32)
    _run_f32([(1, 2, 70, 16), (1, 2, 90, 16), (1, 2, 90, 16)], mask=fm2, scale_q=20.0)


def test_f32_mask_gradcheck_float64_agrees():
    # the f32 kernel's gradients against float64 finite differences of the same function
    rng = np.random.default_rng(6)
    L, S, D = 11, 19, 5
    mask = rng.random((L, S)) > 0.4
    mask[4] = False
    fmask = np.where(mask, rng.standard_normal((L, S)), -np.inf)
    arrs = [rng.standard_normal(s) for s in ((1, 2, L, D), (1, 2, S, D), (1, 2, S, D))]
    for m in (mask, fmask):
        e64 = [ember.tensor(a, requires_grad=True) for a in arrs]
        em = ember.tensor(m)
        assert gradcheck(
            lambda q, k, v, em=em: F.scaled_dot_product_attention(q, k, v, attn_mask=em), e64
        )
        e32 = [ember.tensor(a.astype(np.float32), requires_grad=True) for a in arrs]
        m32 = ember.tensor(m if m.dtype == bool else m.astype(np.float32))
        o32 = F.scaled_dot_product_attention(*e32, attn_mask=m32)
        o64 = F.scaled_dot_product_attention(*e64, attn_mask=ember.tensor(m))
        g = rng.standard_normal(o32.shape)
        o32.backward(ember.tensor(g.astype(np.float32)))
        o64.backward(ember.tensor(g))
        np.testing.assert_allclose(o32.detach().numpy(), o64.detach().numpy(), rtol=1e-4, atol=1e-5)
        for a, b in zip(e32, e64):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3, atol=1e-4)
