"""ember.compile's graph rewrites beyond the GEMM epilogue: copies into fresh memory dropped (a
temporary lives in the new .grad / output it was copied into). Compiled results equal eager,
and memory handed out by one call is never written by the next."""

from __future__ import annotations

import numpy as np
import pytest

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


# ---------------------------------------------------------------------------------------------
# the backward of split / chunk / unbind: zero-padded pieces summed -> copies into one buffer


def _grads_equal(fn, shapes, n_calls=3, used=None):
    """fn(*params) -> loss; compiled vs eager: losses and grads bitwise; returns the ops."""
    ember.manual_seed(7)
    p1 = [ember.randn(*s).requires_grad_(True) for s in shapes]
    p2 = [p.detach().clone().requires_grad_(True) for p in p1]

    def step(*ps):
        for p in ps:
            p.grad = None
        loss = fn(*ps)
        loss.backward()
        return loss.detach()

    cf = ember.compile(step)
    for _ in range(n_calls):
        np.testing.assert_array_equal(_np(cf(*p2)), _np(step(*p1)))
        for a, b in zip(p1, p2):
            np.testing.assert_array_equal(_np(b.grad), _np(a.grad))
    return _ops(cf, *p2)


def test_split_backward_is_copies_into_the_gradient():
    def f(x, w):
        q, k, v = (x @ w).split(5, dim=-1)  # like attention's qkv
        return (q * k.tanh() + v.exp()).sum()

    # split's backward concatenates the pieces' grads: no zero-filled full-size tensors to sum
    ops = _grads_equal(f, [(3, 7, 4), (4, 15)])
    assert ops.count("fill") == 1 and not any(op.startswith(("fill (", "add (")) for op in ops)


def test_unbind_backward_becomes_copies_into_the_gradient():
    def f(x):
        return sum((i + 1) * u.square().sum() for i, u in enumerate(x.unbind(1)))

    # one select backward per piece: each zero-filled full-size grad and the sums are dropped
    ops = _grads_equal(f, [(3, 4, 5)])
    assert ops.count("fill (dropped)") == 4 and ops.count("add (dropped)") == 3
    assert ops.count("copy (into sum)") == 4


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_chunk_and_unbind_backward_equal_eager(dim):
    def f(x):
        parts = x.chunk(3, dim=dim)  # 7 along dim 1: pieces 3, 3, 1
        a = sum(((i + 1) * p.sin()).sum() for i, p in enumerate(parts))
        return a + sum(u.square().sum() for u in x.unbind(dim))

    _grads_equal(f, [(3, 7, 5)])


def test_unused_piece_keeps_the_zero_fill():
    def f(x):
        a, b, c = x.split([2, 3, 2], dim=1)  # c unused: its slice of the gradient stays 0
        return (a.exp().sum() + (b * 3).sum()) * 1.0

    ops = _grads_equal(f, [(4, 7)])
    assert "add (dropped)" not in ops


def test_transposed_pieces_are_copied_straight_into_place():
    def f(x, w):
        y = (x @ w).reshape(2, 5, 3, 4).transpose(1, 2)  # [2, 3, 5, 4] like attention heads
        q, k = y.contiguous().split(2, dim=-1)
        return (q.transpose(1, 2).contiguous().sin() * k.transpose(1, 2).contiguous()).sum()

    _grads_equal(f, [(2, 5, 6), (6, 12)])


