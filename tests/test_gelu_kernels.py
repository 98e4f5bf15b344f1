"""The vectorized float32 erf (exact GELU and its derivative) and the one-pass GELU backward
kernel shared by eager autograd and ember.compile: values vs float64 references and PyTorch,
gradients vs finite differences, odd shapes, non-contiguous inputs, float64, float16/bfloat16,
NaN/inf."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember
from ember.testing import gradcheck, gradgradcheck

F = ember.nn.functional
TF = torch.nn.functional


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


def _ulps(actual: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(actual.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(np.float32))


def test_erf_float32_ulp_error_over_a_dense_sweep():
    # one rational approximation: <= 6 ulp anywhere, ~1 ulp on average, 4e-7 absolute
    tiny = np.logspace(-45, 1, 100_000).astype(np.float32)
    x = np.concatenate([np.linspace(-10, 10, 2_000_001, dtype=np.float32), tiny, -tiny])
    ref = np.vectorize(math.erf)(x.astype(np.float64))
    got = _np(ember.erf(ember.from_numpy(x)))
    ulps = _ulps(got, ref)
    assert ulps.max() <= 6.0
    assert ulps.mean() <= 1.0
    assert np.abs(got - ref).max() <= 4e-7
    assert np.abs(got).max() <= 1.0


def test_erf_float32_special_values_match_torch():
    x = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 1e-45, -1e-45, 1e-30, 3.92, -3.92,
         3.9200001, 4.0, -4.0, 10.0, 1e30, -1e30, np.finfo(np.float32).max],
        np.float32,
    )  # fmt: skip
    got = _np(ember.erf(ember.from_numpy(x)))
    want = torch.erf(torch.from_numpy(x)).numpy()
    assert np.isnan(got[4]) and np.isnan(want[4])
    ok = ~np.isnan(x)
    assert np.signbit(got[ok]).tolist() == np.signbit(want[ok]).tolist()  # erf(-0) = -0
    # within an ulp (erf(3.92) = 0.99999997... is 1 here and 1 - 2^-24 in torch)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1.2e-7, atol=0)
    sat = np.abs(x) >= 3.9200001
    np.testing.assert_array_equal(np.abs(got[sat]), 1.0)


def test_gelu_float32_absolute_error_over_a_dense_sweep():
    # the erf's 4e-7 times x / 2 (|x| < 5.6, where erf is not yet +-1): under 1e-6 absolute
    x = np.linspace(-12, 12, 1_000_001, dtype=np.float32)
    xd = x.astype(np.float64)
    cdf = 0.5 + 0.5 * np.vectorize(math.erf)(xd / math.sqrt(2))
    ex = ember.from_numpy(x).requires_grad_(True)
    y = F.gelu(ex)
    y.sum().backward()
    assert np.abs(_np(y) - xd * cdf).max() <= 1e-6
    pdf = np.exp(-0.5 * xd * xd) / math.sqrt(2 * math.pi)
    assert np.abs(_np(ex.grad) - (cdf + xd * pdf)).max() <= 4e-7


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (31, 67), (3, 5, 129)])
def test_gelu_forward_backward_match_torch_float32(approximate, shape):
    rng = np.random.default_rng(sum(shape) + len(approximate))
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    xe = ember.from_numpy(x).requires_grad_(True)
    ye = F.gelu(xe, approximate=approximate)
    ye.backward(ember.from_numpy(g))
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch.nn.functional.gelu(xt, approximate=approximate)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(_np(ye), yt.detach().numpy(), rtol=2e-6, atol=1e-6)
    # near tanh(.) = -1 float rounding leaves ~1e-6 absolute in either library
    np.testing.assert_allclose(_np(xe.grad), xt.grad.numpy(), rtol=1e-5, atol=5e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_kernel_vs_finite_differences_f64(approximate):
    x = ember.randn(5, 7, dtype=ember.float64) * 2
    x.requires_grad_(True)
    gradcheck(lambda t: F.gelu(t, approximate=approximate), (x,))
    # non-contiguous input and a broadcast (expanded) incoming gradient
    gradcheck(lambda t: F.gelu(t.t(), approximate=approximate).sum(), (x,))


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_kernel_equals_the_differentiable_formula(dtype, approximate):
    # create_graph keeps the chain of ops (differentiable); the kernel must agree with it
    x = (ember.randn(37, 11, dtype=dtype) * 3)[:, ::2].requires_grad_(True)
    g = ember.randn(37, 12, dtype=dtype)[:, 1::2]
    (k,) = ember.autograd.grad(F.gelu(x, approximate=approximate), x, g)
    (c,) = ember.autograd.grad(F.gelu(x, approximate=approximate), x, g, create_graph=True)
    tol = 1e-6 if dtype == ember.float32 else 1e-13
    np.testing.assert_allclose(_np(k), _np(c), rtol=tol, atol=tol)


def test_gelu_double_backward_still_differentiable():
    x = ember.randn(6, dtype=ember.float64, requires_grad=True)
    gradcheck(lambda t: ember.autograd.grad(F.gelu(t).sum(), t, create_graph=True)[0], (x,))


def test_gelu_backward_nan_inf():
    x = ember.tensor([float("nan"), float("inf"), -float("inf"), 0.0], requires_grad=True)
    F.gelu(x).sum().backward()
    xt = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0], requires_grad=True)
    torch.nn.functional.gelu(xt).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), xt.grad.numpy())


def test_erf_float32_accuracy():
    # every region of the approximation: tiny, the polynomial, the erfc form, saturated
    x = np.concatenate(
        [
            np.linspace(-6, 6, 200001),
            [0.0, -0.0, 1e-30, -1e-20, 0.99999, 1.0, 1.00001, 3.9, 4.0, 30.0],
        ]
    ).astype(np.float32)
    ref = np.vectorize(math.erf)(x.astype(np.float64))
    out = ember.erf(ember.tensor(x)).numpy().astype(np.float64)
    np.testing.assert_allclose(out, ref, rtol=3e-7, atol=1e-30)
    special = ember.erf(ember.tensor([np.inf, -np.inf, np.nan], dtype=ember.float32)).numpy()
    np.testing.assert_array_equal(special[:2], [1.0, -1.0])
    assert np.isnan(special[2])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 131), (64, 515)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_forward_backward_matches_torch(approximate, shape, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    ex = ember.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ey, ty = F.gelu(ex, approximate=approximate), TF.gelu(tx, approximate=approximate)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    # the tanh form's 1 + tanh(u) near u = -inf keeps an ulp of 1 (times x): atol
    atol = 1e-5 if dtype == np.float32 and approximate == "tanh" else tol
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=atol)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=atol)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_special_values_and_layouts(approximate):
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 1e30, -1e30, 10.0, -10.0, 1e-3], np.float32)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.gelu(ex, approximate=approximate).sum().backward()  # an expanded (stride 0) grad
    TF.gelu(tx, approximate=approximate).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=2e-6, atol=1e-7)
    # non-contiguous input and grad
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 10)).astype(np.float32)
    ga = rng.standard_normal((10, 6)).astype(np.float32)
    ea = ember.tensor(a, requires_grad=True)
    ta = torch.tensor(a, requires_grad=True)
    F.gelu(ea.t(), approximate=approximate).backward(ember.tensor(ga.T.copy()).t())
    TF.gelu(ta.t(), approximate=approximate).backward(torch.tensor(ga))
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_gelu_backward_16bit(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(300).astype(np.float32)
    ex = ember.tensor(x).to(getattr(ember, dtype)).requires_grad_(True)
    tx = torch.tensor(x).to(getattr(torch, dtype)).requires_grad_(True)
    F.gelu(ex).backward(ember.ones(300, dtype=getattr(ember, dtype)))
    TF.gelu(tx).backward(torch.ones(300, dtype=getattr(torch, dtype)))
    assert ex.grad.dtype == getattr(ember, dtype)
    np.testing.assert_allclose(
        ex.grad.to(ember.float32).numpy(), tx.grad.float().numpy(), rtol=2e-2, atol=2e-2
    )


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(approximate):
    x = ember.tensor(np.random.default_rng(3).standard_normal((4, 5)) * 2, requires_grad=True)
    assert gradcheck(lambda t: F.gelu(t, approximate=approximate), (x,))
    assert gradgradcheck(lambda t: F.gelu(t, approximate=approximate), (x,))
