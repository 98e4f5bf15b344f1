"""Pooling: max / avg / adaptive pools (1-D and 2-D) against PyTorch (outputs, indices and
gradients) over kernel/stride/padding/dilation/ceil_mode/count_include_pad/divisor_override,
odd sizes, unbatched and non-contiguous inputs, each float dtype; ties and NaN; float64
gradcheck incl. double backward; the nn layers (repr, forward); bad input; each ISA path."""

import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.testing import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"float32": 1e-5, "float64": 1e-12, "float16": 2e-3, "bfloat16": 2e-2}


# ----------------------------------------------------------------------------- helpers
def pair(shape, dtype="float32", seed=0, layout="contig", values=None):
    """(ember, torch) leaf tensors with the same values. layout 'T' swaps the last two dims of
    the stored array (a transposed view); 'step' takes every other element of the last dim."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    base = {
        "contig": shape,
        "T": shape[:-2] + shape[-2:][::-1],
        "step": shape[:-1] + (2 * shape[-1],),
    }[layout]
    a = rng.standard_normal(base) if values is None else values(rng, base)
    t = torch.tensor(a, dtype=torch.float64).to(getattr(torch, dtype))
    e = ember.tensor(a, dtype=ember.float64).to(getattr(ember, dtype))
    if layout == "T":
        t, e = t.transpose(-1, -2), e.transpose(-1, -2)
    elif layout == "step":
        t, e = t[..., ::2], e[..., ::2]
    assert tuple(e.shape) == shape
    return e.requires_grad_(True), t.requires_grad_(True)


def np_of(t):
    t = t.detach()
    if isinstance(t, torch.Tensor):
        return t.to(torch.float64).numpy() if t.is_floating_point() else t.numpy()
    return t.to(ember.float64).numpy() if t.dtype.is_floating_point else t.numpy()


def close(e, t, dtype="float32"):
    assert tuple(e.shape) == tuple(t.shape), (tuple(e.shape), tuple(t.shape))
    tol = TOL[dtype]
    np.testing.assert_allclose(np_of(e), np_of(t), rtol=tol, atol=tol, equal_nan=True)


def check_fwd_bwd(ef, tf, shape, dtype="float32", layout="contig", seed=0, indices=False):
    """ef/tf: ember and torch functions of one input; compares outputs (and indices) and the
    input gradient for a random output gradient."""
    e, t = pair(shape, dtype, seed, layout)
    eo, to = ef(e), tf(t)
    if indices:
        (eo, ei), (to, ti) = eo, to
        assert ei.dtype == ember.int64
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    close(eo, to, dtype)
    assert eo.dtype == e.dtype
    g = np.random.default_rng(seed + 1).standard_normal(tuple(eo.shape))
    (ge,) = ember.autograd.grad(eo, e, ember.tensor(g).to(e.dtype))
    (gt,) = torch.autograd.grad(to, t, torch.tensor(g).to(t.dtype))
    close(ge, gt, dtype)


# ----------------------------------------------------------------------------- max pools
MAX2D = [
    # shape, kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 3, 9, 11), 2, None, 0, 1, False),
    ((2, 3, 9, 11), 2, None, 0, 1, True),
    ((1, 2, 7, 7), 3, 2, 1, 1, False),
    ((1, 2, 7, 7), 3, 2, 1, 1, True),
    ((2, 2, 10, 13), (2, 3), (1, 2), (1, 0), (2, 1), False),
    ((2, 2, 10, 13), (3, 2), (2, 3), (1, 1), (1, 2), True),
    ((1, 1, 5, 5), 5, 1, 2, 1, False),
    ((3, 1, 1, 1), 1, 1, 0, 1, False),
    ((1, 3, 13, 1), (3, 1), (2, 1), (1, 0), 1, True),
    ((2, 1, 11, 7), 2, 3, 1, 3, True),
    ((1, 1, 5, 5), 2, 1, 1, 6, False),  # a window with no tap inside the input
]


@pytest.mark.parametrize("case", MAX2D)
def test_max_pool2d_grid(case):
    shape, k, s, p, d, c = case
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=c, return_indices=True)
    check_fwd_bwd(
        lambda x, kw=kw: F.max_pool2d(x, **kw),
        lambda x, kw=kw: TF.max_pool2d(x, **kw),
        shape,
        indices=True,
    )
    kw.pop("return_indices")
    check_fwd_bwd(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), shape)


MAX1D = [
    ((2, 3, 10), 2, None, 0, 1, False),
    ((2, 3, 75), 2, None, 0, 1, False),
    ((2, 3, 11), 2, None, 0, 1, True),
    ((1, 2, 13), 3, 2, 1, 2, True),
    ((3, 1, 7), 4, 1, 2, 1, False),
    ((1, 1, 1), 1, 1, 0, 1, False),
]


@pytest.mark.parametrize("case", MAX1D)
def test_max_pool1d_grid(case):
    shape, k, s, p, d, c = case
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=c)
    check_fwd_bwd(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), shape)
    check_fwd_bwd(
        lambda x: F.max_pool1d_with_indices(x, **kw),
        lambda x: TF.max_pool1d_with_indices(x, **kw),
        shape,
        indices=True,
    )


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("layout", ["T", "step"])
def test_max_pool_dtypes_layouts(dtype, layout):
    kw = dict(kernel_size=2, return_indices=True)
    check_fwd_bwd(
        lambda x: F.max_pool2d(x, **kw),
        lambda x: TF.max_pool2d(x, **kw),
        (2, 3, 6, 8),
        dtype,
        layout,
        indices=True,
    )
    kw = dict(kernel_size=3, stride=2, padding=1, return_indices=True)
    check_fwd_bwd(
        lambda x: F.max_pool2d(x, **kw),
        lambda x: TF.max_pool2d(x, **kw),
        (2, 3, 7, 5),
        dtype,
        layout,
        indices=True,
    )
    check_fwd_bwd(
        lambda x: F.max_pool1d(x, 2), lambda x: TF.max_pool1d(x, 2), (2, 3, 9), dtype, layout
    )


def test_max_pool_unbatched_and_empty_batch():
    for shape in [(3, 6, 7), (1, 5, 5)]:
        kw = dict(kernel_size=2, stride=1, return_indices=True)
        check_fwd_bwd(
            lambda x, kw=kw: F.max_pool2d(x, **kw),
            lambda x, kw=kw: TF.max_pool2d(x, **kw),
            shape,
            indices=True,
        )
    check_fwd_bwd(lambda x: F.max_pool1d(x, 3), lambda x: TF.max_pool1d(x, 3), (4, 10))
    for fn, tfn, shape in [
        (F.max_pool2d, TF.max_pool2d, (0, 3, 4, 4)),
        (F.max_pool1d, TF.max_pool1d, (0, 3, 4)),
        (F.avg_pool2d, TF.avg_pool2d, (0, 3, 4, 4)),
        (F.avg_pool1d, TF.avg_pool1d, (0, 3, 4)),
    ]:
        e = ember.zeros(shape, requires_grad=True)
        out = fn(e, 2)
        assert tuple(out.shape) == tuple(tfn(torch.zeros(shape), 2).shape)
        out.sum().backward()
        assert tuple(e.grad.shape) == shape


def test_max_pool_ties_and_nan():
    # many ties: PyTorch keeps the first maximum in scan order
    def ties(rng, shape):
        return rng.integers(0, 3, shape).astype(np.float64)

    for k, s, p in [(2, 2, 0), (3, 1, 1), (3, 2, 1)]:
        e = ember.tensor(ties(np.random.default_rng(k), (2, 2, 7, 8)), dtype=ember.float32)
        t = torch.tensor(e.numpy())
        eo, ei = F.max_pool2d(e, k, s, p, return_indices=True)
        to, ti = TF.max_pool2d(t, k, s, p, return_indices=True)
        close(eo, to)
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
        eo, ei = F.adaptive_max_pool2d(e, (3, 5), return_indices=True)
        to, ti = TF.adaptive_max_pool2d(t, (3, 5), return_indices=True)
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    # NaN propagates (the last NaN of a window wins); -inf windows keep their first index
    nan, inf = float("nan"), float("inf")
    a = np.array(
        [[1, nan, 2, 3, -inf, -inf], [nan, 0, 5, nan, -inf, -inf], [4, 4, 4, 4, 1, 1]],
        dtype=np.float32,
    )[None, None]
    e, t = ember.tensor(a), torch.tensor(a)
    for fn, tfn, arg in [
        (F.max_pool2d, TF.max_pool2d, 2),
        (F.max_pool2d, TF.max_pool2d, (3, 2)),
        (F.adaptive_max_pool2d, TF.adaptive_max_pool2d, (2, 3)),
    ]:
        eo, ei = fn(e, arg, return_indices=True)
        to, ti = tfn(t, arg, return_indices=True)
        close(eo, to)
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    # NaN and ties in long rows (the vector loops) and short ones (their tails)
    rng = np.random.default_rng(5)
    for shape in [(2, 3, 8, 70), (2, 3, 9, 15), (3, 2, 6, 6)]:
        r = rng.integers(0, 4, shape).astype(np.float32)
        r[rng.random(shape) < 0.05] = nan
        e, t = ember.tensor(r), torch.tensor(r)
        for arg in [2, 3]:
            eo, ei = F.max_pool2d(e, arg, return_indices=True)
            to, ti = TF.max_pool2d(t, arg, return_indices=True)
            close(eo, to)
            np.testing.assert_array_equal(ei.numpy(), ti.numpy())
        eo, ei = F.max_pool1d(e.flatten(0, 1), 2, return_indices=True)
        to, ti = TF.max_pool1d(t.flatten(0, 1), 2, return_indices=True)
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    e, t = ember.tensor(a), torch.tensor(a)
    eo, ei = F.max_pool1d(e[0], 3, 1, return_indices=True)
    to, ti = TF.max_pool1d(t[0], 3, 1, return_indices=True)
    close(eo, to)
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())


# ----------------------------------------------------------------------------- avg pools
AVG2D = [
    # shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    ((2, 3, 8, 8), 2, None, 0, False, True, None),
    ((2, 3, 9, 11), 2, None, 0, True, True, None),
    ((2, 3, 9, 11), 2, None, 0, True, False, None),
    ((1, 2, 7, 7), 3, 2, 1, False, True, None),
    ((1, 2, 7, 7), 3, 2, 1, True, False, None),
    ((1, 2, 7, 7), 3, 2, 1, True, True, None),
    ((2, 2, 10, 13), (2, 3), (1, 2), (1, 0), False, False, None),
    ((2, 2, 10, 13), (3, 2), (2, 3), (1, 1), True, True, 5),
    ((2, 2, 8, 8), 2, 2, 0, False, True, 3),
    ((2, 2, 5, 7), 3, 1, 1, False, True, -2),
    ((3, 1, 1, 1), 1, 1, 0, False, True, None),
    ((1, 3, 13, 2), (5, 1), (2, 1), (2, 0), True, False, None),
]


@pytest.mark.parametrize("case", AVG2D)
def test_avg_pool2d_grid(case):
    shape, k, s, p, c, cip, div = case
    kw = dict(
        kernel_size=k, stride=s, padding=p, ceil_mode=c, count_include_pad=cip, divisor_override=div
    )
    check_fwd_bwd(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), shape)


AVG1D = [
    ((2, 3, 10), 2, None, 0, False, True),
    ((2, 3, 11), 2, None, 0, False, True),
    ((2, 3, 11), 2, None, 0, True, True),
    ((1, 2, 13), 3, 2, 1, True, False),
    ((1, 2, 13), 3, 2, 1, True, True),
    ((3, 1, 7), 4, 1, 2, False, False),
    ((1, 1, 1), 1, 1, 0, False, True),
]


@pytest.mark.parametrize("case", AVG1D)
def test_avg_pool1d_grid(case):
    shape, k, s, p, c, cip = case
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=c, count_include_pad=cip)
    check_fwd_bwd(lambda x: F.avg_pool1d(x, **kw), lambda x: TF.avg_pool1d(x, **kw), shape)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("layout", ["T", "step"])
def test_avg_pool_dtypes_layouts(dtype, layout):
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]:
        check_fwd_bwd(
            lambda x, kw=kw: F.avg_pool2d(x, **kw),
            lambda x, kw=kw: TF.avg_pool2d(x, **kw),
            (2, 3, 7, 8),
            dtype,
            layout,
        )
    check_fwd_bwd(
        lambda x: F.avg_pool1d(x, 2), lambda x: TF.avg_pool1d(x, 2), (2, 3, 9), dtype, layout
    )


def test_avg_pool_unbatched():
    kw = dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)
    check_fwd_bwd(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), (3, 7, 6))
    check_fwd_bwd(lambda x: F.avg_pool1d(x, **kw), lambda x: TF.avg_pool1d(x, **kw), (3, 7))


# ----------------------------------------------------------------------------- adaptive pools
ADAPTIVE2D = [
    ((2, 3, 8, 8), (4, 4)),
    ((2, 3, 10, 7), (3, 5)),
    ((2, 3, 10, 7), (7, 3)),
    ((1, 2, 5, 13), (11, 17)),  # larger than the input: overlapping windows
    ((2, 2, 9, 6), 1),
    ((2, 2, 9, 6), (None, 4)),
    ((2, 2, 9, 6), (5, None)),
    ((3, 7, 5), (2, 3)),  # unbatched
    ((1, 1, 1, 1), (1, 1)),
]


@pytest.mark.parametrize("case", ADAPTIVE2D)
def test_adaptive_pool2d(case):
    shape, size = case
    check_fwd_bwd(
        lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size), shape
    )
    check_fwd_bwd(
        lambda x: F.adaptive_max_pool2d(x, size, True),
        lambda x: TF.adaptive_max_pool2d(x, size, True),
        shape,
        indices=True,
    )


@pytest.mark.parametrize("case", [((2, 3, 10), 4), ((2, 3, 7), 3), ((1, 2, 5), 9), ((3, 11), 1)])
def test_adaptive_pool1d(case):
    shape, size = case
    check_fwd_bwd(
        lambda x: F.adaptive_avg_pool1d(x, size), lambda x: TF.adaptive_avg_pool1d(x, size), shape
    )
    check_fwd_bwd(
        lambda x: F.adaptive_max_pool1d(x, size, True),
        lambda x: TF.adaptive_max_pool1d(x, size, True),
        shape,
        indices=True,
    )


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_adaptive_dtypes_layouts(dtype):
    for fn, tfn in [
        (F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d),
        (F.adaptive_max_pool2d, TF.adaptive_max_pool2d),
    ]:
        check_fwd_bwd(
            lambda x, fn=fn: fn(x, (3, 2)),
            lambda x, tfn=tfn: tfn(x, (3, 2)),
            (2, 3, 7, 5),
            dtype,
            "T",
        )


def test_adaptive_empty_output_and_channels():
    e = ember.zeros((1, 2, 4, 4), requires_grad=True)
    for fn, tfn in [
        (F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d),
        (F.adaptive_max_pool2d, TF.adaptive_max_pool2d),
    ]:
        out = fn(e, (0, 2))
        assert tuple(out.shape) == tuple(tfn(torch.zeros(1, 2, 4, 4), (0, 2)).shape)
        out.sum().backward()
        np.testing.assert_array_equal(e.grad.numpy(), 0)
    # adaptive avg pools accept zero channels, like PyTorch
    assert tuple(F.adaptive_avg_pool2d(ember.zeros((2, 0, 4, 4)), 2).shape) == (2, 0, 2, 2)


# ----------------------------------------------------------------------------- gradcheck
def rand64(*shape, seed=0):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_gradcheck_float64():
    x = rand64(2, 2, 5, 6)
    gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    gradcheck(lambda x: F.max_pool2d(x.transpose(-1, -2), 2), (x,))
    gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), (x,))
    gradcheck(lambda x: F.avg_pool2d(x, 2, divisor_override=3), (x,))
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), (x,))
    gradcheck(lambda x: F.adaptive_max_pool2d(x, (2, 4)), (x,))
    y = rand64(2, 3, 7, seed=1)
    gradcheck(lambda y: F.max_pool1d(y, 2, 1, 1, 2), (y,))
    gradcheck(lambda y: F.avg_pool1d(y, 3, 2, 1, True), (y,))
    gradcheck(lambda y: F.adaptive_avg_pool1d(y, 4), (y,))
    gradcheck(lambda y: F.adaptive_max_pool1d(y, 3), (y,))


def test_double_backward():
    x = rand64(1, 2, 5, 6)
    gradgradcheck(lambda x: F.max_pool2d(x, 2, 1), (x,))
    gradgradcheck(lambda x: F.max_pool2d(x, 2), (x,))
    gradgradcheck(lambda x: F.avg_pool2d(x, 2), (x,))
    gradgradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (x,))
    gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, (2, 4)), (x,))
    gradgradcheck(lambda x: F.adaptive_max_pool1d(x.flatten(-2), 5), (x,))
    # second derivative of sum(max_pool(x) ** 2) is 2 at each selected input, as in torch
    e, t = pair((1, 2, 6, 6), "float64")
    ge = ember.autograd.grad((F.max_pool2d(e, 2, 1) ** 2).sum(), e, create_graph=True)[0]
    gt = torch.autograd.grad((TF.max_pool2d(t, 2, 1) ** 2).sum(), t, create_graph=True)[0]
    close(ge, gt, "float64")
    close(ember.autograd.grad(ge.sum(), e)[0], torch.autograd.grad(gt.sum(), t)[0], "float64")


def test_grad_fn_names():
    x = ember.zeros((1, 1, 4, 4), requires_grad=True)
    assert F.max_pool2d(x, 2).grad_fn.name() == "MaxPool2DWithIndicesBackward0"
    assert F.avg_pool2d(x, 2).grad_fn.name() == "AvgPool2DBackward0"
    assert F.adaptive_avg_pool2d(x, 2).grad_fn.name() == "AdaptiveAvgPool2DBackward0"
    assert F.adaptive_max_pool2d(x, 2).grad_fn.name() == "AdaptiveMaxPool2DBackward0"


# ----------------------------------------------------------------------------- layers
LAYERS = [
    ("MaxPool1d", (3,), {}, (2, 3, 10)),
    ("MaxPool1d", (3, 2, 1, 2), {"ceil_mode": True}, (2, 3, 10)),
    ("MaxPool2d", ((2, 3),), {"return_indices": True}, (2, 3, 8, 9)),
    ("MaxPool2d", (3, 2, 1), {"dilation": 1, "ceil_mode": True}, (2, 3, 8, 9)),
    ("AvgPool1d", (3,), {}, (2, 3, 10)),
    ("AvgPool1d", (3, 2, 1), {"count_include_pad": False}, (2, 3, 10)),
    ("AvgPool2d", (3,), {"divisor_override": 2, "ceil_mode": True}, (2, 3, 8, 9)),
    ("AvgPool2d", ((2, 3), (1, 2), (1, 0)), {}, (3, 8, 9)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10)),
    ("AdaptiveAvgPool2d", ((None, 3),), {}, (2, 3, 8, 9)),
    ("AdaptiveMaxPool1d", (3, True), {}, (2, 3, 10)),
    ("AdaptiveMaxPool2d", (3,), {}, (2, 3, 8, 9)),
]


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_layers(case):
    name, args, kwargs, shape = case
    em, tm = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(em) == repr(tm)
    e, t = pair(shape)
    eo, to = em(e), tm(t)
    if isinstance(to, tuple):
        np.testing.assert_array_equal(eo[1].numpy(), to[1].numpy())
        eo, to = eo[0], to[0]
    close(eo, to)


def test_layers_in_model():
    model = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    out = model(ember.ones((2, 3, 8, 8), requires_grad=True))
    assert tuple(out.shape) == (2, 3)


def test_top_level_functions():
    e, t = pair((2, 3, 9))
    close(ember.max_pool1d(e, 2), torch.max_pool1d(t, 2))
    close(ember.avg_pool1d(e, 3, 2, 1), torch.avg_pool1d(t, 3, 2, 1))
    close(ember.adaptive_avg_pool1d(e, 4), torch.adaptive_avg_pool1d(t, 4))
    close(ember.adaptive_max_pool1d(e, 4)[0], torch.adaptive_max_pool1d(t, 4)[0])
    e, t = pair((2, 3, 6, 7))
    close(ember.max_pool2d(e, 2), torch.max_pool2d(t, 2))


# ----------------------------------------------------------------------------- bad input
BAD = [
    (lambda x: F.max_pool2d(x, 0), "kernel_size"),
    (lambda x: F.max_pool2d(x, -2), "kernel_size"),
    (lambda x: F.max_pool2d(x, 2, 0), "stride"),
    (lambda x: F.max_pool2d(x, 2, (1, -1)), "stride"),
    (lambda x: F.max_pool2d(x, 2, 2, -1), "padding"),
    (lambda x: F.max_pool2d(x, 2, 2, 2), "padding"),
    (lambda x: F.max_pool2d(x, 3, 2, 1, 0), "dilation"),
    (lambda x: F.max_pool2d(x, 7), "output size"),
    (lambda x: F.max_pool2d(x, 3, dilation=4), "output size"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), "kernel_size"),
    (lambda x: F.max_pool2d(x, 2, (1, 1, 1)), "stride"),
    (lambda x: F.max_pool2d(x[0, 0], 2), r"3-D.*shape \[6, 6\]"),
    (lambda x: F.max_pool2d(x[None], 2), r"4-D.*shape \[1, 1, 2, 6, 6\]"),
    (lambda x: F.max_pool1d(x, 2), r"3-D.*shape \[1, 2, 6, 6\]"),
    (lambda x: F.max_pool1d(x[0], 2, padding=2), "padding"),
    (lambda x: F.avg_pool2d(x, 2, padding=3), "padding"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
    (lambda x: F.avg_pool2d(x, 8), "output size"),
    (lambda x: F.avg_pool1d(x[0], (2, 2)), "kernel_size"),
    (lambda x: F.adaptive_avg_pool2d(x, (2, -1)), "output_size"),
    (lambda x: F.adaptive_avg_pool2d(x, (2, 2, 2)), "output_size"),
    (lambda x: F.adaptive_max_pool2d(x[0, 0], 2), r"shape \[6, 6\]"),
    (lambda x: F.adaptive_max_pool1d(x, 2), r"shape \[1, 2, 6, 6\]"),
    (lambda x: F.max_pool2d(ember.zeros((1, 0, 4, 4)), 2), "non-zero"),
    (lambda x: F.adaptive_max_pool2d(ember.zeros((1, 2, 0, 4)), 2), "non-zero"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input(i):
    fn, words = BAD[i]
    x = ember.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match=words) as info:
        fn(x)
    msg = str(info.value)
    assert "pool" in msg


def test_bad_types():
    x = ember.zeros((1, 2, 6, 6))
    with pytest.raises(TypeError, match="max_pool2d"):
        F.max_pool2d(ember.zeros((1, 2, 6, 6), dtype=ember.bool), 2)
    with pytest.raises(TypeError):
        F.max_pool2d(x, 2.5)
    with pytest.raises(TypeError, match="output_size"):
        F.adaptive_avg_pool2d(x, (2, "a"))
    with pytest.raises(TypeError):
        F.avg_pool2d([[1.0]], 2)


# ----------------------------------------------------------------------------- ISA paths
def isa_results(out=None):
    """Outputs, indices and gradients of the vectorized and generic paths (NaN and ties
    included); run in a subprocess with EMBER_CPU_ISA set, and here (the host's best ISA, which
    every other test checks against torch)."""
    rng = np.random.default_rng(0)
    res = []
    for shape in [(2, 3, 14, 14), (2, 3, 8, 70), (1, 2, 9, 33)]:
        a = rng.integers(0, 5, shape).astype(np.float32)
        a[rng.random(shape) < 0.03] = np.nan
        for dt in [ember.float32, ember.float64]:
            e = ember.tensor(a).to(dt).requires_grad_(True)
            for fn, args in [
                (F.max_pool2d, (2,)),
                (F.max_pool2d, (3, 2, 1)),
                (F.avg_pool2d, (2,)),
                (F.avg_pool2d, (3, 1, 1)),
                (F.adaptive_avg_pool2d, (1,)),
                (F.adaptive_max_pool2d, ((3, 5),)),
                (F.adaptive_max_pool2d, (1,)),
                (F.max_pool2d, ((1, 3), 1, (0, 1))),
            ]:
                o = fn(e, *args)
                g = ember.tensor(rng.standard_normal(tuple(o.shape))).to(dt)
                res += [o.detach().numpy(), ember.autograd.grad(o, e, g)[0].numpy()]
            for args in [(2,), (3, 1), (4, 2, 2, 2)]:
                o, i = F.max_pool1d(e.flatten(0, 2), *args, return_indices=True)
                res += [o.detach().numpy(), i.numpy()]
    if out:
        np.savez(out, *res)
    return res


@pytest.mark.parametrize("isa", ["scalar", "avx2"])
def test_each_isa_path(isa, tmp_path):
    env = dict(os.environ, EMBER_CPU_ISA=isa)
    env["PYTHONPATH"] = os.pathsep.join(
        p
        for p in [os.path.dirname(os.path.dirname(ember.__file__)), env.get("PYTHONPATH", "")]
        if p
    )
    out = str(tmp_path / "res.npz")
    # isa_results' own source, without this module's imports (torch is slow to import)
    script = "import numpy as np, ember, ember.nn.functional as F\n" + inspect.getsource(
        isa_results
    )
    script += textwrap.dedent(
        f"""
        got = ember._C.cpu_isa()
        order = ["scalar", "avx2", "avx512"]
        assert got == {isa!r} or (got in order and order.index(got) < order.index({isa!r})), got
        isa_results({out!r})
        print("ok", got)
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok")
    got = np.load(out)
    for k, want in enumerate(isa_results()):
        np.testing.assert_allclose(got[f"arr_{k}"], want, rtol=1e-5, atol=1e-6, equal_nan=True)