def test_gpt_block_train_steps_equal_eager_with_fused_backward():
    from ember.nn import functional as Fn

    class Block(nn.Module):
        def __init__(self, e=24, h=3):
            super().__init__()
            self.h = h
            self.ln = nn.LayerNorm(e)
            self.qkv = nn.Linear(e, 3 * e)
            self.proj = nn.Linear(e, e)
            self.fc = nn.Linear(e, 4 * e)
            self.out = nn.Linear(4 * e, 5)

        def forward(self, x):  # x [B, T, E]
            b, t, e = x.shape
            q, k, v = self.qkv(self.ln(x)).split(e, dim=-1)
            q, k, v = (z.reshape(b, t, self.h, e // self.h).transpose(1, 2) for z in (q, k, v))
            y = Fn.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, e))
            return self.out(Fn.gelu(self.fc(x)))

    ember.manual_seed(0)
    m1 = Block()
    ember.manual_seed(0)
    m2 = Block()
    o1 = ember.optim.AdamW(m1.parameters(), lr=1e-2)
    o2 = ember.optim.AdamW(m2.parameters(), lr=1e-2)

    def stepper(m, o):
        def step(x, y):
            loss = F.cross_entropy(m(x).reshape(-1, 5), y.reshape(-1))
            o.zero_grad()
            loss.backward()
            o.step()
            return loss.detach()

        return step

    eager, comp = stepper(m1, o1), ember.compile(stepper(m2, o2))
    ember.manual_seed(4)
    for _ in range(5):
        x, y = ember.randn(3, 7, 24), ember.randint(0, 5, (3, 7))
        np.testing.assert_allclose(_np(comp(x, y)), _np(eager(x, y)), rtol=1e-6)
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(_np(q), _np(p), rtol=1e-6, atol=1e-7)
    (entry,) = comp._cache.values()
    ops = [n["op"] for n in entry.graph.describe()["nodes"]]
    assert "copy (forwarded)" in ops and "gemm+bias+gelu+pre" in ops


# ---------------------------------------------------------------------------------------------
# ReLU's backward (x > 0, cast, multiply) as one pass


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (300, 257)])
def test_relu_backward_one_pass_equals_eager(shape):
    def f(x, g):
        y = x.relu()
        (y * g).sum().backward()
        return y.detach()

    ember.manual_seed(0)
    for _ in range(3):
        x0 = ember.randn(*shape)
        x0[0, 0] = 0.0  # exactly at the threshold: gradient 0
        g = ember.randn(*shape)
        g[-1, -1] = float("nan")  # NaN * 0 and NaN * 1 both NaN, as eager
        if shape[0] > 1:
            g[1, 0] = float("inf")
        x1, x2 = x0.clone().requires_grad_(True), x0.clone().requires_grad_(True)
        cf = ember.compile(lambda g_, x_=x2: f(x_, g_))
        for _ in range(3):
            x2.grad = None
            r = cf(g)
        x1.grad = None
        e = f(x1, g)
        np.testing.assert_array_equal(_np(r), _np(e))
        np.testing.assert_array_equal(_np(x2.grad), _np(x1.grad))
    assert "relu_backward (gt*mul)" in _ops(cf, g)


def test_relu_mlp_train_steps_equal_eager_with_fused_relu_backward():
    ember.manual_seed(1)
    m1 = nn.Sequential(nn.Linear(9, 31), nn.ReLU(), nn.Linear(31, 31), nn.ReLU(), nn.Linear(31, 4))
    m2 = nn.Sequential(nn.Linear(9, 31), nn.ReLU(), nn.Linear(31, 31), nn.ReLU(), nn.Linear(31, 4))
    m2.load_state_dict(m1.state_dict())
    o1 = ember.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = ember.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)

    def stepper(m, o):
        def step(x, y):
            loss = F.cross_entropy(m(x), y)
            o.zero_grad()
            loss.backward()
            o.step()
            return loss.detach()

        return step

    eager, comp = stepper(m1, o1), ember.compile(stepper(m2, o2))
    for _ in range(6):
        x, y = ember.randn(17, 9), ember.randint(0, 4, (17,))
        np.testing.assert_array_equal(_np(comp(x, y)), _np(eager(x, y)))
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(_np(q), _np(p))
    (entry,) = comp._cache.values()
    ops = [n["op"] for n in entry.graph.describe()["nodes"]]
    assert ops.count("relu_backward (gt*mul)") == 2
