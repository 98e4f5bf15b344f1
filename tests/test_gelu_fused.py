"""GELU's vectorized erf and its fused backward kernel against PyTorch and float64 references."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from conftest import requires_torch, torch
from ember.testing import gradcheck, gradgradcheck

pytestmark = requires_torch
TF = torch.nn.functional if torch is not None else None


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
