"""Convolutions: conv1d/conv2d, conv_transpose1d/2d, unfold/fold and the nn layers.

Outputs and all gradients are compared with PyTorch over a grid of shapes, strides, paddings,
dilations and groups (depthwise, channel multipliers, 1x1, prime sizes, N=1, non-contiguous
inputs, every float dtype); float64 gradcheck / gradgradcheck cover the backward formulas; each
ISA build of the direct kernels runs in a subprocess (EMBER_CPU_ISA)."""

import math
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
# torch warns about padding="same" with even kernels; that case is tested on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

TOL = {"float32": 2e-5, "float64": 1e-11, "float16": 2e-2, "bfloat16": 6e-2}


# ----------------------------------------------------------------------------- helpers
def rnd(*shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def et(a, dtype="float64", grad=False):
    t = ember.tensor(np.ascontiguousarray(a, dtype=np.float64)).to(getattr(ember, dtype))
    return t.requires_grad_(grad)


def tt(a, dtype="float64", grad=False):
    t = torch.tensor(np.asarray(a, dtype=np.float64)).to(getattr(torch, dtype))
    return t.requires_grad_(grad)


def npy(t):
    return np.array(t.detach().to(ember.float64).numpy() if hasattr(t, "to") else t, copy=True)


def close(got, want, dtype="float64"):
    """Values match relative to the reference's scale (conv sums many products)."""
    g = np.asarray(npy(got) if not isinstance(got, np.ndarray) else got, dtype=np.float64)
    w = want.detach().double().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    assert g.shape == w.shape, (g.shape, w.shape)
    scale = max(1.0, float(np.abs(w).max())) if w.size else 1.0
    np.testing.assert_allclose(g, w, rtol=0, atol=TOL[dtype] * scale)


def run_both(efn, tfn, arrays, dtype="float64", grads=True, seed=1):
    """Runs efn on ember copies and tfn on torch copies of `arrays` (None passes through),
    compares outputs and, with grads, the gradient of every input for a random cotangent."""
    es = [None if a is None else et(a, dtype, grads) for a in arrays]
    ts = [None if a is None else tt(a, dtype, grads) for a in arrays]
    ye, yt = efn(*es), tfn(*ts)
    close(ye, yt, dtype)
    if grads:
        g = rnd(*yt.shape, seed=seed)
        ye.backward(et(g, dtype))
        yt.backward(tt(g, dtype))
        for e, t in zip(es, ts):
            if e is not None:
                close(e.grad, t.grad, dtype)
    return ye


# ----------------------------------------------------------------------------- conv2d
# N, C, K, H, W, kernel, stride, padding, dilation, groups
CONV2D = [
    (2, 3, 4, 7, 5, 3, 1, 1, 1, 1),
    (1, 4, 6, 8, 8, (3, 2), 2, (1, 0), 1, 2),
    (3, 5, 7, 11, 13, 5, 1, 2, 1, 1),  # primes, N not a multiple of the thread count
    (4, 8, 8, 9, 9, 3, 1, 1, 1, 8),  # depthwise
    (2, 4, 8, 9, 7, 3, 2, 1, 2, 4),  # depthwise, channel multiplier 2, strided, dilated
    (2, 6, 6, 10, 10, 3, 1, 3, 1, 6),  # depthwise, padding > kernel reach
    (2, 3, 3, 5, 61, 3, 1, 1, 1, 3),  # depthwise, wide rows (every vector tile width)
    (1, 2, 4, 4, 47, (1, 5), 1, (0, 2), (1, 3), 2),
    (2, 3, 6, 10, 10, 3, (2, 1), (0, 2), (1, 2), 3),
    (2, 16, 32, 6, 6, 1, 1, 0, 1, 1),  # 1x1 (plain GEMMs)
    (3, 8, 4, 5, 7, 1, 1, 0, 1, 2),  # grouped 1x1
    (1, 6, 5, 9, 9, 1, 2, 1, 1, 1),  # 1x1 strided + padded: im2col path
    (2, 1, 8, 28, 28, 3, 1, 1, 1, 1),  # C_in = 1
    (1, 2, 3, 1, 1, 1, 1, 0, 1, 1),  # 1x1 spatial
    (2, 3, 2, 6, 6, (2, 4), 1, "same", 1, 1),  # even kernel: extra padding bottom/right
    (2, 2, 2, 7, 6, 3, 1, "same", 2, 1),
    (2, 3, 4, 7, 6, 3, 1, "valid", 1, 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONV2D, ids=str)
def test_conv2d_vs_torch(case, dtype):
    N, C, K, H, W, k, s, p, d, g = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    x, w, b = rnd(N, C, H, W), rnd(K, C // g, kh, kw, seed=1), rnd(K, seed=2)
    run_both(
        lambda x, w, b: F.conv2d(x, w, b, s, p, d, g),
        lambda x, w, b: TF.conv2d(x, w, b, s, p, d, g),
        [x, w, b],
        dtype,
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_conv2d_half_dtypes(dtype):
    x, w, b = rnd(2, 4, 6, 6), rnd(6, 2, 3, 3, seed=1), rnd(6, seed=2)
    ye = F.conv2d(et(x, dtype, True), et(w, dtype, True), et(b, dtype), 1, 1, 1, 2)
    assert ye.dtype == getattr(ember, dtype)
    # reference: torch in float32 on the same rounded inputs
    xr, wr, br = (npy(et(a, dtype)) for a in (x, w, b))
    close(ye, TF.conv2d(tt(xr, "float32"), tt(wr, "float32"), tt(br, "float32"), 1, 1, 1, 2), dtype)
    ye.sum().backward()


def test_conv2d_noncontiguous_and_no_bias():
    x = rnd(3, 5, 9, 8)  # used as x.permute(1, 0, 2, 3)[..., ::2]
    w = rnd(3, 4, 3, 2, seed=1)  # used transposed: [4, 3, 3, 2] -> non-contiguous weight
    run_both(
        lambda x, w: F.conv2d(x.permute(1, 0, 2, 3)[..., ::2], w.transpose(0, 1), None, 1, 1),
        lambda x, w: TF.conv2d(x.permute(1, 0, 2, 3)[..., ::2], w.transpose(0, 1), None, 1, 1),
        [x, w],
        "float32",
    )


def test_conv2d_unbatched_empty_batch_and_grad_fn():
    x, w = rnd(3, 6, 6), rnd(4, 3, 3, 3, seed=1)
    run_both(
        lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1), [x, w]
    )
    xe = ember.zeros(0, 3, 5, 5, requires_grad=True)
    we = et(w, "float32", True)
    y = F.conv2d(xe, we, None, 1, 1)
    assert tuple(y.shape) == (0, 4, 5, 5)
    assert y.grad_fn.name() == "ConvolutionBackward0"
    y.sum().backward()
    assert tuple(xe.grad.shape) == (0, 3, 5, 5)
    assert np.all(we.grad.numpy() == 0)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv2d_thread_counts(threads):
    old = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        for N in (1, 2, 3, 9):
            x, w, b = rnd(N, 4, 7, 7), rnd(6, 4, 3, 3, seed=1), rnd(6, seed=2)
            run_both(
                lambda x, w, b: F.conv2d(x, w, b, 1, 1),
                lambda x, w, b: TF.conv2d(x, w, b, 1, 1),
                [x, w, b],
                "float32",
            )
    finally:
        ember.set_num_threads(old)


# ----------------------------------------------------------------------------- conv1d
# N, C, K, L, k, stride, padding, dilation, groups
CONV1D = [
    (2, 3, 4, 11, 3, 1, 1, 1, 1),
    (1, 4, 8, 13, 5, 2, 2, 2, 2),
    (3, 6, 6, 10, 3, 1, 1, 1, 6),  # depthwise
    (2, 5, 3, 7, 1, 1, 0, 1, 1),  # pointwise
    (2, 3, 4, 9, 4, 1, "same", 1, 1),
    (2, 3, 4, 9, 3, 1, "same", 3, 1),
    (2, 3, 4, 9, 3, 2, "valid", 1, 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONV1D, ids=str)
def test_conv1d_vs_torch(case, dtype):
    N, C, K, L, k, s, p, d, g = case
    x, w, b = rnd(N, C, L), rnd(K, C // g, k, seed=1), rnd(K, seed=2)
    run_both(
        lambda x, w, b: F.conv1d(x, w, b, s, p, d, g),
        lambda x, w, b: TF.conv1d(x, w, b, s, p, d, g),
        [x, w, b],
        dtype,
    )


def test_conv1d_unbatched():
    x, w = rnd(3, 10), rnd(2, 3, 3, seed=1)
    run_both(lambda x, w: F.conv1d(x, w, None, 2), lambda x, w: TF.conv1d(x, w, None, 2), [x, w])


# ----------------------------------------------------------------------------- conv_transpose
# N, C_in, C_out, H, W, kernel, stride, padding, output_padding, groups, dilation
CONVT2D = [
    (2, 4, 6, 5, 6, 3, 2, 1, 1, 2, 1),
    (1, 3, 2, 4, 4, 2, 1, 0, 0, 1, 2),
    (2, 4, 4, 5, 5, 3, 3, 1, 2, 4, 1),  # depthwise transposed
    (3, 5, 7, 3, 7, (3, 2), (2, 1), (1, 0), (1, 0), 1, 1),
    (2, 2, 3, 4, 5, 3, 1, 0, 1, 1, 2),  # output_padding < dilation (stride 1)
    (2, 8, 4, 6, 6, 1, 1, 0, 0, 1, 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONVT2D, ids=str)
def test_conv_transpose2d_vs_torch(case, dtype):
    N, Ci, Co, H, W, k, s, p, op, g, d = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    x, w, b = rnd(N, Ci, H, W), rnd(Ci, Co // g, kh, kw, seed=1), rnd(Co, seed=2)
    run_both(
        lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, s, p, op, g, d),
        [x, w, b],
        dtype,
    )


@pytest.mark.parametrize(
    "case",
    [
        (2, 4, 6, 7, 3, 2, 1, 1, 2, 1),
        (1, 3, 3, 5, 4, 1, 2, 0, 1, 2),
        (2, 3, 2, 6, 1, 3, 0, 2, 1, 1),
    ],
)
def test_conv_transpose1d_vs_torch(case):
    N, Ci, Co, L, k, s, p, op, g, d = case
    x, w, b = rnd(N, Ci, L), rnd(Ci, Co // g, k, seed=1), rnd(Co, seed=2)
    run_both(
        lambda x, w, b: F.conv_transpose1d(x, w, b, s, p, op, g, d),
        lambda x, w, b: TF.conv_transpose1d(x, w, b, s, p, op, g, d),
        [x, w, b],
    )


def test_conv_transpose_unbatched():
    x, w = rnd(3, 4, 5), rnd(3, 2, 3, 3, seed=1)
    run_both(
        lambda x, w: F.conv_transpose2d(x, w, stride=2),
        lambda x, w: TF.conv_transpose2d(x, w, stride=2),
        [x, w],
    )


# ----------------------------------------------------------------------------- unfold / fold
# shape, kernel, dilation, padding, stride
UNFOLD = [
    ((2, 3, 7, 8), (2, 3), (1, 2), 1, (2, 1)),
    ((1, 2, 5, 5), 3, 1, 0, 1),
    ((3, 5, 5), 2, 2, 2, 3),  # unbatched
]


@pytest.mark.parametrize("case", UNFOLD, ids=str)
def test_unfold_fold_vs_torch(case):
    shape, k, d, p, s = case
    col = run_both(
        lambda x: F.unfold(x, k, d, p, s), lambda x: TF.unfold(x, k, d, p, s), [rnd(*shape)]
    )
    run_both(
        lambda c: F.fold(c, shape[-2:], k, d, p, s),
        lambda c: TF.fold(c, shape[-2:], k, d, p, s),
        [rnd(*col.shape, seed=3)],
    )


def test_unfold_fold_layers():
    x = rnd(2, 3, 6, 6)
    u, tu = nn.Unfold(2, padding=1, stride=2), torch.nn.Unfold(2, padding=1, stride=2)
    assert repr(u) == repr(tu)
    close(u(et(x)), tu(tt(x)))
    c = tu(tt(x))
    f, tf = nn.Fold((6, 6), 2, padding=1, stride=2), torch.nn.Fold((6, 6), 2, padding=1, stride=2)
    assert repr(f) == repr(tf)
    close(f(et(c.numpy())), tf(c))


# ----------------------------------------------------------------------------- gradcheck
def _req(*arrays):
    return [et(a, grad=True) for a in arrays]


def test_gradcheck_conv2d():
    x, w, b = _req(rnd(2, 4, 5, 4), rnd(4, 2, 3, 2, seed=1), rnd(4, seed=2))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 0), (1, 2), 2), (x, w, b))
    # depthwise (direct kernels) and non-contiguous input
    x, w = _req(rnd(2, 3, 5, 6), rnd(6, 1, 3, 3, seed=1))
    assert gradcheck(lambda x, w: F.conv2d(x.transpose(2, 3), w, None, 1, 1, 1, 3), (x, w))


def test_gradcheck_conv1d_convT_unfold_fold():
    x, w, b = _req(rnd(2, 3, 7), rnd(2, 3, 3, seed=1), rnd(2, seed=2))
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, 2, 1, 2), (x, w, b))
    x, w, b = _req(rnd(1, 4, 3, 3), rnd(4, 1, 3, 2, seed=1), rnd(2, seed=2))
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1, 2), (x, w, b))
    (x,) = _req(rnd(1, 2, 4, 5))
    assert gradcheck(lambda x: F.unfold(x, 2, 1, 1, (1, 2)), (x,))
    (c,) = _req(rnd(1, 8, 6))
    assert gradcheck(lambda c: F.fold(c, (3, 4), 2, 1, 0, 1), (c,))


