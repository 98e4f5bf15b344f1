"""Metal sort / argsort / topk (metal/sort.metal: bitonic sort of each row in threadgroup memory),
forward and backward, vs the CPU backend and PyTorch under several fiber schedules: stable ties,
NaN last ascending (first descending), strided views, rows longer than a threadgroup."""

import numpy as np
import pytest

import ember
from conftest import to_np
from metal_util import (
    FLOAT_DTYPES,
    across_schedules,
    fallbacks,
    rand,
    requires_metal,
    reset_fallbacks,
)

pytestmark = requires_metal


def no_fallback():
    bad = {k: v for k, v in fallbacks().items() if k.startswith("sort")}
    assert not bad, bad


def tied(shape, seed):
    """Few distinct values (ties everywhere), with NaN, +-inf and -0.0 sprinkled in."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-4, 5, size=shape).astype(np.float32)
    flat = a.reshape(-1)
    for v in (np.nan, np.inf, -np.inf, -0.0, np.nan):
        flat[rng.integers(0, flat.size)] = v
    return a


# (shape, dim): one element, primes, rows longer than a threadgroup's 256 threads, sorted dim 0
SHAPES = [((1,), 0), ((7,), 0), ((3, 37), 1), ((5, 3), 0), ((2, 300), 1), ((1, 1031), -1)]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + ["int32", "int64"])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("shape,dim", SHAPES)
def test_sort_forward(shape, dim, descending, dtype, torch_ref):
    a = tied(shape, seed=sum(shape))
    if dtype.startswith("int"):
        a = np.nan_to_num(a, nan=7, posinf=9, neginf=-9)
    x = ember.tensor(a).to(getattr(ember, dtype))
    ref_v, ref_i = (to_np(t) for t in ember.sort(x, dim=dim, descending=descending, stable=True))
    reset_fallbacks()
    got_v, got_i = across_schedules(
        lambda: ember.sort(x.to("metal"), dim=dim, descending=descending)
    )
    no_fallback()
    np.testing.assert_array_equal(got_i, ref_i)
    np.testing.assert_array_equal(got_v.view(np.uint8), ref_v.view(np.uint8))  # bits: -0.0, NaN
    # PyTorch's stable sort gives the same order (NaN last ascending, first descending)
    xt = torch_ref.from_numpy(to_np(x.float()) if dtype in FLOAT_DTYPES else a.astype(dtype))
    tv, ti = torch_ref.sort(xt, dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(got_i, ti.numpy())
    np.testing.assert_array_equal(got_v.astype(np.float64), tv.double().numpy())


def test_argsort_noncontiguous(torch_ref):
    a = tied((37, 6), seed=11)
    x = ember.tensor(a)
    ref = to_np(ember.argsort(x.t(), dim=1, descending=True))
    reset_fallbacks()
    (got,) = across_schedules(lambda: ember.argsort(x.to("metal").t(), dim=1, descending=True))
    no_fallback()
    np.testing.assert_array_equal(got, ref)
    want = torch_ref.sort(torch_ref.from_numpy(a).t(), dim=1, descending=True, stable=True)[1]
    np.testing.assert_array_equal(got, want.numpy())


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k", [1, 5, 37])
def test_topk(k, largest, torch_ref):
    a = to_np(rand((4, 37), seed=12))
    a[1, 3] = np.nan
    x = ember.tensor(a)
    ref_v, ref_i = (to_np(t) for t in ember.topk(x, k, dim=1, largest=largest))
    reset_fallbacks()
    got_v, got_i = across_schedules(lambda: ember.topk(x.to("metal"), k, dim=1, largest=largest))
    no_fallback()
    np.testing.assert_array_equal(got_i, ref_i)
    np.testing.assert_array_equal(got_v, ref_v)
    tv, _ = torch_ref.topk(torch_ref.from_numpy(a), k, dim=1, largest=largest)
    np.testing.assert_array_equal(got_v, tv.numpy())


def test_topk_strided_dim0():
    x = rand((6, 29), seed=13)
    ref = [to_np(t) for t in ember.topk(x[:, ::2], 3, dim=0)]
    reset_fallbacks()
    got = across_schedules(lambda: ember.topk(x.to("metal")[:, ::2], 3, dim=0))
    no_fallback()
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_sort_and_topk_backward(dtype):
    x = ember.tensor(tied((3, 41), seed=14)).nan_to_num(0.5).to(getattr(ember, dtype))
    g = rand((3, 41), dtype, seed=15)

    def grad(dev):
        xd = x.to(dev).detach().requires_grad_()
        v, _ = ember.sort(xd, dim=1, descending=True)
        t, _ = ember.topk(xd, 4, dim=1, largest=False)
        ((v * g.to(dev)).sum() + (t * t).sum()).backward()
        return xd.grad

    ref = to_np(grad("cpu"))
    reset_fallbacks()
    (got,) = across_schedules(lambda: grad("metal"))
    no_fallback()
    np.testing.assert_array_equal(got, ref)


def test_sort_empty_and_long_row_fallback():
    e = ember.zeros((3, 0), device="metal")
    assert ember.sort(e, dim=1)[0].shape == (3, 0)
    # rows over EMBER_SORT_MAX_ROW (2048) are documented to run on the CPU kernel
    x = rand((1, 2100), seed=16)
    reset_fallbacks()
    v, i = ember.sort(x.to("metal"), dim=1)
    assert fallbacks().get("sort/sort", 0) >= 1 or fallbacks().get("sort", 0) >= 1, fallbacks()
    rv, ri = ember.sort(x, dim=1)
    np.testing.assert_array_equal(to_np(i), to_np(ri))
    np.testing.assert_array_equal(to_np(v), to_np(rv))
