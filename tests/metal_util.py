"""Helpers of the Metal kernel-family tests (tests/test_metal_*.py): run an op on the emulated
Metal device under several fiber schedules and threadgroup-memory poisons, require bit-identical
outputs across them, and compare with the CPU backend at per-dtype tolerances."""

from __future__ import annotations

import numpy as np

import ember
from conftest import metal_variants, requires_metal, to_np  # noqa: F401  (re-exported)

FLOAT_DTYPES = ["float32", "float16", "bfloat16"]
# |metal - cpu| <= atol + rtol * |cpu|
TOL = {"float32": (1e-5, 1e-5), "float16": (2e-3, 2e-3), "bfloat16": (2e-2, 2e-2)}


def across_schedules(fn):
    """fn() -> tensor or tuple/list of tensors on metal. Runs it under every emulator variant
    (conftest.metal_variants: bit-identical outputs required) and returns NumPy arrays (a list)."""
    out = metal_variants(lambda: tuple(r) if isinstance(r := fn(), (tuple, list)) else (r,))
    return [to_np(t) for t in out]


def assert_close_dtype(actual, expected, dtype: str, scale: float = 1.0):
    atol, rtol = TOL[dtype]
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol * scale, equal_nan=True)


def fallbacks() -> dict:
    return ember.metal.fallback_counts()


def reset_fallbacks():
    ember.metal.reset_fallback_counts()


def rand(shape, dtype="float32", seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = ember.tensor((rng.standard_normal(shape) * scale).astype(np.float32))
    return x.to(getattr(ember, dtype))
