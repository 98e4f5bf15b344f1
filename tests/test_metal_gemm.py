"""Metal GEMM (metal/gemm.metal, simdgroup_matrix 8x8 tiles) vs the CPU backend: matmul, bmm,
broadcast batches, transposed operands, linear / addmm epilogues, every claimed dtype."""

import numpy as np
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


def _scale(ref):
    return max(1.0, float(np.abs(ref).max(initial=0)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 5, 3), (37, 41, 29), (33, 17, 65)])
def test_matmul(m, k, n, dtype):
    a, b = rand((m, k), dtype, seed=1), rand((k, n), dtype, seed=2)
    ref = to_np(a @ b)
    am, bm = a.to("metal"), b.to("metal")
    reset_fallbacks()
    (got,) = across_schedules(lambda: am @ bm)
    assert_close_dtype(got, ref, dtype, scale=_scale(ref) * (4 if dtype != "float32" else 1))
    assert not any(k.startswith(("gemm", "matmul")) for k in fallbacks()), fallbacks()


@pytest.mark.parametrize("ta,tb", [(True, False), (False, True), (True, True)])
def test_transposed_operands(ta, tb):
    a = rand((19, 23), seed=3)
    b = rand((23, 11) if not tb else (11, 23), seed=4)
    a_ = a if not ta else a.t().contiguous()  # [23, 19]
    op = (lambda x: x.t()) if ta else (lambda x: x)
    opb = (lambda x: x.t()) if tb else (lambda x: x)
    ref = to_np(op(a_) @ opb(b))
    am, bm = a_.to("metal"), b.to("metal")
    (got,) = across_schedules(lambda: op(am) @ opb(bm))
    assert_close_dtype(got, ref, "float32", scale=_scale(ref))


def test_bmm_and_broadcast_batch():
    a, b = rand((3, 9, 13), seed=5), rand((3, 13, 7), seed=6)
    c = rand((13, 5), seed=7)
    ref1, ref2 = to_np(ember.bmm(a, b)), to_np(ember.matmul(a, c))
    ref3 = to_np(ember.matmul(rand((2, 1, 4, 6), seed=8), rand((3, 6, 5), seed=9)))
    am, bm, cm = a.to("metal"), b.to("metal"), c.to("metal")
    x4, y4 = rand((2, 1, 4, 6), seed=8).to("metal"), rand((3, 6, 5), seed=9).to("metal")
    got = across_schedules(lambda: (ember.bmm(am, bm), ember.matmul(am, cm), ember.matmul(x4, y4)))
    for g, r in zip(got, (ref1, ref2, ref3)):
        assert_close_dtype(g, r, "float32", scale=_scale(r))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_linear_bias_epilogue_and_addmm(dtype):
    x, w, bias = (
        rand((11, 19), dtype, seed=1),
        rand((7, 19), dtype, seed=2),
        rand((7,), dtype, seed=3),
    )
    inp = rand((11, 7), dtype, seed=4)
    ref1 = to_np(ember.nn.functional.linear(x, w, bias))
    ref2 = to_np(ember.addmm(inp, x, w.t(), beta=0.5, alpha=2.0))
    xm, wm, bm, im = (t.to("metal") for t in (x, w, bias, inp))
    reset_fallbacks()
    got = across_schedules(
        lambda: (
            ember.nn.functional.linear(xm, wm, bm),
            ember.addmm(im, xm, wm.t(), beta=0.5, alpha=2.0),
        )
    )
    scale = 4.0 if dtype != "float32" else 1.0
    assert_close_dtype(got[0], ref1, dtype, scale=_scale(ref1) * scale)
    assert_close_dtype(got[1], ref2, dtype, scale=_scale(ref2) * scale)
    assert not any(k.startswith("gemm") for k in fallbacks()), fallbacks()


def test_matmul_backward():
    a, b = rand((9, 14), seed=1), rand((14, 6), seed=2)

    def grads(dev):
        ad, bd = a.to(dev).detach().requires_grad_(), b.to(dev).detach().requires_grad_()
        (ad @ bd).sum().backward()
        return ad.grad, bd.grad

    ref = [to_np(g) for g in grads("cpu")]
    got = across_schedules(lambda: grads("metal"))
    for g, r in zip(got, ref):
        assert_close_dtype(g, r, "float32", scale=_scale(r))


def test_empty_k():
    a, b = ember.zeros((3, 0), device="metal"), ember.zeros((0, 4), device="metal")
    np.testing.assert_array_equal(to_np((a @ b).cpu()), np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh"])
def test_linear_activation_epilogue(act):
    x, w, bias = rand((13, 21), seed=1), rand((9, 21), seed=2), rand((9,), seed=3)
    ref = to_np(ember._C._linear_act(x, w, bias, act))
    xm, wm, bm = (t.to("metal") for t in (x, w, bias))
    reset_fallbacks()
    (got,) = across_schedules(lambda: ember._C._linear_act(xm, wm, bm, act))
    assert_close_dtype(got, ref, "float32", scale=_scale(ref))
    assert not any(k.startswith("gemm") for k in fallbacks()), fallbacks()
