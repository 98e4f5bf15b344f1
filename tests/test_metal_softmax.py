"""Metal softmax / log_softmax (metal/softmax.metal) forward, and their backward (composed of the
elementwise and sum kernels), vs the CPU backend under several fiber schedules."""

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


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize(
    "shape,dim", [((1, 1), -1), ((7, 37), -1), ((3, 67), 1), ((5, 3), 0), ((2, 3, 129), -1)]
)
def test_softmax_forward(shape, dim, log, dtype):
    x = rand(shape, dtype, seed=1, scale=8.0)  # large logits: the max shift matters
    fn = ember.log_softmax if log else ember.softmax
    ref = to_np(fn(x, dim=dim))
    xm = x.to("metal")
    reset_fallbacks()
    (got,) = across_schedules(lambda: fn(xm, dim=dim))
    assert_close_dtype(got, ref, dtype, scale=10.0 if log else 1.0)
    assert not any(k.startswith("softmax") for k in fallbacks()), fallbacks()


def test_softmax_inf_and_nan_rows():
    x = ember.tensor(
        [[0.0, float("-inf"), 1.0], [float("nan"), 1.0, 2.0], [float("inf"), 0.0, 0.0]]
    )
    ref = to_np(ember.softmax(x, dim=1))
    (got,) = across_schedules(lambda: ember.softmax(x.to("metal"), dim=1))
    np.testing.assert_allclose(got, ref, equal_nan=True, rtol=1e-6)


def test_softmax_empty():
    x = ember.zeros((0, 5), device="metal")
    assert ember.softmax(x, dim=1).shape == (0, 5)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward(log):
    x = rand((6, 41), seed=2, scale=3.0)
    g = rand((6, 41), seed=3)
    fn = ember.log_softmax if log else ember.softmax

    def grad(dev):
        xd = x.to(dev).detach().requires_grad_()
        fn(xd, dim=1).backward(g.to(dev))
        return xd.grad

    ref = to_np(grad("cpu"))
    (got,) = across_schedules(lambda: grad("metal"))
    assert_close_dtype(got, ref, "float32")
