"""Metal fused cross entropy (metal/cross_entropy.metal) forward and backward vs the CPU backend."""

import numpy as np
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


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("rows,classes", [(1, 1), (7, 37), (13, 3)])
def test_cross_entropy(rows, classes, reduction, ls, weighted):
    z = rand((rows, classes), seed=1, scale=4.0)
    rng = np.random.default_rng(2)
    t = rng.integers(0, classes, rows)
    if rows > 2:
        t[1] = -100  # ignored
    t = ember.tensor(t.astype(np.int64))
    w = ember.tensor(rng.random(classes).astype(np.float32) + 0.5) if weighted else None

    def run(dev):
        zd = z.to(dev).detach().requires_grad_()
        loss = F.cross_entropy(
            zd,
            t.to(dev),
            weight=None if w is None else w.to(dev),
            reduction=reduction,
            label_smoothing=ls,
        )
        loss.sum().backward()
        return loss, zd.grad

    ref = [to_np(a) for a in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, "float32", scale=10.0)
    assert not any(k.startswith("cross_entropy") for k in fallbacks()), fallbacks()


def test_out_of_range_target_raises():
    z = rand((3, 4)).to("metal")
    with pytest.raises(Exception):
        F.cross_entropy(z, ember.tensor([0, 4, 1]).to("metal"))