# ----------------------------------------------------------------------------- global pools
GLOBAL = [(2, 3, 1, 1), (2, 3, 2, 2), (2, 3, 3, 5), (3, 2, 7, 7), (2, 3, 14, 14), (1, 2, 1, 37)]


@pytest.mark.parametrize("shape", GLOBAL)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_pools(shape, dtype):
    """Adaptive pools to 1 x 1 (and plane-sized kernels) take whole-plane paths."""
    for ef, tf in [
        (lambda x: F.adaptive_avg_pool2d(x, 1), lambda x: TF.adaptive_avg_pool2d(x, 1)),
        (lambda x: F.adaptive_avg_pool2d(x, (1, 1)), lambda x: TF.adaptive_avg_pool2d(x, (1, 1))),
        (
            lambda x: F.adaptive_avg_pool1d(x.flatten(-2), 1),
            lambda x: TF.adaptive_avg_pool1d(x.flatten(-2), 1),
        ),
        (lambda x: F.avg_pool2d(x, shape[-2:]), lambda x: TF.avg_pool2d(x, shape[-2:])),
    ]:
        check_fwd_bwd(ef, tf, shape, dtype)
    for ef, tf in [
        (
            lambda x: F.adaptive_max_pool2d(x, 1, return_indices=True),
            lambda x: TF.adaptive_max_pool2d(x, 1, return_indices=True),
        ),
        (
            lambda x: F.adaptive_max_pool1d(x.flatten(-2), 1, return_indices=True),
            lambda x: TF.adaptive_max_pool1d(x.flatten(-2), 1, return_indices=True),
        ),
        (
            lambda x: F.max_pool2d(x, shape[-2:], return_indices=True),
            lambda x: TF.max_pool2d(x, shape[-2:], return_indices=True),
        ),
    ]:
        check_fwd_bwd(ef, tf, shape, dtype, indices=True)
    check_fwd_bwd(
        lambda x: F.adaptive_avg_pool2d(x, 1),
        lambda x: TF.adaptive_avg_pool2d(x, 1),
        shape,
        "float16",
    )
    check_fwd_bwd(
        lambda x: F.adaptive_avg_pool2d(x, 1),
        lambda x: TF.adaptive_avg_pool2d(x, 1),
        shape,
        "float32",
        "T",
    )