def test_gradgradcheck_conv():
    x, w, b = _req(rnd(2, 2, 4, 4), rnd(3, 2, 2, 2, seed=1), rnd(3, seed=2))
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 1), (x, w, b))
    x, w = _req(rnd(1, 2, 3, 3), rnd(2, 2, 2, 2, seed=1))
    assert gradgradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 2), (x, w))
    x, w = _req(rnd(2, 2, 4, 4), rnd(4, 1, 3, 3, seed=1))  # depthwise
    assert gradgradcheck(lambda x, w: F.conv2d(x, w, None, 1, 1, 1, 2), (x, w))


def test_double_backward_vs_torch():
    x, w = rnd(2, 3, 5, 5), rnd(4, 3, 3, 3, seed=1)
    res = []
    for lib, mk, conv in ((ember, et, F.conv2d), (torch, tt, TF.conv2d)):
        xs, ws = mk(x, grad=True), mk(w, grad=True)
        y = conv(xs, ws, None, 1, 1)
        (gx,) = lib.autograd.grad((y * y).sum(), [xs], create_graph=True)
        (gw,) = lib.autograd.grad((gx * gx).sum(), [ws])
        res.append(gw)
    close(res[0], res[1])


# ----------------------------------------------------------------------------- layers
def _load_from_torch(m, tm):
    m.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


