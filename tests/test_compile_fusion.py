"""ember.compile's graph rewrites beyond the GEMM epilogue: copies into fresh memory dropped (a
temporary lives in the new .grad / output it was copied into). Compiled results equal eager,
and memory handed out by one call is never written by the next."""

from __future__ import annotations

import numpy as np

import ember
from ember import nn

F = nn.functional


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


def _ops(cf, *args) -> list[str]:
    return [r["op"] for r in cf.graph(*args).graph_view() if r["kind"] == "op"]


def _mlp(seed=0):
    ember.manual_seed(seed)
    return nn.Sequential(nn.Linear(7, 13), nn.GELU(), nn.Linear(13, 3))


def test_new_grads_take_the_temporaries_memory_and_stay_fresh():
    m1, m2 = _mlp(), _mlp()

    def stepper(m):
        def step(x, y):
            for p in m.parameters():
                p.grad = None
            loss = F.mse_loss(m(x), y)
            loss.backward()
            return loss.detach()

        return step

    eager, comp = stepper(m1), ember.compile(stepper(m2))
    kept = []  # every call's grads: the next call must not write into them
    ember.manual_seed(1)
    batches = [(ember.randn(5, 7), ember.randn(5, 3)) for _ in range(4)]
    for x, y in batches:
        np.testing.assert_array_equal(_np(comp(x, y)), _np(eager(x, y)))
        for p, q in zip(m1.parameters(), m2.parameters()):
            np.testing.assert_array_equal(_np(q.grad), _np(p.grad))
        kept.append(([q.grad for q in m2.parameters()], [_np(p.grad) for p in m1.parameters()]))
    for grads, ref in kept:
        for g, r in zip(grads, ref):
            np.testing.assert_array_equal(_np(g), r)
    ptrs = [{q.grad.data_ptr() for q in m2.parameters()}]
    comp(*batches[0])
    ptrs.append({q.grad.data_ptr() for q in m2.parameters()})
    assert not ptrs[0] & ptrs[1]  # new memory per call
    ops = _ops(comp, *batches[0])
    assert ops.count("copy (coalesced)") == 4  # two weights, two biases


def test_returned_temporary_copy_is_coalesced_and_fresh():
    def f(x):
        y = (x @ x.t()).relu()
        return y.clone(), y.sum()

    cf = ember.compile(f)
    outs = []
    for i in range(4):
        x = ember.randn(6, 3) + i
        r = cf(x)
        e = f(x)
        np.testing.assert_array_equal(_np(r[0]), _np(e[0]))
        np.testing.assert_allclose(_np(r[1]), _np(e[1]), rtol=1e-6)
        outs.append((r[0], _np(e[0])))
    for got, ref in outs:
        np.testing.assert_array_equal(_np(got), ref)


def test_copy_of_a_temporary_read_later_is_kept():
    w = ember.randn(4, 4, requires_grad=True)

    def step(x):
        w.grad = None
        h = x @ w
        h.sum().backward()
        g = w.grad * 2  # reads the new grad after the copy
        return g, h.detach()

    cf = ember.compile(step)
    for _ in range(3):
        x = ember.randn(3, 4)
        g, h = cf(x)
        np.testing.assert_allclose(_np(g), 2 * _np(x.t() @ ember.ones(3, 4)), rtol=1e-6)
        np.testing.assert_allclose(_np(h), _np(x @ w), rtol=1e-6)


def test_sgd_momentum_train_steps_equal_eager_with_coalesced_grads():
    m1, m2 = _mlp(3), _mlp(3)
    o1 = ember.optim.SGD(m1.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    o2 = ember.optim.SGD(m2.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)

    def stepper(m, o):
        def step(x, y):
            loss = F.cross_entropy(m(x), y)
            o.zero_grad()
            loss.backward()
            o.step()
            return loss.detach()

        return step

    eager, comp = stepper(m1, o1), ember.compile(stepper(m2, o2))
    ember.manual_seed(2)
    for _ in range(6):
        x, y = ember.randn(11, 7), ember.randint(0, 3, (11,))
        np.testing.assert_allclose(_np(comp(x, y)), _np(eager(x, y)), rtol=1e-6)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(_np(q), _np(p), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(_np(q.grad), _np(p.grad), rtol=1e-6, atol=1e-7)
    (entry,) = comp._cache.values()
    assert any(n["op"] == "copy (coalesced)" for n in entry.graph.describe()["nodes"])
