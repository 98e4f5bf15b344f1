"""F.interpolate and the Upsample layers against PyTorch: every mode for 3-D and 4-D inputs,
size vs scale_factor (PyTorch's index rules differ), non-integer scales, downsampling,
align_corners both ways, recompute_scale_factor, outputs and gradients, non-contiguous and
16-bit input, float64 gradcheck/gradgradcheck, layer reprs, errors."""

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.nn.functional as F
from ember.testing import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

MODES = {3: ["nearest", "nearest-exact", "linear"], 4: ["nearest", "nearest-exact", "bilinear"]}
# (kwargs for a 3-D input of length 9, kwargs for a 4-D input of 5 x 7)
RESIZES = [
    ({"scale_factor": 2}, {"scale_factor": 2}),
    ({"scale_factor": 1.7}, {"scale_factor": (1.7, 2.3)}),
    ({"scale_factor": 0.6}, {"scale_factor": (0.6, 0.45)}),
    ({"scale_factor": 1.1}, {"scale_factor": 1.1}),  # same size, scale != 1
    (
        {"scale_factor": 2.3, "recompute_scale_factor": True},
        {"scale_factor": 1.3, "recompute_scale_factor": True},
    ),
    ({"size": 13}, {"size": (3, 13)}),
    ({"size": 4}, {"size": 11}),
    ({"size": 1}, {"size": (1, 2)}),
]


def pair(a, dtype="float64", grad=True):
    e = ember.tensor(a, dtype=getattr(ember, dtype), requires_grad=grad)
    t = torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=grad)
    return e, t


def close(e, t, tol):
    e = np.asarray(e.detach().to(ember.float64).numpy())
    t = t.detach().double().numpy()
    assert e.shape == t.shape
    np.testing.assert_allclose(e, t, rtol=tol, atol=tol)


