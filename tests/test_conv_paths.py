"""conv2d's CPU algorithm paths beyond tests/test_conv.py's grid: the vectorized depthwise kernels
for any stride (column-phase split planes), small images batched into one GEMM (im2col and 1x1
paths), and the Winograd / im2col choice. Each is compared with PyTorch (output and the input,
weight and bias gradients), checked by float64 gradcheck, at odd sizes, with 1 and 2 threads,
and per ISA build (subprocess)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C
from ember.testing import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {"float32": 3e-5, "float64": 1e-11}


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def compare(x, w, b, dtype, threads=None, transform=None, **kw):
    """conv2d of ember and torch on the same data: output and every gradient, for a random
    cotangent; transform(t) is applied to the input first (a non-contiguous view)."""
    old = ember.get_num_threads()
    if threads:
        ember.set_num_threads(threads)
    try:
        es = [
            None if a is None else ember.tensor(a).to(getattr(ember, dtype)).requires_grad_()
            for a in (x, w, b)
        ]
        ts = [
            None if a is None else torch.tensor(a).to(getattr(torch, dtype)).requires_grad_()
            for a in (x, w, b)
        ]
        xe, xt = (transform(es[0]), transform(ts[0])) if transform else (es[0], ts[0])
        ye, yt = F.conv2d(xe, es[1], es[2], **kw), TF.conv2d(xt, ts[1], ts[2], **kw)
        g = rnd(*yt.shape, seed=7)
        ye.backward(ember.tensor(g).to(getattr(ember, dtype)))
        yt.backward(torch.tensor(g).to(getattr(torch, dtype)))
    finally:
        ember.set_num_threads(old)
    pairs = [(ye, yt)] + [(e.grad, t.grad) for e, t in zip(es, ts) if e is not None]
    for e, t in pairs:
        want = t.detach().double().numpy()
        got = e.detach().to(ember.float64).numpy()
        assert got.shape == want.shape
        scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * scale)


# ------------------------------------------------------------------------------- depthwise
# N, C, multiplier, H, W, kernel, stride, padding, dilation
DEPTHWISE = [
    (2, 3, 1, 11, 13, 3, 2, 1, 1),  # the MobileNet downsampling shape, odd sizes
    (2, 4, 1, 56, 56, 3, 2, 1, 1),  # even size: the last phase row is padding
    (1, 2, 2, 9, 7, 3, 2, 0, 1),  # channel multiplier, no padding
    (2, 3, 3, 10, 17, 5, 2, 2, 1),  # multiplier 3, 5x5
    (1, 2, 1, 8, 70, 3, 2, 1, 2),  # dilated, wide rows (every vector tile width)
    (2, 2, 1, 12, 12, 3, 3, 1, 1),  # stride 3: the generic phase split
    (1, 3, 1, 9, 11, 3, (2, 1), 1, 1),  # stride only along H
    (1, 3, 1, 9, 11, 3, (1, 2), 1, 1),  # stride only along W
    (2, 2, 1, 7, 7, 3, 2, 4, 1),  # padding beyond the kernel's reach
    (1, 2, 1, 1, 1, 3, 2, 1, 1),  # 1x1 image
    (3, 5, 1, 2, 31, (1, 5), 2, (0, 2), (1, 3)),  # prime width, rectangular kernel
    (2, 3, 1, 13, 13, 3, 1, 4, 1),  # stride 1 with padding > reach (general input gradient)
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", DEPTHWISE, ids=str)
def test_depthwise_strided_vs_torch(case, dtype):
    N, C, m, H, W, k, s, p, d = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    x, w, b = rnd(N, C, H, W), rnd(C * m, 1, kh, kw, seed=1), rnd(C * m, seed=2)
    compare(x, w, b, dtype, stride=s, padding=p, dilation=d, groups=C)
    compare(x, w, None, dtype, stride=s, padding=p, dilation=d, groups=C)


@pytest.mark.parametrize("threads", [1, 2])
def test_depthwise_strided_noncontiguous_and_threads(threads):
    x, w = rnd(9, 4, 3, 15), rnd(4, 1, 3, 3, seed=1)  # used as x.permute(2, 1, 0, 3): [3, 4, 9, 15]
    compare(
        x,
        w,
        None,
        "float32",
        threads,
        lambda t: t.permute(2, 1, 0, 3),
        stride=2,
        padding=1,
        groups=4,
    )
    x = rnd(2, 6, 21, 20)  # every other column: a strided view
    compare(
        x,
        rnd(6, 1, 3, 3),
        rnd(6),
        "float32",
        threads,
        lambda t: t[..., ::2],
        stride=2,
        padding=1,
        groups=6,
    )


def test_depthwise_strided_gradcheck():
    x = ember.tensor(rnd(2, 2, 7, 8)).requires_grad_()
    w = ember.tensor(rnd(4, 1, 3, 3, seed=1)).requires_grad_()
    b = ember.tensor(rnd(4, seed=2)).requires_grad_()
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2), (x, w, b))
    assert gradcheck(
        lambda x, w: F.conv2d(x, w, None, stride=(3, 2), padding=(2, 0), dilation=2, groups=2),
        (x, w),
    )


# ------------------------------------------------------------------------ batched im2col
# N, C, K, H, W, kernel, stride, padding, groups: outputs under 256 positions, N >= 2, so
# several images share one GEMM (blocks of unequal size when N is odd)
BATCHED = [
    (5, 6, 8, 7, 7, 3, 1, 1, 1),
    (3, 4, 6, 14, 14, 3, 1, 1, 2),  # grouped
    (7, 3, 5, 9, 11, 3, 2, 0, 1),  # strided, primes
    (4, 8, 16, 7, 7, 1, 1, 0, 1),  # 1x1 (the input rows copied side by side)
    (3, 6, 9, 5, 5, 1, 1, 0, 3),  # grouped 1x1
    (2, 3, 2, 1, 1, 1, 1, 0, 1),  # 1x1 image
    (9, 2, 3, 4, 3, (2, 3), 1, (1, 0), 1),  # rectangular kernel
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", BATCHED, ids=str)
def test_batched_small_images_vs_torch(case, dtype, threads):
    N, C, K, H, W, k, s, p, g = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    x, w, b = rnd(N, C, H, W), rnd(K, C // g, kh, kw, seed=1), rnd(K, seed=2)
    compare(x, w, b, dtype, threads, stride=s, padding=p, groups=g)
    compare(x, w, None, dtype, threads, stride=s, padding=p, groups=g)


def test_batched_noncontiguous_and_gradcheck():
    x, w = rnd(6, 5, 9, 4), rnd(4, 6, 3, 3, seed=1)  # x used as x.transpose(0, 1): [5, 6, 9, 4]
    compare(x, w, rnd(4), "float32", 2, lambda t: t.transpose(0, 1), padding=1)
    xe = ember.tensor(rnd(3, 2, 4, 5)).requires_grad_()
    we = ember.tensor(rnd(3, 2, 3, 3, seed=1)).requires_grad_()
    be = ember.tensor(rnd(3, seed=2)).requires_grad_()
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), (xe, we, be))
    we1 = ember.tensor(rnd(4, 2, 1, 1, seed=3)).requires_grad_()
    assert gradcheck(lambda x, w: F.conv2d(x, w), (xe, we1))


# ------------------------------------------------------------------- Winograd vs im2col
def test_winograd_choice():
    # too few 4x4 tiles to amortize the weight transform
    assert not _C._winograd3x3_applicable(2, 256, 7, 7, 256, 1, 1)
    assert not _C._winograd3x3_applicable(1, 64, 14, 14, 64, 1, 1)
    assert _C._winograd3x3_applicable(8, 512, 7, 7, 512, 1, 1)
    assert _C._winograd3x3_applicable(2, 64, 14, 14, 64, 1, 1)
    assert _C._winograd3x3_applicable(16, 256, 14, 14, 256, 1, 1)


@pytest.mark.parametrize("shape", [(4, 16, 16, 14, 14), (8, 32, 24, 7, 7), (3, 16, 32, 13, 9)])
def test_winograd_switch_same_result(shape):
    """conv2d with Winograd allowed (the default) and switched off agree with torch, and the
    switch returns the previous setting."""
    N, C, K, H, W = shape
    x, w, b = rnd(N, C, H, W), rnd(K, C, 3, 3, seed=1), rnd(K, seed=2)
    assert _C._winograd3x3_set_enabled(False) is True
    try:
        compare(x, w, b, "float32", padding=1)
    finally:
        assert _C._winograd3x3_set_enabled(True) is False
    compare(x, w, b, "float32", padding=1)


# ------------------------------------------------------------------------------ ISA builds
ISA_CASES = [  # N, C, multiplier, H, W, kernel, stride, padding, dilation
    (2, 3, 1, 11, 13, 3, 2, 1, 1),
    (1, 2, 2, 9, 37, 5, 2, 2, 1),
    (1, 2, 1, 12, 12, 3, 3, 1, 2),
    (2, 3, 1, 13, 13, 3, 1, 4, 1),
]


def test_isa_paths_subprocess(tmp_path):
    """Each ISA build of the strided depthwise kernels (forced with EMBER_CPU_ISA in a
    subprocess) writes outputs and gradients, compared here with torch."""
    code = f"CASES = {ISA_CASES!r}\n" + textwrap.dedent(
        """
        import sys, numpy as np, ember, ember.nn.functional as F
        out = {}
        for i, (N, C, m, H, W, k, s, p, d) in enumerate(CASES):
            rng = np.random.default_rng(i)
            x = rng.standard_normal((N, C, H, W)); w = rng.standard_normal((C * m, 1, k, k))
            for dt in ("float32", "float64"):
                xe = ember.tensor(x).to(getattr(ember, dt)).requires_grad_()
                we = ember.tensor(w).to(getattr(ember, dt)).requires_grad_()
                y = F.conv2d(xe, we, None, s, p, d, C)
                y.sum().backward()
                for name, t in (("y", y), ("dx", xe.grad), ("dw", we.grad)):
                    out[f"{i}{dt}{name}"] = t.detach().to(ember.float64).numpy()
        np.savez(sys.argv[1], **out)
        """
    )
    base = os.path.dirname(os.path.dirname(ember.__file__))
    for isa in ("scalar", "avx2", "avx512"):
        path = str(tmp_path / f"{isa}.npz")
        env = dict(os.environ, EMBER_CPU_ISA=isa, PYTHONPATH=base)
        r = subprocess.run(
            [sys.executable, "-c", code, path], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr[-2000:]
        got = np.load(path)
        for i, (N, C, m, H, W, k, s, p, d) in enumerate(ISA_CASES):
            rng = np.random.default_rng(i)
            xt = torch.tensor(rng.standard_normal((N, C, H, W)), requires_grad=True)
            wt = torch.tensor(rng.standard_normal((C * m, 1, k, k)), requires_grad=True)
            yt = TF.conv2d(xt, wt, None, s, p, d, C)
            yt.sum().backward()
            for dt in ("float32", "float64"):
                for name, ref in (("y", yt), ("dx", xt.grad), ("dw", wt.grad)):
                    want = ref.detach().numpy()
                    scale = max(1.0, float(np.abs(want).max()))
                    np.testing.assert_allclose(
                        got[f"{i}{dt}{name}"], want, rtol=0, atol=TOL[dt] * scale
                    )
