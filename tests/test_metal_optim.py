"""Metal fused optimizer steps (metal/optim.metal) vs the CPU backend: several steps of SGD
(momentum, nesterov, weight decay), Adam / AdamW (amsgrad), every claimed dtype."""

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

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, dampening=0.0)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name,kw", CONFIGS)
def test_optimizer_steps(name, kw, dtype):
    shapes = [(1,), (7, 5), (37,)]
    params0 = [rand(s, dtype, seed=i) for i, s in enumerate(shapes)]
    grads = [[rand(s, dtype, seed=10 * k + i) for i, s in enumerate(shapes)] for k in range(3)]

    def run(dev):
        ps = [
            p.to(dev).detach().clone().requires_grad_() for p in params0
        ]  # .to("cpu") does not copy
        opt = getattr(ember.optim, name)(ps, **kw)
        for step in grads:
            for p, g in zip(ps, step):
                p.grad = g.to(dev)
            opt.step()
        return [p.detach() for p in ps]

    ref = [to_np(p) for p in run("cpu")]
    reset_fallbacks()
    got = across_schedules(lambda: run("metal"))
    for a, r in zip(got, ref):
        assert_close_dtype(a, r, dtype)
    assert not any(k.startswith(("sgd", "adam")) for k in fallbacks()), fallbacks()