@pytest.mark.parametrize(
    "make",
    [
        lambda nn_: nn_.Conv2d(3, 4, 3),
        lambda nn_: nn_.Conv2d(3, 4, (3, 5), stride=2, padding=1, dilation=2, bias=False),
        lambda nn_: nn_.Conv2d(4, 6, 3, padding="same", groups=2, padding_mode="reflect"),
        lambda nn_: nn_.Conv2d(2, 4, 4, padding="same", padding_mode="circular"),
        lambda nn_: nn_.Conv2d(2, 2, 3, padding=(1, 2), padding_mode="replicate"),
        lambda nn_: nn_.Conv1d(2, 4, 3, padding="same"),
        lambda nn_: nn_.Conv1d(2, 4, 3, stride=2, padding=1, padding_mode="reflect"),
        lambda nn_: nn_.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1, groups=2),
        lambda nn_: nn_.ConvTranspose1d(3, 2, 4, stride=3, dilation=2, bias=False),
    ],
)
def test_layers_match_torch(make):
    m, tm = make(nn), make(torch.nn)
    assert repr(m) == repr(tm)
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    _load_from_torch(m, tm)
    nd = len(tm.kernel_size)
    x = rnd(2, tm.in_channels, *([8] * nd)).astype(np.float32)
    close(m(et(x, "float32")), tm(tt(x, "float32")), "float32")


