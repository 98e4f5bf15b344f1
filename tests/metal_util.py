"""Helpers of the Metal kernel-family tests (tests/test_metal_*.py): run an op on the emulated
Metal device under several fiber schedules and threadgroup-memory poisons, require bit-identical
outputs across them, and compare with the CPU backend at per-dtype tolerances."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from conftest import to_np


def _metal_available() -> bool:
    try:
        ember.zeros(1, device="metal")
    except Exception:
        return False
    return True


requires_metal = pytest.mark.skipif(not _metal_available(), reason="ember built without the Metal backend")

# (schedule: 0 forward / 1 reverse / 2 seeded random, seed, poison byte: 0xFF NaN / 0x7F ~3e38)
VARIANTS = [(0, 1, 0xFF), (1, 1, 0x7F), (2, 7, 0xFF), (2, 11, 0x7F)]

FLOAT_DTYPES = ["float32", "float16", "bfloat16"]
# |metal - cpu| <= atol + rtol * |cpu|
TOL = {"float32": (1e-5, 1e-5), "float16": (2e-3, 2e-3), "bfloat16": (2e-2, 2e-2)}


def across_schedules(fn):
    """fn() -> tensor or tuple of tensors on metal. Runs it under every variant, checks the
    outputs are bit-identical, returns the first run's outputs as NumPy arrays (a list)."""
    runs = []
    try:
        for schedule, seed, poison in VARIANTS:
            ember.metal._set_emulator_options(schedule, seed, poison)
            out = fn()
            out = out if isinstance(out, (tuple, list)) else (out,)
            runs.append([to_np(t.cpu()) if hasattr(t, "cpu") else np.asarray(t) for t in out])
    finally:
        ember.metal._set_emulator_options(0, 1, 0xFF)
    for v, run in zip(VARIANTS[1:], runs[1:]):
        for a, b in zip(runs[0], run):
            assert a.shape == b.shape
            assert a.tobytes() == b.tobytes(), f"output depends on the schedule/poison {v} (a race)"
    return runs[0]


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
