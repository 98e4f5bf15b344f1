"""Metal conv2d (metal/conv.metal: implicit GEMM forward / weight gradient, direct input gradient)
vs the CPU backend: strides, padding, dilation, groups (depthwise included), odd sizes."""

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

CASES = [
    # N, C, H, W, K, k, stride, padding, dilation, groups, bias
    (1, 1, 5, 5, 1, 3, 1, 0, 1, 1, False),
    (2, 3, 7, 6, 5, 3, 1, 1, 1, 1, True),
    (1, 4, 9, 7, 6, 3, 2, 1, 1, 2, True),
    (2, 3, 8, 8, 3, 3, 1, 2, 2, 3, False),  # depthwise, dilated
    (1, 2, 6, 5, 4, (2, 3), (2, 1), (1, 0), 1, 1, True),
]


@pytest.mark.parametrize("case", CASES)
def test_conv2d_forward_backward(case):
    n, c, h, w, k, ks, stride, pad, dil, groups, has_bias = case
    kh, kw = (ks, ks) if isinstance(ks, int) else ks
    x, wt = rand((n, c, h, w), seed=1), rand((k, c // groups, kh, kw), seed=2)
    b = rand((k,), seed=3) if has_bias else None

    def run(dev):
        xd, wd = x.to(dev).detach().requires_grad_(), wt.to(dev).detach().requires_grad_()
        bd = b.to(dev).detach().requires_grad_() if b is not None else None
        y = F.conv2d(xd, wd, bd, stride=stride, padding=pad, dilation=dil, groups=groups)
        y.backward(ember.ones_like(y) * 0.5 + y.detach() * 0.1)
        return [y, xd.grad, wd.grad] + ([bd.grad] if bd is not None else [])

    ref = [to_np(t) for t in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, "float32", scale=10.0)
    assert not any(k.startswith("conv") for k in fallbacks()), fallbacks()
