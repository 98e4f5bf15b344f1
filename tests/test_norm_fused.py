"""Fused layer_norm / rms_norm and cross_entropy kernels against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from conftest import requires_torch, torch
from ember.testing import gradcheck, gradgradcheck

pytestmark = requires_torch
TF = torch.nn.functional if torch is not None else None


def _t(a, grad=True):
    return ember.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


@pytest.mark.parametrize(
    "shape,nshape",
    [
        ((4, 7), (7,)),
        ((3, 5, 64), (64,)),
        ((2, 3, 13), (3, 13)),
        ((1, 1), (1,)),
        ((6, 1031), (1031,)),
        ((0, 8), (8,)),
    ],
)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("rms", [False, True])
def test_norm_matches_torch(shape, nshape, affine, rms):
    rng = np.random.default_rng(0)
    ex, tx = _t(rng.standard_normal(shape) * 3 + 1.5)
    ew = tw = eb = tb = None
    if affine:
        ew, tw = _t(rng.standard_normal(nshape))
        eb, tb = _t(rng.standard_normal(nshape))
    if rms:
        ey, ty = F.rms_norm(ex, nshape, ew, 1e-6), TF.rms_norm(tx, nshape, tw, 1e-6)
    else:
        ey, ty = F.layer_norm(ex, nshape, ew, eb), TF.layer_norm(tx, nshape, tw, tb)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(shape)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    pairs = [(ex, tx)] + ([(ew, tw)] + ([] if rms else [(eb, tb)]) if affine else [])
    for e, t in pairs:
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_norm_float32_large_mean_and_16bit():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((64, 1024)) + 1000).astype(np.float32)
    ref = TF.layer_norm(torch.tensor(x, dtype=torch.float64), (1024,)).numpy()
    out = F.layer_norm(ember.tensor(x), (1024,))
    assert out.dtype == ember.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-3, atol=2e-3)
    for dt in (ember.float16, ember.bfloat16):
        o = F.layer_norm(ember.tensor(x - 1000).to(dt), (1024,), ember.ones(1024, dtype=dt))
        assert o.dtype == dt
        np.testing.assert_allclose(o.to(ember.float32).numpy(), ref, rtol=3e-2, atol=3e-2)


def test_norm_non_contiguous_and_modules():
    rng = np.random.default_rng(2)
    ex, tx = _t(rng.standard_normal((6, 5, 8)))
    ey = F.layer_norm(ex.transpose(0, 1), (6, 8))
    ty = TF.layer_norm(tx.transpose(0, 1), (6, 8))
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    ln = ember.nn.LayerNorm(8)
    assert ln(ember.randn(3, 8)).grad_fn.name() == "NativeLayerNormBackward0"


def test_norm_gradcheck():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    w = ember.tensor(rng.standard_normal(5), requires_grad=True)
    b = ember.tensor(rng.standard_normal(5), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (5,), w, b), (x, w, b))
    assert gradgradcheck(lambda x, w, b: F.layer_norm(x, (5,), w, b), (x, w, b))
    assert gradcheck(lambda x, w: F.rms_norm(x, (5,), w, 1e-5), (x, w))
    assert gradgradcheck(lambda x, w: F.rms_norm(x, (5,), w, 1e-5), (x, w))
    # more rows than the backward's 16 chunks: rows taken in pairs
    x = ember.tensor(rng.standard_normal((37, 3)), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (3,), w, b), (x, w[:3], b[:3]))
    assert gradcheck(lambda x: F.rms_norm(x, (3,), None, 1e-5), (x,))


def test_norm_bad_input():
    x = ember.randn(3, 5)
    with pytest.raises(ValueError, match="layer_norm.*normalized_shape"):
        F.layer_norm(x, (4,))
    with pytest.raises(ValueError, match=r"layer_norm: weight of shape \[4\]"):
        F.layer_norm(x, (5,), ember.ones(4))
    with pytest.raises(ValueError, match=r"rms_norm: weight of shape \[2, 5\]"):
        F.rms_norm(x, (5,), ember.ones(2, 5))
    with pytest.raises(TypeError, match="layer_norm.*int64"):
        F.layer_norm(ember.ones(3, 5, dtype=ember.int64), (5,))


@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((2048, 1024), np.float32),  # 8 MiB output: non-temporal stores
        ((1024, 1024), np.float64),
        ((2053, 1031), np.float32),  # big but rows not vector-aligned: plain stores
    ],
)
def test_norm_large_output_matches_torch(shape, dtype):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    x[7] = np.nan  # a NaN row stays NaN and leaves the others alone
    n = shape[-1]
    w, b = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    (ex, tx), (ew, tw), (eb, tb) = _t(x), _t(w), _t(b)
    ey, ty = F.layer_norm(ex, (n,), ew, eb), TF.layer_norm(tx, (n,), tw, tb)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)
    keep = np.arange(shape[0]) != 7  # the weight grads sum over rows: NaN from the NaN row
    np.testing.assert_allclose(
        F.layer_norm(ember.tensor(x[keep]), (n,)).numpy(),
        TF.layer_norm(torch.tensor(x[keep]), (n,)).numpy(),
        rtol=tol,
        atol=tol,
    )
    assert np.isnan(ew.grad.numpy()).all() and np.isnan(tw.grad.numpy()).all()


@pytest.mark.parametrize("rows", [1, 2, 3, 17, 35])
@pytest.mark.parametrize("n", [7, 64, 1031])
@pytest.mark.parametrize("needs", ["x", "w", "xwb"])
@pytest.mark.parametrize("rms", [False, True])
def test_norm_backward_row_pairs_and_partial_grads(rows, n, needs, rms):
    # the backward takes rows in pairs within each chunk (an odd chunk ends with a single row);
    # gradients of only x, or only the weight, take the paths without gx or without partials
    rng = np.random.default_rng(rows * 1000 + n)
    x = rng.standard_normal((rows, n)) * 2 - 0.7
    w, b, g = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal((rows, n))
    for dt, tol in ((np.float64, 1e-10), (np.float32, 2e-4)):
        ex, tx = _t(x.astype(dt), "x" in needs)
        ew, tw = _t(w.astype(dt), "w" in needs)
        eb, tb = _t(b.astype(dt), "b" in needs)
        if rms:
            ey, ty = F.rms_norm(ex, (n,), ew, 1e-5), TF.rms_norm(tx, (n,), tw, 1e-5)
        else:
            ey, ty = F.layer_norm(ex, (n,), ew, eb), TF.layer_norm(tx, (n,), tw, tb)
        ey.backward(ember.tensor(g.astype(dt)))
        ty.backward(torch.tensor(g.astype(dt)))
        for e, t in ((ex, tx), (ew, tw)) + (() if rms else ((eb, tb),)):
            if t.grad is None:
                assert e.grad is None
            else:
                np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


def test_norm_backward_inf_and_thread_counts():
    # an inf in a row makes that row's gx NaN (as in PyTorch) and leaves the other rows alone; the
    # result does not depend on the thread count beyond rounding
    rng = np.random.default_rng(6)
    x = rng.standard_normal((9, 40)).astype(np.float32)
    x[4, 3] = np.inf
    w, g = (
        rng.standard_normal(40).astype(np.float32),
        rng.standard_normal((9, 40)).astype(np.float32),
    )
    (ex, tx), (ew, tw) = _t(x), _t(w)
    F.layer_norm(ex, (40,), ew).backward(ember.tensor(g))
    TF.layer_norm(tx, (40,), tw).backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert (
        np.isnan(ex.grad.numpy()[4]).all() and np.isfinite(ex.grad.numpy()[np.arange(9) != 4]).all()
    )
    big = rng.standard_normal((401, 96)).astype(np.float32)
    gb = rng.standard_normal((401, 96)).astype(np.float32)
    w96 = rng.standard_normal(96).astype(np.float32)
    res = []
    old = ember.get_num_threads()
    try:
        for th in (1, 2):
            ember.set_num_threads(th)
            xx, ww = _t(big)[0], _t(w96)[0]
            F.layer_norm(xx, (96,), ww).backward(ember.tensor(gb))
            res.append((xx.grad.numpy(), ww.grad.numpy()))
    finally:
        ember.set_num_threads(old)
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------- cross entropy


@pytest.mark.parametrize("shape", [(5,), (7, 13), (4, 11, 3), (2, 5, 3, 2), (0, 6), (3, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_matches_torch(shape, reduction, weighted, ls):
    rng = np.random.default_rng(4)
    C = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    ex, tx = _t(rng.standard_normal(shape) * 3)
    target = rng.integers(0, C, tshape)
    if target.size > 1:
        target.flat[1] = -100  # ignored
    ew = tw = None
    if weighted:
        w = rng.random(C) + 0.5
        ew, tw = ember.tensor(w), torch.tensor(w)
    kw = dict(reduction=reduction, label_smoothing=ls)
    ey = F.cross_entropy(ex, ember.tensor(target), ew, **kw)
    ty = TF.cross_entropy(tx, torch.tensor(target), tw, **kw)
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    if ty.numel() == 0 or not np.isfinite(ty.detach().numpy()).all():
        return
    g = rng.standard_normal(tuple(ty.shape))
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cross_entropy_large_vocab_float32():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((64, 50257)) * 2).astype(np.float32)
    t = rng.integers(0, 50257, 64)
    ex, tx = _t(x)
    ey = F.cross_entropy(ex, ember.tensor(t))
    ty = TF.cross_entropy(tx, torch.tensor(t))
    np.testing.assert_allclose(ey.item(), ty.item(), rtol=1e-5)
    ey.backward()
    ty.backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-9)


def test_cross_entropy_all_ignored_and_gradcheck():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    t = ember.tensor([-100, -100, -100])
    assert np.isnan(F.cross_entropy(x, t).item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0
    t = ember.tensor([1, -100, 3])
    w = ember.tensor([0.5, 1.0, 2.0, 1.5], dtype=ember.float64)
    fn = lambda x: F.cross_entropy(x, t, w, label_smoothing=0.1)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_cross_entropy_bad_input():
    x = ember.randn(3, 4)
    with pytest.raises(IndexError, match="cross_entropy: target 4 is out of bounds for 4 classes"):
        F.cross_entropy(x, ember.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(3, 4\).*\(2,\)"):
        F.cross_entropy(x, ember.tensor([0, 1]))
    with pytest.raises(ValueError, match="cross_entropy: weight"):
        F.cross_entropy(x, ember.tensor([0, 1, 2]), ember.ones(3))
