"""Batch norm: F.batch_norm and BatchNorm1d/2d/3d against PyTorch (outputs, running stats over
several steps, every gradient, eval mode, momentum=None, affine=False, track_running_stats=False),
both kernel layouts (long runs per channel, short runs side by side), the split-over-batch path
(few channels), non-contiguous input, 16-bit input, float64 gradcheck/gradgradcheck, bad input."""

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.nn.functional as F
from ember.testing import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"float32": 2e-5, "float64": 1e-10}


def close(e, t, tol):
    e = np.asarray(e.detach().to(ember.float64).numpy())
    t = t.detach().double().numpy()
    assert e.shape == t.shape
    np.testing.assert_allclose(e, t, rtol=tol, atol=tol)


def pair(a, dtype, grad=False):
    e = ember.tensor(a, dtype=getattr(ember, dtype), requires_grad=grad)
    t = torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=grad)
    return e, t


def run_functional(shape, dtype, training, affine=True, stats=True, seed=0, momentum=0.1):
    rng = np.random.default_rng(seed)
    c = shape[1]
    a = rng.standard_normal(shape) * 3 + 1.5
    ex, tx = pair(a, dtype, True)
    ew, tw = pair(rng.standard_normal(c), dtype, True) if affine else (None, None)
    eb, tb = pair(rng.standard_normal(c), dtype, True) if affine else (None, None)
    rm0, rv0 = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    erm, trm = pair(rm0, dtype) if stats else (None, None)
    erv, trv = pair(rv0, dtype) if stats else (None, None)
    ey = F.batch_norm(ex, erm, erv, ew, eb, training, momentum, 1e-5)
    ty = TF.batch_norm(tx, trm, trv, tw, tb, training, momentum, 1e-5)
    tol = TOL[dtype]
    close(ey, ty, tol)
    if stats:
        close(erm, trm, tol)
        close(erv, trv, tol)
    g = rng.standard_normal(shape)
    ey.backward(ember.tensor(g, dtype=ex.dtype))
    ty.backward(torch.tensor(g, dtype=tx.dtype))
    close(ex.grad, tx.grad, tol * 10)
    if affine:
        close(ew.grad, tw.grad, tol * 10)
        close(eb.grad, tb.grad, tol * 10)


# long runs (plane layout), short runs (column layout), few channels (split over the batch)
SHAPES = [(4, 3, 5, 7), (2, 5, 40), (8, 6), (7, 2, 3), (3, 4, 2, 3, 5), (64, 3, 32, 32), (1, 2, 37)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training", [True, False])
def test_functional_matches_torch(shape, dtype, training):
    run_functional(shape, dtype, training)


@pytest.mark.parametrize("training", [True, False])
def test_functional_no_affine(training):
    run_functional((3, 4, 9), "float64", training, affine=False)


def test_functional_training_without_running_stats():
    run_functional((5, 3, 33), "float32", True, stats=False)
    run_functional((5, 3), "float64", True, stats=False)


def test_functional_weight_only_and_bias_only():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3, 6))
    for use_w, use_b in [(True, False), (False, True)]:
        ex, tx = pair(a, "float64", True)
        ew, tw = pair(rng.standard_normal(3), "float64", True) if use_w else (None, None)
        eb, tb = pair(rng.standard_normal(3), "float64", True) if use_b else (None, None)
        ey = F.batch_norm(ex, None, None, ew, eb, training=True)
        ty = TF.batch_norm(tx, None, None, tw, tb, training=True)
        close(ey, ty, 1e-10)
        (ey * ey).sum().backward()
        (ty * ty).sum().backward()
        close(ex.grad, tx.grad, 1e-9)
        for e, t in [(ew, tw), (eb, tb)]:
            if e is not None:
                close(e.grad, t.grad, 1e-9)


def test_large_offset_is_numerically_sound():
    # |mean| >> std: a one-pass E[x^2] - E[x]^2, or a folded x * scale + shift, in float32 would
    # lose most digits; ember must do at least as well as PyTorch's float32 kernel
    rng = np.random.default_rng(2)
    for off, sd, bound in [(1e4, 1e-2, 3e-2), (1e3, 1.0, 1e-4), (100.0, 1e-2, 1e-3)]:
        a = (off + sd * rng.standard_normal((16, 2, 300))).astype(np.float32)
        y = F.batch_norm(ember.tensor(a), None, None, training=True)
        ref = TF.batch_norm(torch.tensor(a, dtype=torch.float64), None, None, training=True).numpy()
        t32 = TF.batch_norm(torch.tensor(a), None, None, training=True).numpy()
        err = np.abs(np.asarray(y.numpy()) - ref).max()
        assert err < bound and err <= np.abs(t32 - ref).max()


