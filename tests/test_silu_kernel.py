"""The one-pass SiLU backward kernel (eager autograd without create_graph): values vs PyTorch,
float64 finite differences, the differentiable chain it replaces, odd shapes, non-contiguous and
broadcast gradients, NaN/inf."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.testing import gradcheck, gradgradcheck

F = ember.nn.functional


@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (31, 67), (3, 5, 4099)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silu_forward_backward_match_torch(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ey, ty = F.silu(ex), torch.nn.functional.silu(tx)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


def test_silu_backward_special_values_match_torch():
    x = np.array(
        [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-40, 20.0, -20.0, 88.8, -88.8, -100.0, 1e30, -1e30],
        np.float32,
    )
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.silu(ex).sum().backward()  # an expanded (stride 0) incoming gradient
    torch.nn.functional.silu(tx).sum().backward()
    got, want = ex.grad.numpy(), tx.grad.numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-30)


def test_silu_backward_kernel_vs_finite_differences_f64():
    x = (ember.randn(5, 7, dtype=ember.float64) * 3).requires_grad_(True)
    gradcheck(F.silu, (x,))
    gradcheck(lambda t: F.silu(t.t()).sum(), (x,))  # non-contiguous input, broadcast gradient


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_silu_backward_kernel_equals_the_differentiable_formula(dtype):
    # create_graph keeps the chain of ops; the one-pass kernel must agree with it
    x = (ember.randn(37, 11, dtype=dtype) * 4)[:, ::2].requires_grad_(True)
    g = ember.randn(37, 12, dtype=dtype)[:, 1::2]
    (k,) = ember.autograd.grad(F.silu(x), x, g)
    (c,) = ember.autograd.grad(F.silu(x), x, g, create_graph=True)
    tol = 1e-6 if dtype == ember.float32 else 1e-13
    np.testing.assert_allclose(k.numpy(), c.detach().numpy(), rtol=tol, atol=tol)


def test_silu_double_backward_still_differentiable():
    x = ember.randn(6, dtype=ember.float64, requires_grad=True)
    gradgradcheck(F.silu, (x,))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_silu_backward_16bit_uses_the_chain(dtype):
    x = np.random.default_rng(3).standard_normal(50).astype(np.float32)
    ex = ember.tensor(x).to(getattr(ember, dtype)).requires_grad_(True)
    tx = torch.tensor(x).to(getattr(torch, dtype)).requires_grad_(True)
    F.silu(ex).sum().backward()
    torch.nn.functional.silu(tx).sum().backward()
    np.testing.assert_allclose(
        ex.grad.to(ember.float32).numpy(), tx.grad.float().numpy(), rtol=2e-2, atol=2e-2
    )
