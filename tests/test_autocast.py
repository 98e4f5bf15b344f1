"""ember.autocast / ember.amp.GradScaler vs torch: which ops run in the low dtype (PyTorch's CPU
lists), full precision outside/with enabled=False, nesting, decorator, thread-locality, values and
gradient dtypes vs torch.autocast, and GradScaler step for step against torch.amp.GradScaler."""

import threading
import warnings

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

LOW = [ember.bfloat16, ember.float16]
TLOW = {ember.bfloat16: torch.bfloat16, ember.float16: torch.float16}


def pair(*shapes, seed=0, grad=False):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return (
        [ember.tensor(a, requires_grad=grad) for a in arrs],
        [torch.tensor(a, requires_grad=grad) for a in arrs],
    )


OPS = {
    "matmul": (lambda L, F_, a, b: L.matmul(a, b), [(3, 4), (4, 5)]),
    "matmul_batched": (lambda L, F_, a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "mm": (lambda L, F_, a, b: L.mm(a, b), [(3, 4), (4, 5)]),
    "bmm": (lambda L, F_, a, b: L.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "addmm": (lambda L, F_, c, a, b: L.addmm(c, a, b), [(3, 5), (3, 4), (4, 5)]),
    "baddbmm": (lambda L, F_, c, a, b: L.baddbmm(c, a, b), [(2, 3, 5), (2, 3, 4), (2, 4, 5)]),
    "linear": (lambda L, F_, x, w, b: F_.linear(x, w, b), [(3, 4), (5, 4), (5,)]),
    "conv1d": (lambda L, F_, x, w, b: F_.conv1d(x, w, b, padding=1), [(2, 3, 7), (4, 3, 3), (4,)]),
    "conv2d": (
        lambda L, F_, x, w, b: F_.conv2d(x, w, b, stride=2),
        [(2, 3, 7, 6), (4, 3, 3, 3), (4,)],
    ),
    "conv_transpose1d": (lambda L, F_, x, w: F_.conv_transpose1d(x, w), [(2, 3, 5), (3, 4, 3)]),
    "conv_transpose2d": (
        lambda L, F_, x, w: F_.conv_transpose2d(x, w, stride=2),
        [(1, 3, 4, 5), (3, 2, 3, 3)],
    ),
    "sdpa": (
        lambda L, F_, q, k, v: F_.scaled_dot_product_attention(q, k, v),
        [(2, 5, 4), (2, 6, 4), (2, 6, 3)],
    ),
    "prelu": (lambda L, F_, x, w: F_.prelu(x, w), [(2, 3, 4), (3,)]),
    # fp32 list: losses and cdist
    "mse_loss": (lambda L, F_, a, b: F_.mse_loss(a @ b, a @ b * 0.5), [(3, 4), (4, 4)]),
    "l1_loss": (lambda L, F_, a, b: F_.l1_loss(a @ b, a @ b * 0.5), [(3, 4), (4, 4)]),
    "smooth_l1_loss": (lambda L, F_, a, b: F_.smooth_l1_loss(a @ b, a @ b * 0.5), [(3, 4), (4, 4)]),
    "huber_loss": (lambda L, F_, a, b: F_.huber_loss(a @ b, a @ b * 0.5), [(3, 4), (4, 4)]),
    "bce_logits": (
        lambda L, F_, a, b: F_.binary_cross_entropy_with_logits(a @ b, L.sigmoid(a @ b)),
        [(3, 4), (4, 4)],
    ),
    "cross_entropy": (
        lambda L, F_, a, b: F_.cross_entropy(a @ b, L.tensor([0, 1, 3])),
        [(3, 4), (4, 4)],
    ),
    "nll_loss": (
        lambda L, F_, a, b: F_.nll_loss(F_.log_softmax(a @ b, 1), L.tensor([0, 1, 3])),
        [(3, 4), (4, 4)],
    ),
    "kl_div": (
        lambda L, F_, a, b: F_.kl_div(
            F_.log_softmax(a @ b, 1), L.softmax(a, 1), reduction="batchmean"
        ),
        [(3, 4), (4, 4)],
    ),
    "cdist": (lambda L, F_, a, b: L.cdist(a @ b, a), [(3, 4), (4, 4)]),
    # not in a list: run in their input's dtype
    "softmax": (lambda L, F_, a, b: L.softmax(a @ b, -1), [(3, 4), (4, 4)]),
    "layer_norm": (lambda L, F_, a, b: F_.layer_norm(a @ b, (4,)), [(3, 4), (4, 4)]),
    "add_mixed": (lambda L, F_, a, b: (a @ b) + a, [(3, 4), (4, 4)]),
    "sum": (lambda L, F_, a, b: (a @ b).sum(), [(3, 4), (4, 4)]),
}


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("low", LOW, ids=["bf16", "f16"])
def test_op_dtypes_and_values_match_torch(name, low):
    fn, shapes = OPS[name]
    e, t = pair(*shapes)
    with ember.autocast("cpu", dtype=low):
        out = fn(ember, F, *e)
    with torch.autocast("cpu", dtype=TLOW[low]):
        ref = fn(torch, TF, *t)
    assert str(out.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1], (out.dtype, ref.dtype)
    tol = 3e-2 if low == ember.bfloat16 else 5e-3
    np.testing.assert_allclose(
        out.float().numpy(), ref.float().detach().numpy(), rtol=tol, atol=tol * 4
    )
    assert fn(ember, F, *e).dtype == ember.float32  # outside: full precision again


@pytest.mark.parametrize("low", LOW, ids=["bf16", "f16"])
def test_gradients_reach_params_in_their_dtype(low):
    (x, w, b), (tx, tw, tb) = pair((4, 6), (3, 6), (3,), grad=True)
    with ember.autocast("cpu", dtype=low):
        y = F.linear(x, w, b)
        loss = F.mse_loss(y, ember.zeros(4, 3))
    with torch.autocast("cpu", dtype=TLOW[low]):
        ty = TF.linear(tx, tw, tb)
        tloss = TF.mse_loss(ty, torch.zeros(4, 3))
    assert y.dtype == low and loss.dtype == ember.float32
    loss.backward()
    tloss.backward()
    for a, ta in ((x, tx), (w, tw), (b, tb)):
        assert a.grad.dtype == ember.float32
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=5e-2, atol=5e-2)
    assert y.grad_fn is not None


def test_float64_and_int_are_not_cast():
    a = ember.randn(3, 3, dtype=ember.float64)
    i = ember.ones(3, 3, dtype=ember.int64)
    with ember.autocast("cpu"):
        assert (a @ a).dtype == ember.float64
        assert (i @ i).dtype == ember.int64


def test_enabled_false_nesting_and_restore():
    a = ember.randn(2, 2)
    assert not ember.is_autocast_enabled("cpu")
    with ember.autocast("cpu", dtype=ember.float16):
        assert ember.is_autocast_enabled() and ember.get_autocast_dtype("cpu") == ember.float16
        with ember.autocast("cpu", enabled=False):
            assert (a @ a).dtype == ember.float32 and not ember.is_autocast_enabled()
        with ember.autocast("cpu", dtype=ember.bfloat16):
            assert (a @ a).dtype == ember.bfloat16
        assert (a @ a).dtype == ember.float16
    assert (a @ a).dtype == ember.float32 and not ember.is_autocast_enabled()
    assert ember.get_autocast_dtype("cpu") == ember.bfloat16
    with pytest.raises(ValueError, match="boom"):
        with ember.autocast("cpu"):
            raise ValueError("boom")
    assert not ember.is_autocast_enabled("cpu")


def test_decorator_aliases_and_modules():
    @ember.autocast("cpu")
    def f(x, lin):
        return lin(x)

    lin = enn.Linear(4, 3)
    conv = enn.Conv2d(2, 3, 3)
    x = ember.randn(2, 4)
    assert f(x, lin).dtype == ember.bfloat16
    assert lin(x).dtype == ember.float32
    with ember.amp.autocast("cpu"):
        assert conv(ember.randn(1, 2, 5, 5)).dtype == ember.bfloat16
        assert ember.amp.is_autocast_enabled("cpu")
    seq = enn.Sequential(enn.Linear(4, 8), enn.ReLU(), enn.Linear(8, 2))
    with ember.autocast("cpu"):
        assert seq(x).dtype == ember.bfloat16


def test_thread_local():
    seen = {}

    def other():
        seen["enabled"] = ember.is_autocast_enabled("cpu")
        seen["dtype"] = (ember.randn(2, 2) @ ember.randn(2, 2)).dtype

    with ember.autocast("cpu"):
        th = threading.Thread(target=other)
        th.start()
        th.join()
    assert seen == {"enabled": False, "dtype": ember.float32}


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="unsupported device_type"):
        ember.autocast("tpu")
    with pytest.raises(ValueError, match="str"):
        ember.autocast(3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with ember.autocast("cpu", dtype=ember.float64):
            assert (ember.ones(2, 2) @ ember.ones(2, 2)).dtype == ember.float32
        with ember.autocast("cuda"):
            assert not ember.is_autocast_enabled("cpu")
    assert len(w) == 2


# ---- GradScaler ----------------------------------------------------------------------------


def _scaler_run(lib, scaler_cls, opt_cls, steps, inject, **kw):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    xs = [rng.standard_normal((5, 4)).astype(np.float32) for _ in range(steps)]
    w = lib.tensor(w0, requires_grad=True)
    opt = opt_cls([w], lr=0.1)
    scaler = scaler_cls("cpu", **kw)
    trace = []
    for i in range(steps):
        opt.zero_grad()
        loss = (lib.tensor(xs[i]) @ w.T).pow(2).mean()
        if i in inject:
            loss = loss * float("inf") if inject[i] == "inf" else loss * float("nan")
        scaler.scale(loss).backward()
        if i % 3 == 1:
            scaler.unscale_(opt)  # explicit unscale (e.g. to clip) before step
        ret = scaler.step(opt)
        scaler.update()
        trace.append(
            (scaler.get_scale(), scaler._get_growth_tracker(), w.detach().numpy().copy(), ret)
        )
    return trace, scaler


@pytest.mark.parametrize("growth_interval", [1, 2, 3])
def test_grad_scaler_matches_torch_step_for_step(growth_interval):
    inject = {2: "inf", 3: "nan", 7: "inf"}
    kw = dict(
        init_scale=2.0**10, growth_factor=2.0, backoff_factor=0.25, growth_interval=growth_interval
    )
    e, es = _scaler_run(ember, ember.amp.GradScaler, ember.optim.SGD, 10, inject, **kw)
    t, ts = _scaler_run(torch, torch.amp.GradScaler, torch.optim.SGD, 10, inject, **kw)
    for (s1, g1, w1, r1), (s2, g2, w2, r2) in zip(e, t):
        assert s1 == s2 and g1 == g2
        np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)
        assert r1 is None and r2 is None
    assert es.state_dict() == ts.state_dict()