def test_non_contiguous_input():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 10, 4, 5))
    ex, tx = pair(a, "float64", True)
    ew, tw = pair(rng.standard_normal(4), "float64", True)  # channels: 10[::3] -> 4
    ey = F.batch_norm(ex.transpose(0, 2)[:, ::3], None, None, ew, None, training=True)
    ty = TF.batch_norm(tx.transpose(0, 2)[:, ::3], None, None, tw, None, training=True)
    close(ey, ty, 1e-10)
    (ey * ey).sum().backward()
    (ty * ty).sum().backward()
    close(ex.grad, tx.grad, 1e-9)
    close(ew.grad, tw.grad, 1e-9)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_input_computes_in_float32(dtype):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4, 3, 50))
    ex = ember.tensor(a, dtype=getattr(ember, dtype), requires_grad=True)
    tx = torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)
    # mixed rule: float32 parameters with 16-bit input
    ew, tw = pair(rng.standard_normal(3), "float32", True)
    erm, trm = pair(np.zeros(3), "float32")
    erv, trv = pair(np.ones(3), "float32")
    ey = F.batch_norm(ex, erm, erv, ew, None, True)
    ty = TF.batch_norm(tx, trm, trv, tw, None, True)
    assert ey.dtype == ex.dtype
    tol = 2e-2 if dtype == "bfloat16" else 3e-3
    close(ey, ty, tol)
    close(erm, trm, 1e-5)
    close(erv, trv, 1e-5)
    (ey.float() ** 2).sum().backward()
    (ty.float() ** 2).sum().backward()
    assert ex.grad.dtype == ex.dtype and ew.grad.dtype == ember.float32
    close(ex.grad, tx.grad, tol * 5)
    close(ew.grad, tw.grad, tol * 20)
    # same-dtype parameters (a module built with dtype=float16)
    w16 = ember.ones(3, dtype=getattr(ember, dtype))
    y16 = F.batch_norm(ex.detach(), None, None, w16, None, True)
    close(
        y16, TF.batch_norm(tx.detach(), None, None, torch.ones(3, dtype=tx.dtype), None, True), tol
    )


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 2, 5), (5, 3), (3, 2, 2, 3)])
def test_gradcheck_and_gradgradcheck(training, shape):
    rng = np.random.default_rng(5)
    c = shape[1]
    x = ember.tensor(rng.standard_normal(shape), requires_grad=True)
    w = ember.tensor(rng.standard_normal(c), requires_grad=True)
    b = ember.tensor(rng.standard_normal(c), requires_grad=True)
    rm = ember.tensor(rng.standard_normal(c))
    rv = ember.tensor(rng.uniform(0.5, 2, c))

    def f(x, w, b):
        # running stats are cloned so repeated evaluations see the same values
        return F.batch_norm(x, rm.clone(), rv.clone(), w, b, training, 0.1, 1e-5)

    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))


def test_double_backward_matches_torch():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 2, 7))
    ex, tx = pair(a, "float64", True)
    ew, tw = pair(rng.standard_normal(2), "float64", True)
    ey = F.batch_norm(ex, None, None, ew, None, True)
    ty = TF.batch_norm(tx, None, None, tw, None, True)
    (egx,) = ember.autograd.grad((ey**3).sum(), [ex], create_graph=True)
    (tgx,) = torch.autograd.grad((ty**3).sum(), [tx], create_graph=True)
    close(egx, tgx, 1e-9)
    (egx * egx).sum().backward()
    (tgx * tgx).sum().backward()
    close(ex.grad, tx.grad, 1e-8)
    close(ew.grad, tw.grad, 1e-8)


# ----------------------------------------------------------------------------- modules