def test_layer_init_statistics():
    ember.manual_seed(0)
    m = nn.Conv2d(16, 32, 5)
    bound = 1 / math.sqrt(16 * 25)  # kaiming_uniform_(a=sqrt(5)) on fan_in = 400
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    t = nn.ConvTranspose2d(8, 6, 3, groups=2)  # fan_in from weight dim 1: 3 * 9
    assert tuple(t.weight.shape) == (8, 3, 3, 3)
    assert np.abs(t.weight.detach().numpy()).max() <= 1 / math.sqrt(27)
    m.zero_grad()
    m(ember.randn(2, 16, 9, 9)).sum().backward()
    assert tuple(m.weight.grad.shape) == (32, 16, 5, 5)


def test_conv_transpose_output_size():
    tm = torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1)
    m = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1)
    _load_from_torch(m, tm)
    x = rnd(2, 3, 5, 5).astype(np.float32)
    for size in ([9, 9], [10, 10], (2, 4, 10, 9)):
        close(
            m(et(x, "float32"), output_size=size), tm(tt(x, "float32"), output_size=size), "float32"
        )
    with pytest.raises(ValueError, match="output size"):
        m(et(x, "float32"), output_size=[12, 12])
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


# ----------------------------------------------------------------------------- bad input
X = np.zeros((1, 4, 5, 5))
W = np.zeros((2, 4, 3, 3))


