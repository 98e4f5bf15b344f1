"""Metal layer_norm / rms_norm (metal/layer_norm.metal) forward and backward vs the CPU backend."""

import pytest

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


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (5, 37), (2, 3, 67)])
def test_norm_forward_backward(shape, affine, rms):
    n = shape[-1]
    x, g = rand(shape, seed=1, scale=3.0) + 2.0, rand(shape, seed=2)
    w, b = rand((n,), seed=3), rand((n,), seed=4)

    def run(dev):
        xd = x.to(dev).detach().requires_grad_()
        wd = w.to(dev).detach().requires_grad_() if affine else None
        bd = b.to(dev).detach().requires_grad_() if affine and not rms else None
        y = F.rms_norm(xd, (n,), wd, eps=1e-5) if rms else F.layer_norm(xd, (n,), wd, bd, eps=1e-5)
        y.backward(g.to(dev))
        return [y, xd.grad] + ([wd.grad] if affine else []) + ([bd.grad] if bd is not None else [])

    ref = [to_np(t) for t in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, "float32", scale=10.0)
    assert not any(k.startswith("layer_norm") for k in fallbacks()), fallbacks()