def test_global_max_ties_nan_inf():
    nan, inf = float("nan"), float("inf")
    rng = np.random.default_rng(3)
    for shape in [(4, 3, 9, 9), (2, 2, 2, 3), (2, 5, 16, 16)]:
        base = rng.integers(0, 4, shape).astype(np.float32)
        variants = [base.copy() for _ in range(5)]
        variants[1][..., -1, -1] = 9  # the maximum last (the scalar tail)
        variants[2][rng.random(shape) < 0.02] = nan
        variants[3][rng.random(shape) < 0.05] = inf
        variants[4] = -np.abs(base) * 0.0  # +-0 ties: the first zero wins
        variants[4][..., 0, 0] = 0.0
        for a in variants:
            for dt in ["float32", "float64"]:
                e, t = (
                    ember.tensor(a).to(getattr(ember, dt)),
                    torch.tensor(a).to(getattr(torch, dt)),
                )
                eo, ei = F.adaptive_max_pool2d(e, 1, return_indices=True)
                to, ti = TF.adaptive_max_pool2d(t, 1, return_indices=True)
                close(eo, to, dt)
                np.testing.assert_array_equal(ei.numpy(), ti.numpy())
                np.testing.assert_array_equal(np.signbit(eo.numpy()), np.signbit(to.numpy()))
    x = ember.full((1, 1, 5, 5), -inf)
    eo, ei = F.adaptive_max_pool2d(x, 1, return_indices=True)
    assert ei.item() == 0 and eo.item() == -inf


