"""ember.compile's GEMM epilogue fusions: bias + activation folded into the forward GEMM, in
inference (the product never reaches memory) and in training (the epilogue also stores the
pre-activation the backward reads). Compiled results equal eager; the engine's epilogue with a
pre-activation output is checked directly on every GEMM path (GEMV, narrow, swapped, K blocks)
and its alpha / beta / bias variants against float64 and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import _C, nn

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

F = nn.functional
ACTS = {"none": 0, "relu": 1, "gelu": 2, "gelu_tanh": 3}


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


def _ops(cf, *args) -> list[str]:
    return [r["op"] for r in cf.graph(*args).graph_view() if r["kind"] == "op"]


def _act_np(z: np.ndarray, act: str) -> np.ndarray:
    """The activation in float64 (the reference for the fused epilogue)."""
    if act == "relu":
        return np.maximum(z, 0)
    if act == "gelu":
        return 0.5 * z * (1 + np.vectorize(__import__("math").erf)(z / np.sqrt(2)))
    if act == "gelu_tanh":
        return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))
    return z


# ---------------------------------------------------------------------------------------------
# the engine's epilogue with a pre-activation output (ember._C._gemm_act_pre)

# (B, M, N, K): GEMV rows and columns, narrow N (engine swaps to C^T: strided C), one row
# panel, several K blocks (pre written only after the last), odd sizes, batches
SHAPES = [
    (1, 1, 37, 19),
    (1, 23, 1, 19),
    (1, 129, 3, 40),
    (1, 5, 7, 3),
    (1, 67, 45, 300),
    (2, 33, 70, 17),
    (1, 64, 512, 128),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh"])
@pytest.mark.parametrize(
    "alpha,beta,bias", [(1.0, 0.0, True), (2.0, 0.0, False), (0.5, 1.0, True), (1.0, 0.7, True)]
)
def test_gemm_act_pre_matches_float64(shape, act, alpha, beta, bias):
    B, M, N, K = shape
    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal((B, M, K)).astype(np.float32)
    b = rng.standard_normal((B, K, N)).astype(np.float32)
    c0 = rng.standard_normal((B, M, N)).astype(np.float32)
    bi = rng.standard_normal(N).astype(np.float32)
    out = ember.from_numpy(c0.copy())
    pre = ember.full((B, M, N), float("nan"))  # every element must be written
    _C._gemm_act_pre(
        out,
        pre,
        ember.from_numpy(a),
        ember.from_numpy(b),
        ember.from_numpy(bi) if bias else None,
        alpha,
        beta,
        ACTS[act],
    )
    z = alpha * (a.astype(np.float64) @ b) + beta * c0 + (bi if bias else 0)
    scale = (
        np.abs(a.astype(np.float64)) @ np.abs(b) * abs(alpha)
        + abs(beta * c0)
        + (abs(bi) if bias else 0)
    )
    assert np.all(np.abs(_np(pre) - z) <= 4e-6 * scale + 1e-6)
    np.testing.assert_allclose(
        _np(out), _act_np(_np(pre).astype(np.float64), act), rtol=2e-6, atol=2e-6
    )
    # the activation is the eager unary kernel's on the same value: bitwise equal
    eager = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh")}[
        act
    ]
    np.testing.assert_array_equal(_np(out), _np(eager(pre)))


def test_gemm_act_pre_transposed_operands_and_views():
    rng = np.random.default_rng(1)
    a = (
        ember.from_numpy(rng.standard_normal((31, 29)).astype(np.float32)).t().unsqueeze(0)
    )  # [1, 29, 31]
    b = (
        ember.from_numpy(rng.standard_normal((45, 31)).astype(np.float32)).t().unsqueeze(0)
    )  # [1, 31, 45]
    big = ember.zeros(1, 29, 50)
    out = big[:, :, 2:47]  # a view with row stride 50
    pre_big = ember.zeros(1, 29, 50)
    pre = pre_big[:, :, 2:47]
    bias = ember.randn(45)
    _C._gemm_act_pre(out, pre, a, b, bias, 1.0, 0.0, ACTS["gelu"])
    ref = ember.matmul(a, b) + bias
    np.testing.assert_allclose(_np(pre), _np(ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(_np(out), _np(F.gelu(pre)))
    assert np.all(_np(big)[:, :, :2] == 0) and np.all(_np(big)[:, :, 47:] == 0)  # outside untouched
    assert np.all(_np(pre_big)[:, :, :2] == 0) and np.all(_np(pre_big)[:, :, 47:] == 0)


def test_gemm_act_pre_nan_and_inf_propagate():
    a = ember.tensor([[[1.0, float("nan")], [float("inf"), 1.0], [-1.0, 0.0]]])
    b = ember.tensor([[[1.0], [1.0]]])
    out, pre = ember.empty(1, 3, 1), ember.empty(1, 3, 1)
    _C._gemm_act_pre(out, pre, a, b, None, 1.0, 0.0, ACTS["relu"])
    assert np.isnan(_np(pre)[0, 0, 0]) and np.isnan(_np(out)[0, 0, 0])
    assert _np(pre)[0, 1, 0] == np.inf and _np(out)[0, 1, 0] == np.inf
    assert _np(pre)[0, 2, 0] == -1 and _np(out)[0, 2, 0] == 0


def test_gemm_act_pre_empty_is_a_no_op():
    out, pre = ember.empty(1, 0, 4), ember.empty(1, 0, 4)
    _C._gemm_act_pre(out, pre, ember.empty(1, 0, 3), ember.randn(1, 3, 4), None, 1.0, 0.0, 2)
    out, pre = ember.zeros(1, 2, 4), ember.zeros(1, 2, 4)  # K = 0: bias + act only
    _C._gemm_act_pre(
        out, pre, ember.empty(1, 2, 0), ember.empty(1, 0, 4), ember.ones(4), 1.0, 0.0, 1
    )
    np.testing.assert_array_equal(_np(pre), np.ones((1, 2, 4)))


def test_gemm_act_pre_bad_input_raises():
    a, b = ember.randn(1, 3, 4), ember.randn(1, 4, 5)
    with pytest.raises(ValueError, match="gemm_act_pre"):
        _C._gemm_act_pre(ember.empty(1, 3, 6), ember.empty(1, 3, 6), a, b, None, 1.0, 0.0, 2)
    with pytest.raises(ValueError, match="pre must have"):
        _C._gemm_act_pre(
            ember.empty(1, 3, 5), ember.empty(1, 5, 3).transpose(1, 2), a, b, None, 1.0, 0.0, 2
        )
    with pytest.raises(TypeError, match="float32"):
        _C._gemm_act_pre(
            ember.empty(1, 3, 5, dtype=ember.float64), ember.empty(1, 3, 5), a, b, None, 1.0, 0.0, 2
        )
    with pytest.raises(ValueError, match="bias"):
        _C._gemm_act_pre(
            ember.empty(1, 3, 5), ember.empty(1, 3, 5), a, b, ember.randn(4), 1.0, 0.0, 2
        )
    out = ember.empty(1, 3, 5)
    with pytest.raises(ValueError, match="same memory"):
        _C._gemm_act_pre(out, out, a, b, None, 1.0, 0.0, 2)
    with pytest.raises(ValueError, match="act"):
        _C._gemm_act_pre(ember.empty(1, 3, 5), ember.empty(1, 3, 5), a, b, None, 1.0, 0.0, 7)


# ---------------------------------------------------------------------------------------------
# compiled graphs


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_inference_gelu_epilogue_is_bitwise_eager(approximate):
    model = nn.Sequential(nn.Linear(37, 129), nn.GELU(approximate), nn.Linear(129, 5), nn.ReLU())
    cm = ember.compile(model)
    x = ember.randn(300, 37) * 3
    with ember.no_grad():
        for _ in range(3):
            np.testing.assert_array_equal(_np(cm(x)), _np(model(x)))
        ops = _ops(cm, x)
    assert "gemm+bias+gelu" in ops and "gemm+bias+relu" in ops


def _block(ws, approximate):
    def fwd_bwd(x, g):
        h = F.gelu(F.linear(x, ws[0], ws[1]), approximate=approximate)
        y = F.linear(h, ws[2], ws[3])
        (y * g).sum().backward()
        return y.detach(), h.detach()

    return fwd_bwd


def _params(shapes, dtype=ember.float32, seed=3):
    ember.manual_seed(seed)
    return [(ember.randn(*s, dtype=dtype) * 0.3).requires_grad_(True) for s in shapes]


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize(
    "b,d,h,transposed",
    [
        (13, 17, 37, True),
        (1, 8, 19, False),
        (64, 128, 512, False),
        (40, 300, 3, True),
        (7, 5, 600, False),
    ],
)
def test_training_gelu_block_keeps_pre_activation(approximate, b, d, h, transposed):
    shapes = ((h, d), (h,), (d, h), (d,))
    w_eager, w_comp = _params(shapes), _params(shapes)
    eager, comp = _block(w_eager, approximate), ember.compile(_block(w_comp, approximate))
    ember.manual_seed(5)
    for _ in range(4):
        x = ember.randn(d, b).t() if transposed else ember.randn(b, d)  # non-contiguous input
        g = ember.randn(b, d)
        for r, e in zip(comp(x, g), eager(x, g)):
            np.testing.assert_array_equal(_np(r), _np(e))
    for p, q in zip(w_eager, w_comp):  # gradients accumulated over the calls
        np.testing.assert_allclose(_np(q.grad), _np(p.grad), rtol=1e-6, atol=1e-7)
    ops = _ops(comp, x, g)
    assert "gemm+bias+gelu+pre" in ops and "gelu" in ops  # the unary is absorbed, still listed


def test_training_gelu_block_3d_input_and_float64():
    shapes = ((24, 6), (24,), (6, 24), (6,))
    for dtype in (ember.float32, ember.float64):
        w_eager, w_comp = _params(shapes, dtype), _params(shapes, dtype)
        eager, comp = _block(w_eager, "none"), ember.compile(_block(w_comp, "none"))
        for _ in range(3):
            x, g = ember.randn(3, 5, 6, dtype=dtype), ember.randn(3, 5, 6, dtype=dtype)
            for r, e in zip(comp(x, g), eager(x, g)):
                np.testing.assert_allclose(_np(r), _np(e), rtol=1e-6, atol=1e-7)
        for p, q in zip(w_eager, w_comp):
            np.testing.assert_allclose(_np(q.grad), _np(p.grad), rtol=1e-6, atol=1e-7)
        # the pre-activation epilogue is the float32 CPU engine's
        assert ("gemm+bias+gelu+pre" in _ops(comp, x, g)) == (dtype == ember.float32)


def test_linear_without_bias_is_not_fused():
    w = (ember.randn(9, 4) * 0.5).requires_grad_(True)

    def f(x):
        y = F.gelu(F.linear(x, w))
        y.sum().backward()
        return y.detach()

    cf = ember.compile(f)
    x = ember.randn(6, 4)
    w2 = w.detach().clone().requires_grad_(True)
    for _ in range(3):
        r = cf(x)
    y2 = F.gelu(F.linear(x, w2))
    y2.sum().backward()
    np.testing.assert_array_equal(_np(r), _np(y2))
    np.testing.assert_allclose(_np(w.grad), 3 * _np(w2.grad), rtol=1e-6)
    assert not any(op.startswith("gemm+bias") for op in _ops(cf, x))


def test_pre_activation_returned_and_inplace_after():
    """The kept pre-activation is also an output, and an in-place op later writes it."""
    lin = nn.Linear(5, 11)

    def f(x):
        z = lin(x)
        a = F.gelu(z)
        a.sum().backward()
        out = z.detach().clone()
        return a.detach(), out

    cf = ember.compile(f)
    x = ember.randn(4, 5)
    for _ in range(3):
        lin.zero_grad()
        a, z = cf(x)
    ref_z = lin(x)
    np.testing.assert_allclose(_np(z), _np(ref_z), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(_np(a), _np(F.gelu(z)))


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_gelu_mlp_train_steps_equal_eager_and_torch():
    sizes = (19, 41, 10)
    ember.manual_seed(0)
    m1 = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.GELU(), nn.Linear(sizes[1], sizes[2]))
    m2 = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.GELU(), nn.Linear(sizes[1], sizes[2]))
    m2.load_state_dict(m1.state_dict())
    tm = torch.nn.Sequential(
        torch.nn.Linear(sizes[0], sizes[1]), torch.nn.GELU(), torch.nn.Linear(sizes[1], sizes[2])
    )
    with torch.no_grad():
        for p, q in zip(tm.parameters(), m1.parameters()):
            p.copy_(torch.from_numpy(_np(q)))
    o1 = ember.optim.AdamW(m1.parameters(), lr=1e-2)
    o2 = ember.optim.AdamW(m2.parameters(), lr=1e-2)
    ot = torch.optim.AdamW(tm.parameters(), lr=1e-2)

    def stepper(m, o, lib):
        def step(x, y):
            loss = lib.nn.functional.cross_entropy(m(x), y)
            o.zero_grad()
            loss.backward()
            o.step()
            return loss.detach()

        return step

    eager, comp, tstep = (
        stepper(m1, o1, ember),
        ember.compile(stepper(m2, o2, ember)),
        stepper(tm, ot, torch),
    )
    rng = np.random.default_rng(0)
    for _ in range(6):
        x = rng.standard_normal((23, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[2], 23)
        l1 = eager(ember.from_numpy(x), ember.from_numpy(y))
        l2 = comp(ember.from_numpy(x), ember.from_numpy(y))
        lt = tstep(torch.from_numpy(x), torch.from_numpy(y))
        np.testing.assert_allclose(_np(l2), _np(l1), rtol=1e-6)
        np.testing.assert_allclose(_np(l2), lt.numpy(), rtol=1e-4)
    for p, q, t in zip(m1.parameters(), m2.parameters(), tm.parameters()):
        np.testing.assert_allclose(_np(q), _np(p), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(_np(q), t.detach().numpy(), rtol=1e-3, atol=1e-4)
    (entry,) = comp._cache.values()
    assert "gemm+bias+gelu+pre" in [n["op"] for n in entry.graph.describe()["nodes"]]
