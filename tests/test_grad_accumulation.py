"""The backward pass sums the gradients reaching a tensor used several times in place when its
buffer is private to the pass: sums must match PyTorch, and a gradient anyone else can see
(another edge, a hook, a custom Function's stash, a second-order graph) must stay untouched."""

import numpy as np
import torch

import ember


def both(fn, *arrays):
    """fn on ember and torch leaves built from arrays; returns (ember grads, torch grads)."""
    e = [ember.tensor(a, requires_grad=True) for a in arrays]
    t = [torch.tensor(a, requires_grad=True) for a in arrays]
    fn(ember, *e).backward()
    fn(torch, *t).backward()
    return [x.grad.numpy() for x in e], [x.grad.numpy() for x in t]


def test_many_uses_sum_like_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5))
    w = rng.standard_normal((5, 5))

    def f(lib, x, w):
        h = x @ w
        h = h + lib.tanh(h) * h  # h feeds three consumers
        a, b, c = h.split([1, 2, 2], dim=1)  # split: three slices summed into one grad
        return (a.sum() + (b * b).sum() + lib.exp(c).sum()) + (x * x).sum()

    ge, gt = both(f, x, w)
    for a, b in zip(ge, gt):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_a_grad_sent_to_two_edges_is_not_summed_into():
    # AddBackward hands one tensor to both inputs; a hook sees each input's own grad
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = ember.tensor([3.0, 4.0], requires_grad=True)
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    s = x + y
    (s * 2 + y * 5).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    assert y.grad.tolist() == [7.0, 7.0] and seen == [[7.0, 7.0]]


def test_a_custom_backward_keeping_its_result_is_not_written():
    kept = []

    class Twice(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            r = g * 2
            kept.append(r)  # the caller keeps a reference: the engine must not sum into it
            return r

    x = ember.tensor([1.0, 2.0], requires_grad=True)
    (Twice.apply(x) + x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]
    assert kept[0].tolist() == [2.0, 2.0]


def test_second_order_through_accumulated_grads():
    x0 = np.array([0.5, -1.5, 2.0])
    xe = ember.tensor(x0, requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    outs = []
    for lib, x in ((ember, xe), (torch, xt)):
        y = (x * x * x + lib.sin(x) * x).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (g * g).sum().backward()
        outs.append((g.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-12)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12)


def test_retain_graph_twice_gives_the_same_grads():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x + x * 4).sum()
    y.backward(retain_graph=True)
    first = x.grad.tolist()
    x.grad = None
    y.backward()
    assert x.grad.tolist() == first == [6.0, 8.0, 10.0]


def test_split_pieces_share_one_backward_node():
    # one SplitBackward0 for all the pieces (as in PyTorch): unused pieces get zeros, and a
    # second-order graph goes through it
    x0 = np.random.default_rng(1).standard_normal((4, 9))
    for split in (
        lambda x: x.split([2, 3, 4], 1),
        lambda x: x.split(4, 1),
        lambda x: x.chunk(3, 0),
    ):
        xe = ember.tensor(x0, requires_grad=True)
        xt = torch.tensor(x0, requires_grad=True)
        for x in (xe, xt):
            pieces = split(x)
            ((pieces[1] ** 3).sum() + pieces[-1].sum()).backward()
        assert split(xe)[0].grad_fn.name() == split(xt)[0].grad_fn.name()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    x = ember.tensor(x0, requires_grad=True)
    assert ember.testing.gradcheck(lambda x: x.split(4, 1)[1] * x.split(4, 1)[0], (x,))
    assert ember.testing.gradgradcheck(lambda x: x.split(4, 1)[1] ** 2, (x,))