def test_global_gradcheck():
    x = rand64(2, 3, 4, 5)
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, 1), (x,))
    gradcheck(lambda x: F.adaptive_max_pool2d(x, 1), (x,))
    gradcheck(lambda x: F.adaptive_avg_pool1d(x.flatten(-2), 1), (x,))
    gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, 1), (x,))


# ----------------------------------------------------------------------------- vector rows
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool_whole_window_rows(dtype):
    """Stride-1 and strided pools over long rows (the taps-outer vector path) with ties and
    NaN, against torch's values and indices."""
    rng = np.random.default_rng(11)
    a = rng.integers(0, 6, (2, 3, 5, 67)).astype(np.float64)
    a[rng.random(a.shape) < 0.02] = np.nan
    e, t = ember.tensor(a).to(getattr(ember, dtype)), torch.tensor(a).to(getattr(torch, dtype))
    for k, s, p, d in [
        (3, 1, 0, 1),
        (3, 1, 1, 1),
        (5, 1, 2, 2),
        (3, 2, 1, 1),
        (4, 3, 2, 1),
        (2, 1, 0, 3),
    ]:
        eo, ei = F.max_pool1d(e.flatten(0, 1), k, s, p, d, return_indices=True)
        to, ti = TF.max_pool1d(t.flatten(0, 1), k, s, p, d, return_indices=True)
        close(eo, to, dtype)
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
        close(
            F.max_pool1d(e.flatten(0, 1), k, s, p, d),
            TF.max_pool1d(t.flatten(0, 1), k, s, p, d),
            dtype,
        )
        eo, ei = F.max_pool2d(e, (2, k), (1, s), (1, p), (1, d), return_indices=True)
        to, ti = TF.max_pool2d(t, (2, k), (1, s), (1, p), (1, d), return_indices=True)
        close(eo, to, dtype)
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    check_fwd_bwd(
        lambda x: F.max_pool1d(x, 3, 1, 1), lambda x: TF.max_pool1d(x, 3, 1, 1), (2, 3, 40), dtype
    )


