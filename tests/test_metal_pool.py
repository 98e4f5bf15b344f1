"""Metal pooling (metal/pool.metal) vs the CPU backend: max (with indices) and avg pools forward
and backward, regular and adaptive windows, padding, overlapping windows, ceil mode."""

import pytest

import ember
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

POOLS = [
    ("max", lambda x: F.max_pool2d(x, 2)),
    ("max", lambda x: F.max_pool2d(x, 3, stride=2, padding=1)),
    ("max", lambda x: F.max_pool2d(x, 3, stride=2, ceil_mode=True, dilation=1)),
    ("avg", lambda x: F.avg_pool2d(x, 2)),
    ("avg", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)),
    ("avg", lambda x: F.adaptive_avg_pool2d(x, (3, 2))),
    ("max", lambda x: F.adaptive_max_pool2d(x, (2, 3))),
]


@pytest.mark.parametrize("kind,fn", POOLS)
@pytest.mark.parametrize("shape", [(1, 1, 5, 5), (2, 3, 7, 6)])
def test_pool_forward_backward(kind, fn, shape):
    x = rand(shape, seed=1)
    g_seed = 2

    def run(dev):
        xd = x.to(dev).detach().requires_grad_()
        y = fn(xd)
        y.backward(rand(tuple(y.shape), seed=g_seed).to(dev))
        return y, xd.grad

    ref = [to_np(t) for t in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, "float32")
    assert not any(k.startswith(("max_pool", "avg_pool", "pool")) for k in fallbacks()), fallbacks()


def test_max_pool_indices():
    x = rand((2, 2, 6, 5), seed=3)
    ref = [to_np(t) for t in F.max_pool2d(x, 2, return_indices=True)]
    got = across_schedules(lambda: F.max_pool2d(x.to("metal"), 2, return_indices=True))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, "float32")


def test_max_pool_double_backward():
    # d/d(grad_out) of the max-pool backward gathers through the indices (pool_gather)
    x, w = rand((2, 3, 6, 5), seed=4), rand((2, 3, 6, 5), seed=5)

    def run(dev):
        xd = x.to(dev).detach().requires_grad_()
        y = F.max_pool2d(xd, 2)
        gy = ember.ones_like(y).requires_grad_()
        (gx,) = ember.autograd.grad(y, xd, grad_outputs=gy, create_graph=True)
        (gx * w.to(dev)).sum().backward()
        return gy.grad

    ref = to_np(run("cpu"))
    (got,) = across_schedules(lambda: run("metal"))
    assert_close_dtype(got, ref, "float32")
