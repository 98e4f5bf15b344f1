"""Metal reductions (metal/reduce.metal) vs the CPU backend: rows, columns, all elements, the
two-pass path, strided inputs, every claimed dtype, under several fiber schedules."""

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

SHAPES = [
    ((1,), None),
    ((7, 37), 1),
    ((37, 7), 0),
    ((3, 5, 11), (0, 2)),
    ((2, 3), None),
    ((0, 5), 1),
    ((5, 0), 1),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "prod"])
@pytest.mark.parametrize("shape,dim", SHAPES)
def test_value_reductions(op, shape, dim, dtype):
    if op in ("amax", "amin") and 0 in shape:
        pytest.skip("max/min of an empty dim raise (tested on CPU)")
    if op == "prod" and isinstance(dim, tuple):
        pytest.skip("prod takes one dim")
    x = rand(shape, dtype, seed=1, scale=0.5 if op == "prod" else 1.0)
    fn = getattr(ember, op)
    kw = {} if dim is None else {"dim": dim}
    ref = to_np(fn(x, **kw))
    xm = x.to("metal")
    reset_fallbacks()
    (got,) = across_schedules(lambda: fn(xm, **kw))
    assert_close_dtype(got, ref, dtype, scale=max(1.0, float(np.abs(ref).max(initial=0))))
    assert not any(k.startswith("reduce") for k in fallbacks()), fallbacks()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("op", ["argmax", "argmin", "max", "min"])
@pytest.mark.parametrize("shape,dim", [((1,), 0), ((7, 37), 1), ((37, 7), 0), ((2, 3, 5), 1)])
def test_index_reductions(op, shape, dim, dtype):
    x = rand(shape, dtype, seed=2)
    x = ember.round(x * 2) / 2  # ties: the first index wins, as on the CPU
    fn = getattr(ember, op)
    ref = fn(x, dim=dim)
    xm = x.to("metal")
    got = across_schedules(lambda: fn(xm, dim=dim))
    refs = ref if isinstance(ref, tuple) else (ref,)
    for g, r in zip(got, refs):
        np.testing.assert_array_equal(g, to_np(r))


@pytest.mark.parametrize("op", ["argmax", "amax"])
def test_nan_wins(op):
    x = ember.tensor([[1.0, float("nan"), 3.0, float("nan")], [2.0, 5.0, 1.0, 0.0]])
    ref = to_np(getattr(ember, op)(x, dim=1))
    (got,) = across_schedules(lambda: getattr(ember, op)(x.to("metal"), dim=1))
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("op", ["all", "any"])
@pytest.mark.parametrize("shape,dim", [((7, 37), 1), ((37, 7), 0), ((5,), None), ((2, 5001), 1)])
def test_all_any(op, shape, dim):
    rng = np.random.default_rng(3)
    a = rng.random(shape) < (0.97 if op == "all" else 0.03)
    x = ember.tensor(a)
    kw = {} if dim is None else {"dim": dim}
    ref = to_np(getattr(ember, op)(x, **kw))
    (got,) = across_schedules(lambda: getattr(ember, op)(x.to("metal"), **kw))
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_two_pass_long_rows(dtype):
    # a few outputs over > 4096 elements each: partials per threadgroup, then a second pass
    x = rand((2, 5003), dtype, seed=4)
    for fn in (
        lambda t: ember.sum(t, dim=1),
        lambda t: ember.argmax(t, dim=1),
        lambda t: ember.sum(t),
    ):
        ref = to_np(fn(x))
        (got,) = across_schedules(lambda fn=fn: fn(x.to("metal")))
        assert_close_dtype(got, ref, dtype, scale=100.0)


def test_non_contiguous_input():
    x = rand((6, 10), seed=5)
    xt = x.t()[::2]  # [5, 6] view with strides (2, 10)
    ref = to_np(ember.sum(xt, dim=1))
    xm = x.to("metal").t()[::2]
    (got,) = across_schedules(lambda: ember.sum(xm, dim=1))
    assert_close_dtype(got, ref, "float32")


def test_int_sum_falls_back_counted():
    x = ember.arange(10).to("metal")
    reset_fallbacks()
    assert int(ember.sum(x).item()) == 45
    assert any(k.startswith("reduce") for k in fallbacks())