# ----------------------------------------------------------------------------- integer inputs
INT_DTYPES = ["int32", "int64", "uint8"]


def int_pair(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    lo = 0 if dtype == "uint8" else -50
    a = rng.integers(lo, 50, shape)
    return ember.tensor(a).to(getattr(ember, dtype)), torch.tensor(a).to(getattr(torch, dtype))


def same(e, t):
    assert e.dtype == getattr(ember, str(t.dtype).split(".")[-1])
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_int_max_pools(dtype):
    e, t = int_pair((2, 3, 9, 11), dtype)
    for k, s, p, d, c in [
        (2, None, 0, 1, False),
        (3, 2, 1, 1, True),
        ((2, 3), 1, (1, 0), (2, 1), False),
        ((9, 11), None, 0, 1, False),
    ]:
        for ret in [False, True]:
            eo = F.max_pool2d(e, k, s, p, d, c, ret)
            to = TF.max_pool2d(t, k, s, p, d, c, ret)
            for a, b in zip(eo, to) if ret else [(eo, to)]:
                same(a, b)
    same(nn.MaxPool2d(2)(e[0]), torch.nn.MaxPool2d(2)(t[0]))
    # 1-D: PyTorch has integer max_pool1d only with indices
    x, y = e.flatten(-2), t.flatten(-2)
    for args in [(2,), (3, 1, 1), (4, 3, 2, 2, True)]:
        for a, b in zip(
            F.max_pool1d(x, *args, return_indices=True),
            TF.max_pool1d(y, *args, return_indices=True),
        ):
            same(a, b)
        for a, b in zip(F.max_pool1d_with_indices(x, *args), TF.max_pool1d_with_indices(y, *args)):
            same(a, b)
    with pytest.raises(TypeError, match="max_pool1d"):
        F.max_pool1d(x, 2)
    with pytest.raises(TypeError, match="max_pool1d"):
        nn.MaxPool1d(2)(x)
    for fn in [
        lambda: F.adaptive_max_pool2d(e, 2),
        lambda: F.adaptive_max_pool1d(x, 2, return_indices=True),
        lambda: F.adaptive_avg_pool2d(e, 1),
        lambda: F.adaptive_avg_pool1d(x, 3),
    ]:
        with pytest.raises(TypeError, match="adaptive"):
            fn()
    # each torch error above is real (NotImplementedError or RuntimeError)
    with pytest.raises(RuntimeError):
        TF.max_pool1d(y, 2)
    with pytest.raises(RuntimeError):
        TF.adaptive_max_pool2d(t, 2)


def test_int_avg_pools():
    """int64 average pools truncate toward zero like PyTorch; other integer dtypes raise."""
    e, t = int_pair((2, 3, 9, 11), "int64", seed=4)
    for kw in [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        dict(kernel_size=(2, 3), stride=1, padding=(1, 0), divisor_override=3),
        dict(kernel_size=2, divisor_override=-3),
        dict(kernel_size=(9, 11)),
    ]:
        same(F.avg_pool2d(e, **kw), TF.avg_pool2d(t, **kw))
        same(F.avg_pool2d(e[0], **kw), TF.avg_pool2d(t[0], **kw))
    x, y = e.flatten(-2), t.flatten(-2)
    for args in [(2,), (3, 2, 1), (3, 2, 1, True, False), (99,)]:
        same(F.avg_pool1d(x, *args), TF.avg_pool1d(y, *args))
    same(nn.AvgPool1d(3)(x), torch.nn.AvgPool1d(3)(y))
    for dt in ["int32", "uint8"]:
        a, b = int_pair((1, 2, 4, 4), dt)
        with pytest.raises(TypeError, match="avg_pool2d"):
            F.avg_pool2d(a, 2)
        with pytest.raises(RuntimeError):
            TF.avg_pool2d(b, 2)
        with pytest.raises(TypeError, match="avg_pool1d"):
            F.avg_pool1d(a.flatten(-2), 2)


# ----------------------------------------------------------------------------- max_unpool
UNPOOL2D = [
    # shape, kernel, stride, padding, output_size
    ((2, 3, 8, 8), 2, None, 0, None),
    ((2, 3, 9, 11), 2, None, 0, (9, 11)),
    ((1, 2, 7, 7), 3, 2, 1, None),
    ((1, 2, 7, 7), 3, 2, 1, (1, 2, 8, 7)),
    ((2, 2, 6, 9), 3, 1, 1, None),  # overlapping windows: repeated indices
    ((3, 5, 6), (2, 3), (2, 1), (1, 1), (5, 6)),  # unbatched
]


@pytest.fixture
def torch_one_thread():
    """Repeated indices (overlapping windows): the last write wins in ember and in PyTorch's
    single-threaded kernel (its threads race), so compare against that."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("case", UNPOOL2D)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_unpool2d(case, dtype, torch_one_thread):
    shape, k, s, p, size = case
    e, t = pair(shape, dtype)
    eo, ei = F.max_pool2d(e.detach(), k, s, p, return_indices=True)
    to, ti = TF.max_pool2d(t.detach(), k, s, p, return_indices=True)
    check_fwd_bwd(
        lambda x: F.max_unpool2d(x, ei, k, s, p, size),
        lambda x: TF.max_unpool2d(x, ti, k, s, p, size),
        tuple(eo.shape),
        dtype,
    )
    em, tm = nn.MaxUnpool2d(k, s, p), torch.nn.MaxUnpool2d(k, s, p)
    assert repr(em) == repr(tm)
    close(em(eo, ei, size), tm(to, ti, size), dtype)
    # the classic round trip: unpool(pool(x)) keeps the maxima in place
    close(em(eo, ei, e.shape[-2:]), tm(to, ti, t.shape[-2:]), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_max_unpool1d(dtype, torch_one_thread):
    for shape, k, s, p, size in [
        ((2, 3, 10), 2, None, 0, None),
        ((2, 3, 11), 3, 2, 1, [12]),
        ((3, 9), 3, 1, 1, None),
    ]:
        e, t = pair(shape, dtype)
        eo, ei = F.max_pool1d(e.detach(), k, s, p, return_indices=True)
        to, ti = TF.max_pool1d(t.detach(), k, s, p, return_indices=True)
        check_fwd_bwd(
            lambda x, a=(ei, k, s, p, size): F.max_unpool1d(x, *a),
            lambda x, a=(ti, k, s, p, size): TF.max_unpool1d(x, *a),
            tuple(eo.shape),
            dtype,
        )
        em, tm = nn.MaxUnpool1d(k, s, p), torch.nn.MaxUnpool1d(k, s, p)
        assert repr(em) == repr(tm)
        close(em(eo, ei, size), tm(to, ti, size), dtype)


def test_max_unpool_grad_and_noncontiguous():
    x = rand64(2, 3, 4, 5)
    idx = F.max_pool2d(rand64(2, 3, 8, 10, seed=2).detach(), 2, return_indices=True)[1]
    gradcheck(lambda x: F.max_unpool2d(x, idx, 2), (x,))
    gradgradcheck(lambda x: F.max_unpool2d(x, idx, 2), (x,))
    assert F.max_unpool2d(x, idx, 2).grad_fn.name() == "MaxUnpool2DBackward0"
    e, t = pair((2, 3, 4, 5), layout="T")
    ei = F.max_pool2d(
        ember.tensor(np.random.default_rng(1).standard_normal((2, 3, 8, 10))),
        2,
        return_indices=True,
    )[1]
    ti = torch.tensor(ei.numpy())
    close(
        F.max_unpool2d(e, ei.transpose(-1, -2).contiguous().transpose(-1, -2), 2),
        TF.max_unpool2d(t, ti, 2),
    )
    # empty batch, and an empty output size (nothing to write, nothing checked)
    assert tuple(
        F.max_unpool2d(
            ember.zeros((0, 2, 3, 3)), ember.zeros((0, 2, 3, 3), dtype=ember.int64), 2
        ).shape
    ) == (0, 2, 6, 6)
    z = ember._C._max_unpool2d(  # torch._C._nn.max_unpool2d allows this; F's size check not
        ember.zeros((1, 2, 3, 3)), ember.zeros((1, 2, 3, 3), dtype=ember.int64), (0, 6)
    )
    assert tuple(z.shape) == (1, 2, 0, 6)


UNPOOL_BAD = [
    (lambda x, i: F.max_unpool2d(x, i + 36, 2), ValueError, "invalid max index 36"),
    (lambda x, i: F.max_unpool2d(x, i - 1, 2), ValueError, "invalid max index -1"),
    (lambda x, i: F.max_unpool2d(x, i.to(ember.int32), 2), TypeError, "int64"),
    (lambda x, i: F.max_unpool2d(x, i[..., :2], 2), ValueError, r"shape"),
    (lambda x, i: F.max_unpool2d(x[0, 0], i[0, 0], 2), ValueError, "3-D"),
    (lambda x, i: F.max_unpool2d(x, i, 2, output_size=(9, 6)), ValueError, "invalid output_size"),
    (lambda x, i: F.max_unpool2d(x, i, 2, output_size=(6,)), ValueError, "2 or 4 elements"),
    (lambda x, i: F.max_unpool2d(x.to(ember.int64), i, 2), TypeError, "max_unpool2d"),
    (lambda x, i: F.max_unpool2d(x[:, :0], i[:, :0], 2), ValueError, "non-zero"),
    (
        lambda x, i: F.max_unpool1d(x[0], i[0], 2, output_size=(9,)),
        ValueError,
        "invalid output_size",
    ),
]


@pytest.mark.parametrize("i", range(len(UNPOOL_BAD)))
def test_max_unpool_bad_input(i):
    fn, kind, words = UNPOOL_BAD[i]
    x, idx = ember.zeros((1, 2, 3, 3)), ember.zeros((1, 2, 3, 3), dtype=ember.int64)
    with pytest.raises(kind, match=words):
        fn(x, idx)