def test_grad_scaler_state_dict_roundtrip_and_disabled():
    s = ember.amp.GradScaler(init_scale=8.0, growth_interval=5)
    s.load_state_dict(
        {
            "scale": 32.0,
            "growth_factor": 3.0,
            "backoff_factor": 0.5,
            "growth_interval": 7,
            "_growth_tracker": 2,
        }
    )
    assert s.get_scale() == 32.0 and s.get_growth_factor() == 3.0 and s.get_growth_interval() == 7
    assert s.state_dict()["_growth_tracker"] == 2
    x = ember.tensor(2.0)
    assert s.scale(x).item() == 64.0
    assert s.scale([x, (x,)])[1][0].item() == 64.0
    off = ember.amp.GradScaler(enabled=False)
    assert off.scale(x) is x and off.get_scale() == 1.0 and off.state_dict() == {}
    with pytest.raises(RuntimeError, match="empty"):
        ember.amp.GradScaler().load_state_dict({})
    tsd = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=5).state_dict()
    assert ember.amp.GradScaler(init_scale=8.0, growth_interval=5).state_dict() == tsd


def test_grad_scaler_misuse():
    w = ember.ones(3, requires_grad=True)
    opt = ember.optim.SGD([w], lr=0.1)
    s = ember.amp.GradScaler()
    s.scale((w * 2).sum()).backward()
    s.unscale_(opt)
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError, match="already been called"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        s.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        s.unscale_(opt)
    s.update()
    with pytest.raises(RuntimeError, match="Closure"):
        s.step(opt, closure=lambda: 0.0)
    with pytest.raises(RuntimeError, match="No inf checks"):
        s.update()
    h = ember.ones(3, dtype=ember.float16, requires_grad=True)
    opt16 = ember.optim.SGD([h], lr=0.1)
    (h.float() * 2).sum().backward()
    with pytest.raises(ValueError, match="FP16"):
        s.unscale_(opt16)
    with pytest.raises(ValueError, match="growth_factor"):
        ember.amp.GradScaler(growth_factor=0.5)
    s.update(new_scale=4.0)
    assert s.get_scale() == 4.0