def make_modules(cls, c, dtype="float32", **kw):
    em = getattr(enn, cls)(c, **kw)
    tm = getattr(torch.nn, cls)(c, **kw)
    if dtype == "float64":
        em = em.double()
        tm = tm.double()
    if em.weight is not None:
        rng = np.random.default_rng(7)
        w, b = rng.standard_normal(c), rng.standard_normal(c)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(w))
            tm.bias.copy_(torch.tensor(b))
        em.load_state_dict({k: ember.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return em, tm


@pytest.mark.parametrize(
    "cls,shape",
    [
        ("BatchNorm1d", (8, 5)),
        ("BatchNorm1d", (4, 5, 11)),
        ("BatchNorm2d", (4, 3, 6, 5)),
        ("BatchNorm3d", (2, 3, 4, 3, 5)),
    ],
)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"momentum": None},
        {"affine": False},
        {"track_running_stats": False},
        {"momentum": 0.3, "eps": 1e-3},
    ],
)
def test_module_steps_match_torch(cls, shape, kw):
    em, tm = make_modules(cls, shape[1], "float64", **kw)
    rng = np.random.default_rng(8)
    for step in range(3):
        a = rng.standard_normal(shape) * (step + 1) + step
        ex, tx = pair(a, "float64", True)
        ey, ty = em(ex), tm(tx)
        close(ey, ty, 1e-10)
        g = rng.standard_normal(shape)
        ey.backward(ember.tensor(g))
        ty.backward(torch.tensor(g))
        close(ex.grad, tx.grad, 1e-9)
    if em.weight is not None:
        close(em.weight.grad, tm.weight.grad, 1e-9)
        close(em.bias.grad, tm.bias.grad, 1e-9)
    esd, tsd = em.state_dict(), tm.state_dict()
    assert list(esd.keys()) == list(tsd.keys())
    for k in tsd:
        close(esd[k], tsd[k], 1e-10)
    # eval: running stats (or batch stats without tracking), unchanged buffers
    em.eval()
    tm.eval()
    a = rng.standard_normal(shape)
    ex, tx = pair(a, "float64", True)
    ey, ty = em(ex), tm(tx)
    close(ey, ty, 1e-10)
    ey.backward(ember.tensor(a))
    ty.backward(torch.tensor(a))
    close(ex.grad, tx.grad, 1e-9)
    for k, v in tm.state_dict().items():
        close(em.state_dict()[k], v, 1e-10)


def test_module_repr_and_state_dict_keys():
    for cls, kw in [
        ("BatchNorm1d", {}),
        ("BatchNorm2d", {"momentum": None, "affine": False}),
        ("BatchNorm3d", {"track_running_stats": False, "eps": 1e-3}),
    ]:
        em, tm = getattr(enn, cls)(7, **kw), getattr(torch.nn, cls)(7, **kw)
        assert repr(em) == repr(tm)
        assert list(em.state_dict().keys()) == list(tm.state_dict().keys())
        assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]


def test_module_f32_matches_torch_over_steps():
    em, tm = make_modules("BatchNorm2d", 16)
    rng = np.random.default_rng(9)
    for _ in range(4):
        a = (rng.standard_normal((8, 16, 12, 12)) * 2 + 0.5).astype(np.float32)
        close(em(ember.tensor(a)), tm(torch.tensor(a)), 1e-5)
    close(em.running_mean, tm.running_mean, 1e-6)
    close(em.running_var, tm.running_var, 1e-5)
    assert int(em.num_batches_tracked.item()) == 4


# ----------------------------------------------------------------------------- bad input


def test_bad_input():
    x = ember.randn(4, 3, 5)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(ember.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(ember.randn(1, 3, 1, 1), None, None, training=True)
    with pytest.raises(ValueError, match=r"running_mean should contain 3 elements.*\[4\]"):
        F.batch_norm(x, ember.zeros(4), ember.ones(3), training=True)
    with pytest.raises(ValueError, match=r"running_var should contain 3"):
        F.batch_norm(x, ember.zeros(3), ember.ones(2, 3))
    with pytest.raises(ValueError, match=r"weight should contain 3"):
        F.batch_norm(x, None, None, ember.ones(5), training=True)
    with pytest.raises(ValueError, match=r"bias should contain 3"):
        F.batch_norm(x, None, None, None, ember.ones(2), training=True)
    with pytest.raises(ValueError, match="at least 2 dims"):
        F.batch_norm(ember.randn(5), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(TypeError, match="batch_norm"):
        F.batch_norm(ember.ones(4, 3, dtype=ember.int64), None, None, training=True)
    with pytest.raises(TypeError, match="weight of dtype float32"):
        F.batch_norm(x, None, None, ember.ones(3, dtype=ember.float64), training=True)
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4D input"):
        enn.BatchNorm2d(3)(x)
    with pytest.raises(ValueError, match="expected 3 channels"):
        enn.BatchNorm1d(3)(ember.randn(4, 5))


def test_empty_batch_in_eval():
    m = enn.BatchNorm2d(3).eval()
    y = m(ember.randn(0, 3, 4, 4))
    assert tuple(y.shape) == (0, 3, 4, 4)