def check(shape, mode, kw, dtype="float64", align_corners=None, view=None):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape)
    ex, tx = pair(a, dtype)
    ein, tin = (ex, tx) if view is None else (view(ex), view(tx))
    ey = F.interpolate(ein, mode=mode, align_corners=align_corners, **kw)
    ty = TF.interpolate(tin, mode=mode, align_corners=align_corners, **kw)
    tol = 1e-12 if dtype == "float64" else 1e-5
    close(ey, ty, tol)
    g = rng.standard_normal(tuple(ty.shape))
    ey.backward(ember.tensor(g, dtype=ex.dtype))
    ty.backward(torch.tensor(g, dtype=tx.dtype))
    close(ex.grad, tx.grad, tol * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("resize", range(len(RESIZES)))
@pytest.mark.parametrize("nd", [3, 4])
def test_matches_torch(nd, resize, dtype):
    kw = RESIZES[resize][nd - 3]
    shape = (2, 3, 9) if nd == 3 else (2, 3, 5, 7)
    for mode in MODES[nd]:
        aligns = [None] if "nearest" in mode else [False, True]
        for ac in aligns:
            check(shape, mode, kw, dtype, ac)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear"])
def test_many_scales_bit_exact_indices(mode):
    # nearest indices come from float math: sweep awkward scales and sizes
    rng = np.random.default_rng(1)
    for n in [3, 7, 10, 17]:
        for s in [0.35, 0.77, 1.5, 1.9999, 2.5, 3.3333]:
            a = rng.standard_normal((1, 2, n, n + 2)).astype(np.float32)
            ac = None if "nearest" in mode else False
            ey = F.interpolate(ember.tensor(a), scale_factor=s, mode=mode, align_corners=ac)
            ty = TF.interpolate(torch.tensor(a), scale_factor=s, mode=mode, align_corners=ac)
            close(ey, ty, 0 if "nearest" in mode else 1e-5)  # nearest: the same picks


def test_large_planes_and_few_planes():
    check((1, 1, 40, 33), "bilinear", {"size": (67, 90)}, "float32", align_corners=False)
    check((3, 16, 8, 8), "nearest", {"scale_factor": 2}, "float32")
    check((1, 1, 300), "linear", {"scale_factor": 0.37}, "float32", align_corners=True)


def test_non_contiguous_input():
    check((4, 3, 6, 5), "bilinear", {"size": (9, 4)}, view=lambda t: t.transpose(2, 3))
    check((3, 4, 10), "nearest", {"scale_factor": 1.5}, view=lambda t: t[:, ::2])
    check((2, 3, 8, 6), "nearest-exact", {"size": 5}, view=lambda t: t.permute(1, 0, 3, 2))


def test_empty_batch():
    check((0, 3, 4, 4), "bilinear", {"scale_factor": 2}, align_corners=False)
    check((0, 2, 5), "nearest", {"size": 7})
    with pytest.raises(ValueError, match="non-empty"):  # no channels: an error in PyTorch too
        F.interpolate(ember.randn(2, 0, 5), size=7)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_dtypes(dtype):
    a = np.random.default_rng(2).standard_normal((2, 3, 5, 6))
    ex = ember.tensor(a, dtype=getattr(ember, dtype))
    tx = torch.tensor(a, dtype=getattr(torch, dtype))
    for mode, ac in [("nearest", None), ("bilinear", False), ("bilinear", True)]:
        ey = F.interpolate(ex, scale_factor=1.5, mode=mode, align_corners=ac)
        ty = TF.interpolate(tx, scale_factor=1.5, mode=mode, align_corners=ac)
        assert ey.dtype == ex.dtype
        close(ey, ty, 2e-2)


@pytest.mark.parametrize(
    "shape,mode,kw,ac",
    [
        ((2, 2, 5), "linear", {"scale_factor": 1.6}, False),
        ((2, 2, 5), "linear", {"size": 3}, True),
        ((1, 2, 3, 4), "bilinear", {"size": (5, 3)}, False),
        ((1, 2, 3, 4), "bilinear", {"scale_factor": 1.5}, True),
        ((1, 2, 3, 4), "nearest", {"scale_factor": (2, 1.5)}, None),
        ((2, 2, 4), "nearest-exact", {"size": 7}, None),
        ((1, 1, 5, 4), "nearest-exact", {"size": (3, 2)}, None),
    ],
)
def test_gradcheck_and_gradgradcheck(shape, mode, kw, ac):
    x = ember.tensor(np.random.default_rng(3).standard_normal(shape), requires_grad=True)

    def f(x):
        return F.interpolate(x, mode=mode, align_corners=ac, **kw)

    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_double_backward_is_forward_again():
    # grad of the backward w.r.t. grad_output is the forward applied to the new cotangent
    a = np.random.default_rng(4).standard_normal((1, 2, 4, 5))
    ex, tx = pair(a)
    ey = F.interpolate(ex, scale_factor=1.5, mode="bilinear")
    ty = TF.interpolate(tx, scale_factor=1.5, mode="bilinear")
    g = np.random.default_rng(5).standard_normal(tuple(ty.shape))
    eg, tg = pair(g)
    (egx,) = ember.autograd.grad(ey, [ex], eg, create_graph=True)
    (tgx,) = torch.autograd.grad(ty, [tx], tg, create_graph=True)
    close(egx, tgx, 1e-12)
    (egx**2).sum().backward()
    (tgx**2).sum().backward()
    close(eg.grad, tg.grad, 1e-12)


# ----------------------------------------------------------------------------- layers


def test_layers_match_torch():
    a = np.random.default_rng(6).standard_normal((2, 3, 4, 5))
    cases = [
        ("Upsample", {"scale_factor": 2}),
        ("Upsample", {"size": (7, 3), "mode": "bilinear"}),
        ("Upsample", {"scale_factor": (1.5, 2.0), "mode": "bilinear", "align_corners": True}),
        (
            "Upsample",
            {"scale_factor": 1.5, "mode": "nearest-exact", "recompute_scale_factor": True},
        ),
        ("UpsamplingNearest2d", {"scale_factor": 3}),
        ("UpsamplingNearest2d", {"size": 6}),
        ("UpsamplingBilinear2d", {"scale_factor": 2}),
        ("UpsamplingBilinear2d", {"size": (3, 9)}),
    ]
    for cls, kw in cases:
        em, tm = getattr(enn, cls)(**kw), getattr(torch.nn, cls)(**kw)
        assert repr(em) == repr(tm)
        ex, tx = pair(a)
        close(em(ex), tm(tx), 1e-12)
    em, tm = (
        enn.Upsample(scale_factor=2, mode="linear"),
        torch.nn.Upsample(scale_factor=2, mode="linear"),
    )
    close(em(ember.tensor(a[0])), tm(torch.tensor(a[0])), 1e-12)


# ----------------------------------------------------------------------------- errors


def test_errors_like_torch():
    x3, x4 = ember.randn(1, 2, 5), ember.randn(1, 2, 4, 4)
    t3, t4 = torch.randn(1, 2, 5), torch.randn(1, 2, 4, 4)
    calls = [
        ((), {}),  # neither size nor scale_factor
        ((), {"size": 3, "scale_factor": 2}),
        ((), {"size": 3, "align_corners": True}),  # align_corners with nearest
        ((), {"size": (3, 4, 5)}),  # wrong number of sizes
        ((), {"scale_factor": (2, 2, 2)}),
        ((), {"size": 3, "mode": "bilinear"}),  # bilinear needs 4-D (for 3-D input)
        ((), {"size": 3, "mode": "linear"}),  # linear needs 3-D (for 4-D input)
        ((), {"size": 3, "mode": "foo"}),
        ((), {"size": (2.5,)}),
        ((), {"size": 3, "recompute_scale_factor": True}),
        ((), {"scale_factor": 2, "mode": "nearest", "antialias": True}),
    ]
    for x, t in [(x3, t3), (x4, t4)]:
        for args, kw in calls:
            try:
                TF.interpolate(t, *args, **kw)
            except Exception as e:  # the same exception type
                with pytest.raises(type(e)):
                    F.interpolate(x, *args, **kw)
            else:  # e.g. mode='linear' on 3-D input is valid
                F.interpolate(x, *args, **kw)
    # 2-D input: no spatial dims
    with pytest.raises(NotImplementedError, match="Only 3D, 4D and 5D"):
        F.interpolate(ember.randn(2, 3), scale_factor=2.0)
    # output of size 0
    with pytest.raises(ValueError, match="greater than 0"):
        F.interpolate(x4, scale_factor=0.1)
    with pytest.raises(TypeError, match="floating point"):
        F.interpolate(ember.ones(1, 1, 3, dtype=ember.int64), size=5)
    with pytest.raises(ValueError, match="neither|either size or scale_factor"):
        F.interpolate(x4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x4, size=2, scale_factor=2)