@pytest.mark.parametrize(
    "fn, match",
    [
        (lambda: F.conv2d(et(X), et(W), padding=-1), "conv2d: padding"),
        (lambda: F.conv2d(et(X), et(W), stride=0), "conv2d: stride"),
        (lambda: F.conv2d(et(X), et(W), stride=(1, -2)), "conv2d: stride"),
        (lambda: F.conv2d(et(X), et(W), dilation=0), "conv2d: dilation"),
        (lambda: F.conv2d(et(X), et(np.zeros((2, 4, 7, 7)))), "kernel"),
        (lambda: F.conv2d(et(X), et(np.zeros((2, 4, 3, 3))), dilation=3), "kernel"),
        (lambda: F.conv2d(et(X), et(np.zeros((2, 2, 3, 3))), groups=3), "divisible by groups"),
        (lambda: F.conv2d(et(X), et(np.zeros((3, 2, 3, 3))), groups=2), "divisible by groups"),
        (lambda: F.conv2d(et(X), et(np.zeros((2, 3, 3, 3)))), "channels"),
        (lambda: F.conv2d(et(np.zeros((4, 5))), et(W)), "input"),
        (lambda: F.conv2d(et(np.zeros((1, 1, 4, 5, 5))), et(W)), "input"),
        (lambda: F.conv2d(et(X), et(np.zeros((2, 4, 3)))), "weight"),
        (lambda: F.conv2d(et(X), et(W), et(np.zeros(3))), "bias"),
        (lambda: F.conv2d(et(X), et(W), padding="full"), "padding string"),
        (lambda: F.conv2d(et(X), et(W), stride=2, padding="same"), "strided"),
        (lambda: F.conv2d(et(X), et(W), groups=0), "groups"),
        (lambda: F.conv2d(et(X), et(W), padding=(1, 1, 1)), "padding"),
        (lambda: F.conv1d(et(X), et(W)), "conv1d"),
        (lambda: F.conv_transpose2d(et(X), et(W), output_padding=1), "output_padding"),
        (lambda: F.conv_transpose2d(et(X), et(np.zeros((3, 2, 3, 3)))), "channels"),
        (lambda: F.conv_transpose2d(et(X), et(W), stride=2, output_padding=2), "output_padding"),
        (lambda: F.conv_transpose2d(et(X), et(W), padding=-1), "padding"),
        (lambda: F.unfold(et(X), 6), "kernel"),
        (lambda: F.unfold(et(np.zeros((4, 5))), 2), "unfold"),
        (lambda: F.fold(et(np.zeros((1, 8, 5))), (4, 4), 2), "blocks"),
        (lambda: F.fold(et(np.zeros((1, 7, 9))), (4, 4), 2), "divisible"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups"),
        (lambda: nn.Conv2d(4, 4, 3, padding_mode="mirror"), "padding_mode"),
        (lambda: nn.Conv2d(4, 4, 3, stride=2, padding="same"), "strided"),
    ],
)
def test_bad_input(fn, match):
    with pytest.raises(ValueError, match=match):
        fn()


def test_bad_types():
    with pytest.raises(TypeError, match="conv2d"):
        F.conv2d(et(X), et(W, "float32"))
    with pytest.raises(TypeError, match="conv2d"):
        F.conv2d(
            ember.zeros(1, 4, 5, 5, dtype=ember.int64), ember.zeros(2, 4, 3, 3, dtype=ember.int64)
        )
    with pytest.raises(TypeError, match="stride"):
        F.conv2d(et(X), et(W), stride=1.5)


# ----------------------------------------------------------------------------- ISA builds
ISA_CASES = [  # N, C, K, H, k, stride, padding, dilation, groups
    (2, 8, 16, 37, 3, 1, 1, 1, 8),
    (2, 8, 8, 70, 5, 2, 2, 1, 8),
    (2, 4, 4, 19, 3, 1, 4, 2, 4),
    (1, 4, 4, 75, 3, 1, 1, 1, 4),
    (2, 3, 5, 9, 3, 2, 1, 2, 1),
]


def test_isa_paths_subprocess(tmp_path):
    """The direct (depthwise) kernels and im2col are compiled per ISA: each build (forced with
    EMBER_CPU_ISA in a subprocess) writes its outputs and gradients, compared here with torch."""
    code = f"CASES = {ISA_CASES!r}\n" + textwrap.dedent(
        """
        import sys, numpy as np, ember, ember.nn.functional as F
        out = {}
        for i, (N, C, K, H, k, s, p, d, g) in enumerate(CASES):
            rng = np.random.default_rng(i)
            x = rng.standard_normal((N, C, H, H)); w = rng.standard_normal((K, C // g, k, k))
            for dt in ("float32", "float64"):
                xe = ember.tensor(x).to(getattr(ember, dt)).requires_grad_()
                we = ember.tensor(w).to(getattr(ember, dt)).requires_grad_()
                y = F.conv2d(xe, we, None, s, p, d, g)
                y.sum().backward()
                for name, t in (("y", y), ("dx", xe.grad), ("dw", we.grad)):
                    out[f"{i}{dt}{name}"] = t.detach().to(ember.float64).numpy()
        np.savez(sys.argv[1], **out)
        print(ember.cpu_isa())
        """
    )
    # the ember this process imported (installed, or the source tree with a dev build)
    base = os.path.dirname(os.path.dirname(ember.__file__))
    for isa in ("scalar", "avx2", "avx512"):
        path = str(tmp_path / f"{isa}.npz")
        env = dict(os.environ, EMBER_CPU_ISA=isa, PYTHONPATH=base)
        r = subprocess.run(
            [sys.executable, "-c", code, path], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr[-2000:]
        got = np.load(path)
        for i, (N, C, K, H, k, s, p, d, g) in enumerate(ISA_CASES):
            rng = np.random.default_rng(i)
            xt = torch.tensor(rng.standard_normal((N, C, H, H)), requires_grad=True)
            wt = torch.tensor(rng.standard_normal((K, C // g, k, k)), requires_grad=True)
            yt = TF.conv2d(xt, wt, None, s, p, d, g)
            yt.sum().backward()
            for dt in ("float32", "float64"):
                for name, ref in (("y", yt), ("dx", xt.grad), ("dw", wt.grad)):
                    close(got[f"{i}{dt}{name}"], ref, dt)