def test_mixed_precision_training_loop_converges():
    ember.manual_seed(0)
    model = enn.Sequential(enn.Linear(8, 32), enn.ReLU(), enn.Linear(32, 1))
    opt = ember.optim.SGD(model.parameters(), lr=0.05)
    scaler = ember.amp.GradScaler()
    x = ember.randn(64, 8)
    y = x.sum(1, keepdim=True)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        with ember.autocast("cpu", dtype=ember.bfloat16):
            loss = F.mse_loss(model(x), y)
        assert loss.dtype == ember.float32
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(p.dtype == ember.float32 for p in model.parameters())
    assert losses[-1] < 0.2 * losses[0]


# ---- 16-bit convolution kernels (used by autocast) ------------------------------------------

CONV16 = [
    # (x shape, w shape, kwargs): im2col, pointwise, grouped, Winograd-shaped, depthwise, 1-D
    ((2, 3, 9, 7), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 8, 5, 5), (6, 8, 1, 1), {}),
    ((1, 4, 6, 6), (6, 2, 3, 2), dict(groups=2, dilation=(1, 2))),
    ((2, 16, 12, 12), (16, 16, 3, 3), dict(padding=1)),
    ((2, 4, 7, 7), (8, 1, 3, 3), dict(groups=4, padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", CONV16)
@pytest.mark.parametrize("low", LOW, ids=["bf16", "f16"])
def test_conv2d_16bit_forward_backward_vs_torch(xs, ws, kw, low):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    # round the inputs to the 16-bit dtype first: both sides then see the same values
    ex, ew, eb = (
        ember.tensor(a, dtype=ember.float32).to(low).requires_grad_(True) for a in (x, w, b)
    )
    tx, tw, tb = (
        torch.tensor(e.float().detach().numpy(), dtype=torch.float64, requires_grad=True)
        for e in (ex, ew, eb)
    )
    y = F.conv2d(ex, ew, eb, **kw)
    ref = TF.conv2d(tx, tw, tb, **kw)
    assert y.dtype == low
    scale = float(ref.abs().max())
    tol = 2e-2 if low == ember.bfloat16 else 3e-3
    np.testing.assert_allclose(y.detach().float().numpy(), ref.detach().numpy(), atol=tol * scale)
    g = rng.standard_normal(tuple(ref.shape))
    y.backward(ember.tensor(g, dtype=ember.float32).to(low))
    ref.backward(
        torch.tensor(
            ember.tensor(g, dtype=ember.float32).to(low).float().numpy(), dtype=torch.float64
        )
    )
    for e, t in ((ex, tx), (ew, tw), (eb, tb)):
        assert e.grad.dtype == low
        gs = float(t.grad.abs().max())
        np.testing.assert_allclose(e.grad.float().numpy(), t.grad.numpy(), atol=tol * gs)
