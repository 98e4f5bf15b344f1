"""Metal cumsum / cumprod (metal/scan.metal: one threadgroup per line, tiles chained by a carry)
and flip, forward and backward, vs the CPU backend and PyTorch under several fiber schedules."""

import numpy as np
import pytest

import ember
from conftest import to_np
from metal_util import (
    FLOAT_DTYPES,
    across_schedules,
    assert_close_dtype,
    fallbacks,
    rand,
    requires_metal,
    reset_fallbacks,
)

pytestmark = requires_metal


def no_fallback():
    bad = {k: v for k, v in fallbacks().items() if k.split("/")[0] in ("scan", "flip")}
    assert not bad, bad


# (shape, dim): a single element, primes, a line longer than a threadgroup (256 threads), inner > 1
SHAPES = [((1,), 0), ((7,), 0), ((3, 37), 1), ((5, 3), 0), ((2, 300, 3), 1), ((2, 3, 263), -1)]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@pytest.mark.parametrize("shape,dim", SHAPES)
def test_scan_forward(shape, dim, op, dtype, torch_ref):
    x = rand(shape, "float32", seed=3)
    if op == "cumprod":
        x = x * 0.05 + 1.0  # products stay finite and non-trivial
    x = x.to(getattr(ember, dtype))
    fn = getattr(ember, op)
    ref = to_np(fn(x, dim=dim))
    reset_fallbacks()
    (got,) = across_schedules(lambda: fn(x.to("metal"), dim=dim))
    no_fallback()
    assert got.dtype == ref.dtype
    scale = 30.0 if op == "cumsum" else 1.0  # the partial sums grow like sqrt(n)
    assert_close_dtype(got, ref, dtype, scale=scale)
    # PyTorch in float64 on the same (rounded) inputs
    xt = torch_ref.from_numpy(to_np(x.float()).astype(np.float64))
    tref = getattr(torch_ref, op)(xt, dim=dim).numpy()
    assert_close_dtype(got, tref, dtype, scale=scale)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_scan_integers_exact(op, dtype, torch_ref):
    rng = np.random.default_rng(4)
    a = rng.integers(-3, 4, size=(4, 290)).astype(dtype)  # cumprod wraps around like the CPU
    x = ember.tensor(a)
    fn = getattr(ember, op)
    d = getattr(ember, dtype)
    ref = to_np(fn(x, dim=1, dtype=d))
    reset_fallbacks()
    (got,) = across_schedules(lambda: fn(x.to("metal"), dim=1, dtype=d))
    no_fallback()
    np.testing.assert_array_equal(got, ref)
    # an int32 / bool input accumulates in int64 by default, as in PyTorch
    (got64,) = across_schedules(lambda: ember.cumsum(x.to("metal"), dim=1))
    np.testing.assert_array_equal(got64, torch_ref.cumsum(torch_ref.from_numpy(a), 1).numpy())
    (gotb,) = across_schedules(lambda: ember.cumsum(x.to("metal") > 0, dim=1))
    np.testing.assert_array_equal(gotb, np.cumsum(a > 0, axis=1))


def test_scan_noncontiguous_nan_inf():
    a = to_np(rand((37, 5), seed=5)).copy()
    a[3, 1], a[10, 2], a[20, 4], a[21, 4] = np.nan, np.inf, -np.inf, np.inf
    x = ember.tensor(a)
    for op in ("cumsum", "cumprod"):
        fn = getattr(ember, op)
        ref = to_np(fn(x.t(), dim=1))
        reset_fallbacks()
        # [5, 37] scanned along its strided dim 1
        (got,) = across_schedules(lambda fn=fn: fn(x.to("metal").t(), dim=1))
        no_fallback()
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_scan_empty_and_scalar():
    z = ember.zeros((3, 0), device="metal")
    assert ember.cumsum(z, dim=1).shape == (3, 0)
    s = ember.tensor(2.5).to("metal")
    assert float(ember.cumprod(s, dim=0).item()) == 2.5


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_scan_backward(op):
    x = rand((4, 33), seed=6) * 0.2 + 1.0
    g = rand((4, 33), seed=7)
    fn = getattr(ember, op)

    def grad(dev):
        xd = x.to(dev).detach().requires_grad_()
        fn(xd, dim=1).backward(g.to(dev))
        return xd.grad

    ref = to_np(grad("cpu"))
    reset_fallbacks()
    (got,) = across_schedules(lambda: grad("metal"))
    no_fallback()
    assert_close_dtype(got, ref, "float32", scale=10.0)


@pytest.mark.parametrize(
    "dtype", ["float32", "float16", "bfloat16", "int64", "int32", "bool", "uint8"]
)
@pytest.mark.parametrize("dims", [(0,), (1,), (0, 2), (-1,), ()])
def test_flip(dims, dtype):
    a = to_np(rand((3, 5, 7), seed=8) * 4)
    x0 = ember.tensor(a).to(getattr(ember, dtype))
    x = x0.permute(2, 0, 1)  # strided input
    ref = to_np(ember.flip(x, dims))
    reset_fallbacks()
    (got,) = across_schedules(lambda: ember.flip(x0.to("metal").permute(2, 0, 1), dims))
    no_fallback()
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(ref, np.flip(to_np(x), dims) if dims else to_np(x))


def test_flip_backward_and_sliced():
    x = rand((6, 9), seed=9)
    g = rand((5, 5), seed=10)

    def grad(dev):
        xd = x.to(dev).detach().requires_grad_()
        ember.flip(xd[1:, ::2], (0, 1)).backward(g.to(dev))  # an offset, strided view
        return ember.flip(x.to(dev)[1:, ::2], (1,)), xd.grad

    ref = [to_np(t) for t in grad("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: grad("metal"))
    no_fallback()
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
